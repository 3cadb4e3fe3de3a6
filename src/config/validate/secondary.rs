//! The keys of a `[[zone]]` (or `[[template]]`) that belong to secondary
//! zones: primaries, their TSIG key, who may send NOTIFY, the SOA timer
//! clamps and the bounds on a transfer in; and their misuse on file zones.

use super::super::raw::RawZone;
use super::super::values::{Prefix, parse_socket_addr};
use super::super::{TimerLimits, ZoneSource};
use super::{Check, TIMER_KEYS, TRANSFER_KEYS};

impl Check<'_> {
    /// Secondary-only keys on a file zone are mistakes.
    pub(super) fn file_zone_extras(&mut self, p: &str, z: &RawZone) {
        let mut set: Vec<&str> = Vec::new();
        if z.tsig_key.is_some() {
            set.push("tsig-key");
        }
        if z.allow_notify.is_some() {
            set.push("allow-notify");
        }
        for (n, field) in z.timer_fields().iter().enumerate() {
            if field.is_some() {
                set.push(TIMER_KEYS[n]);
            }
        }
        let (records, bytes, timeout) = z.transfer_fields();
        for (key, is_set) in TRANSFER_KEYS
            .iter()
            .zip([records.is_some(), bytes.is_some(), timeout.is_some()])
        {
            if is_set {
                set.push(key);
            }
        }
        for key in set {
            self.err(
                format!("{p}.{key}"),
                "applies only to secondary zones (with `primaries`), not to `file` zones",
            );
        }
    }

    pub(super) fn secondary_zone(
        &mut self,
        p: &str,
        z: &RawZone,
        primaries: &[String],
        key_names: &[String],
        secondary: &TimerLimits,
    ) -> ZoneSource {
        let key = format!("{p}.primaries");
        if primaries.is_empty() {
            self.err(&key, "must list at least one primary");
        }
        let primaries = self.socket_addrs(&key, Some(primaries), Some(53));
        for (n, s) in z.primaries.iter().flatten().enumerate() {
            if parse_socket_addr(s, Some(53)).is_ok_and(|sa| sa.port() == 0) {
                self.err(format!("{key}[{n}]"), "port 0 is not a valid primary port");
            }
        }
        let tsig_key = z
            .tsig_key
            .as_ref()
            .and_then(|k| self.key_ref(&format!("{p}.tsig-key"), k, key_names));
        let mut allow_notify = Vec::new();
        for (n, s) in z.allow_notify.iter().flatten().enumerate() {
            match Prefix::parse_addr_or_prefix(s) {
                Ok(pfx) => allow_notify.push(pfx),
                Err(e) => self.err(format!("{p}.allow-notify[{n}]"), e),
            }
        }
        let timers = self.timers(p, z.timer_fields(), z.transfer_fields(), secondary, true);
        ZoneSource::Secondary {
            primaries,
            tsig_key,
            allow_notify,
            timers,
        }
    }
}

//! Transfers-out validation: the per-zone keys of "Transfers out" in
//! CONFIG.md (`allow-transfer`, `transfer-tsig-key`, `notify`,
//! `notify-source`, `ixfr-history-*`) and the node-wide `[transfer]`.

use std::net::IpAddr;

use super::super::raw::{RawConfig, RawZone};
use super::super::values::{Prefix, normalize_dns_name};
use super::super::{DEFAULT_HISTORY_BYTES, DEFAULT_HISTORY_DEPTH, TransferConfig, TransferOut};
use super::Check;

impl Check<'_> {
    /// `[transfer]`.
    pub(super) fn transfer_config(&mut self, raw: &RawConfig) -> TransferConfig {
        let t = &raw.transfer;
        let d = TransferConfig::default();
        let max_out: usize = self.int("transfer.max-out", t.max_out, d.max_out, 1..=65_535);
        let max_out_per_client: usize = self.int(
            "transfer.max-out-per-client",
            t.max_out_per_client,
            d.max_out_per_client.min(max_out),
            1..=65_535,
        );
        if max_out_per_client > max_out {
            self.err(
                "transfer.max-out-per-client",
                format!("{max_out_per_client} is greater than transfer.max-out ({max_out})"),
            );
        }
        TransferConfig {
            max_out,
            max_out_per_client: max_out_per_client.min(max_out),
            notify_rate: self.int("transfer.notify-rate", t.notify_rate, d.notify_rate, 1..=1_000_000),
        }
    }

    /// The transfers-out keys of the zone at `p` (`zone[3]`); the notify
    /// targets and primaries must be reachable from `notify-source`.
    pub(super) fn transfer_out(&mut self, p: &str, z: &RawZone, key_names: &[String]) -> TransferOut {
        let mut allow_transfer = Vec::new();
        for (n, s) in z.allow_transfer.iter().flatten().enumerate() {
            match Prefix::parse_addr_or_prefix(s) {
                Ok(pfx) => allow_transfer.push(pfx),
                Err(e) => self.err(format!("{p}.allow-transfer[{n}]"), e),
            }
        }
        let tsig_key = z
            .transfer_tsig_key
            .as_ref()
            .and_then(|k| self.key_ref(&format!("{p}.transfer-tsig-key"), k, key_names));
        let notify_key = format!("{p}.notify");
        let notify = self.socket_addrs(&notify_key, z.notify.as_deref(), Some(53));
        for (n, s) in z.notify.iter().flatten().enumerate() {
            if super::parse_socket_addr(s, Some(53)).is_ok_and(|sa| sa.port() == 0) {
                self.err(format!("{notify_key}[{n}]"), "port 0 is not a valid NOTIFY port");
            }
        }
        let notify_source = z.notify_source.as_deref().and_then(|s| {
            let key = format!("{p}.notify-source");
            match s.trim().parse::<IpAddr>() {
                Ok(ip) if ip.is_unspecified() || ip.is_multicast() => {
                    self.err(key, format!("{ip} cannot be a source address"));
                    None
                }
                Ok(ip) => Some(ip),
                Err(_) => {
                    self.err(key, format!("{s:?} is not an IP address (no port, no prefix)"));
                    None
                }
            }
        });
        if let Some(src) = notify_source {
            self.same_family(p, "notify", z.notify.as_deref(), src);
            self.same_family(p, "primaries", z.primaries.as_deref(), src);
        }
        TransferOut {
            allow_transfer,
            tsig_key,
            notify,
            notify_source,
            history_depth: self.int(
                &format!("{p}.ixfr-history-depth"),
                z.ixfr_history_depth,
                DEFAULT_HISTORY_DEPTH,
                0..=i64::from(u32::MAX),
            ),
            history_bytes: self.size(
                &format!("{p}.ixfr-history-bytes"),
                &z.ixfr_history_bytes,
                DEFAULT_HISTORY_BYTES,
            ),
        }
    }

    /// Every address of `zone[i].LIST` must be reachable from `src`: the
    /// same address family.
    fn same_family(&mut self, p: &str, list_key: &str, list: Option<&[String]>, src: IpAddr) {
        let family = |ip: &IpAddr| if ip.is_ipv4() { "IPv4" } else { "IPv6" };
        for (n, s) in list.unwrap_or_default().iter().enumerate() {
            let Ok(sa) = super::parse_socket_addr(s, Some(53)) else {
                continue;
            };
            if sa.is_ipv4() != src.is_ipv4() {
                self.err(
                    format!("{p}.{list_key}[{n}]"),
                    format!(
                        "{} address {sa} cannot be reached from notify-source {src} ({})",
                        family(&sa.ip()),
                        family(&src)
                    ),
                );
            }
        }
    }

    /// A reference to a `[[tsig-key]]` by name at `key`: normalized, and
    /// reported when no such key exists.
    pub(super) fn key_ref(&mut self, key: &str, name: &str, key_names: &[String]) -> Option<String> {
        match normalize_dns_name(name) {
            Err(e) => {
                self.err(key, e);
                None
            }
            Ok(n) => {
                if !key_names.contains(&n) && !self.failed.any_under("tsig-key[") {
                    self.err(key, format!("no [[tsig-key]] named {name:?}"));
                }
                Some(n)
            }
        }
    }
}

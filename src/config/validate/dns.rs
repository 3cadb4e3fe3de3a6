//! `[dns]` and `[dns.rrl]`: listeners, answer settings, TCP limits,
//! response rate limiting and the cookie secrets.

use std::time::Duration;

use super::Check;
use crate::config::raw::{RawConfig, RawDns, RawRrl};
use crate::config::{DnsConfig, Prefix, RrlConfig, format_duration};

impl Check<'_> {
    pub(super) fn dns(&mut self, raw: &RawConfig) -> DnsConfig {
        let d = &raw.dns;
        let listen = match d.listen.as_deref() {
            None => {
                self.err(
                    "dns.listen",
                    "required: at least one address, e.g. [\"127.0.0.1:5353\"]",
                );
                Vec::new()
            }
            Some([]) => {
                self.err("dns.listen", "must list at least one address");
                Vec::new()
            }
            Some(list) => self.socket_addrs("dns.listen", Some(list), Some(53)),
        };
        if let Some(v) = &d.version {
            self.text("dns.version", v);
        }
        let tcp_idle_timeout =
            self.positive_duration("dns.tcp-idle-timeout", &d.tcp_idle_timeout, Duration::from_secs(10));
        let tcp_max_lifetime = self.duration("dns.tcp-max-lifetime", &d.tcp_max_lifetime, tcp_idle_timeout * 6);
        if tcp_max_lifetime < tcp_idle_timeout {
            self.err(
                "dns.tcp-max-lifetime",
                format!(
                    "{} is shorter than dns.tcp-idle-timeout ({})",
                    format_duration(tcp_max_lifetime),
                    format_duration(tcp_idle_timeout)
                ),
            );
        }
        DnsConfig {
            listen,
            version: d.version.clone(),
            nsid: d.nsid.unwrap_or(false),
            udp_payload: self.int("dns.udp-payload", d.udp_payload, 1232, 512..=4096),
            tcp_max_connections: self.int("dns.tcp-max-connections", d.tcp_max_connections, 1024, 1..=1_000_000),
            tcp_idle_timeout,
            tcp_max_lifetime,
            udp_workers: self.int("dns.udp-workers", d.udp_workers, 0, 0..=1024),
            socket_affinity: d.socket_affinity.unwrap_or(false),
            rrl: self.rrl(d.rrl.as_ref()),
            cookie_secrets: self.cookie_secrets(d),
        }
    }

    fn rrl(&mut self, raw: Option<&RawRrl>) -> RrlConfig {
        let d = RrlConfig::default();
        let Some(r) = raw else {
            return d;
        };
        let max = i64::from(RrlConfig::MAX_RATE);
        RrlConfig {
            responses_per_second: self.int(
                "dns.rrl.responses-per-second",
                r.responses_per_second,
                d.responses_per_second,
                0..=max,
            ),
            window: {
                let w = self.positive_duration("dns.rrl.window", &r.window, d.window);
                if w < Duration::from_secs(1) || w > Duration::from_secs(3600) {
                    self.err("dns.rrl.window", "must be between 1s and 1h");
                    d.window
                } else {
                    w
                }
            },
            slip: self.int("dns.rrl.slip", r.slip, d.slip, 0..=100),
            ipv4_prefix: self.int("dns.rrl.ipv4-prefix", r.ipv4_prefix, d.ipv4_prefix, 8..=32),
            ipv6_prefix: self.int("dns.rrl.ipv6-prefix", r.ipv6_prefix, d.ipv6_prefix, 16..=128),
            exempt: self.each("dns.rrl.exempt", &r.exempt, Prefix::parse_addr_or_prefix),
            table_size: self.int("dns.rrl.table-size", r.table_size, d.table_size, 1024..=(1 << 26)),
        }
    }

    fn cookie_secrets(&mut self, d: &RawDns) -> Option<crate::cookie::Secrets> {
        let mut parse = |key: &str, raw: &Option<String>| match raw.as_deref().map(crate::cookie::parse_secret) {
            None => None,
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                self.err(key, e);
                None
            }
        };
        let current = parse("dns.cookie-secret", &d.cookie_secret);
        let previous = parse("dns.cookie-secret-previous", &d.cookie_secret_previous);
        match (current, previous) {
            (Some(current), previous) => Some(crate::cookie::Secrets { current, previous }),
            (None, Some(_)) if d.cookie_secret.is_none() => {
                self.err(
                    "dns.cookie-secret-previous",
                    "needs dns.cookie-secret (the new secret of the rollover)",
                );
                None
            }
            _ => None,
        }
    }
}

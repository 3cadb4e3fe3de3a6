//! `[fleet]` validation ("Fleet view" in CONFIG.md): the nodes the hub
//! asks, the poll interval and the query rate.

use super::super::FleetConfig;
use super::super::raw::RawConfig;
use super::Check;

impl Check<'_> {
    /// `[fleet]`.
    pub(super) fn fleet_config(&mut self, raw: &RawConfig) -> FleetConfig {
        let f = &raw.fleet;
        let d = FleetConfig::default();
        let nodes = self.socket_addrs("fleet.nodes", f.nodes.as_deref(), Some(53));
        for (n, s) in f.nodes.iter().flatten().enumerate() {
            if super::parse_socket_addr(s, Some(53)).is_ok_and(|sa| sa.port() == 0 || sa.ip().is_unspecified()) {
                self.err(
                    format!("fleet.nodes[{n}]"),
                    format!("{s:?} cannot be asked (port 0 or unspecified address)"),
                );
            }
        }
        FleetConfig {
            nodes,
            poll: self.positive_duration("fleet.poll", &f.poll, d.poll),
            rate: self.int("fleet.rate", f.rate, d.rate, 1..=1_000_000),
        }
    }
}

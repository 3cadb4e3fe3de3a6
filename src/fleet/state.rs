//! The fleet view's data, without I/O: per zone, the hub's serial and, per
//! node, what that node last answered to a SOA query. The poller writes
//! it; the API, the status page and the metrics read views of it.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::zone::name;

/// Unix seconds of `t`.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// RFC 1982: `a` is `b` or newer.
pub fn serial_ge(a: u32, b: u32) -> bool {
    a.wrapping_sub(b) < 0x8000_0000
}

/// What one node last told about one zone.
#[derive(Clone, Debug, Default)]
pub struct NodeZone {
    pub addr: Option<SocketAddr>,
    /// The serial it served at its last answer.
    pub serial: Option<u32>,
    /// Since when it has been behind the hub (or not serving the zone).
    pub behind_since: Option<SystemTime>,
    /// Its last answer (any answer, an error RCODE too).
    pub last_answer: Option<SystemTime>,
    /// The last query got no answer.
    pub unreachable: bool,
    /// The last answer was not a usable SOA (REFUSED, SERVFAIL, ...).
    pub error: Option<String>,
}

/// One zone with nodes to ask.
#[derive(Clone, Debug, Default)]
pub struct ZoneState {
    /// The serial the hub serves; `None` while it serves no version.
    pub serial: Option<u32>,
    pub source: Option<IpAddr>,
    pub nodes: Vec<NodeZone>,
}

/// What a query to a node came back with.
#[derive(Clone, Debug)]
pub enum Answer {
    Serial(u32),
    /// Answered, but without a usable SOA.
    Error(String),
    /// No answer (timeout, unreachable, socket error).
    Silent(String),
}

/// A node's state for one zone, as shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    InSync,
    Behind,
    Unreachable,
    /// Answered without the zone's SOA (SERVFAIL: expired or failed there;
    /// REFUSED: not served there).
    Failed,
    /// Not asked yet.
    Unknown,
}

impl Sync {
    pub fn as_str(self) -> &'static str {
        match self {
            Sync::InSync => "in-sync",
            Sync::Behind => "behind",
            Sync::Unreachable => "unreachable",
            Sync::Failed => "failed",
            Sync::Unknown => "unknown",
        }
    }
}

impl ZoneState {
    /// The state of `n` against the hub's serial.
    pub fn sync(&self, n: &NodeZone) -> Sync {
        if n.unreachable {
            return Sync::Unreachable;
        }
        if n.last_answer.is_none() {
            return Sync::Unknown;
        }
        if n.error.is_some() {
            return Sync::Failed;
        }
        match (self.serial, n.serial) {
            (Some(hub), Some(s)) if serial_ge(s, hub) => Sync::InSync,
            (None, _) => Sync::InSync,
            _ => Sync::Behind,
        }
    }

    /// Records `answer` from the node at index `i`.
    pub fn record(&mut self, i: usize, answer: Answer, now: SystemTime) {
        let Some(n) = self.nodes.get_mut(i) else {
            return;
        };
        match answer {
            Answer::Serial(s) => {
                n.serial = Some(s);
                n.error = None;
                n.unreachable = false;
                n.last_answer = Some(now);
            }
            Answer::Error(e) => {
                n.serial = None;
                n.error = Some(e);
                n.unreachable = false;
                n.last_answer = Some(now);
            }
            Answer::Silent(e) => {
                n.error = Some(e);
                n.unreachable = true;
            }
        }
        self.update_behind(now);
    }

    /// Starts or ends each node's "behind since" (after a new answer or a
    /// new serial on the hub).
    pub fn update_behind(&mut self, now: SystemTime) {
        let hub = self.serial;
        for n in &mut self.nodes {
            let behind = match (hub, n.serial) {
                (None, _) => false,
                (Some(h), Some(s)) => !serial_ge(s, h),
                (Some(_), None) => n.last_answer.is_some() || n.unreachable,
            };
            if !behind {
                n.behind_since = None;
            } else if n.behind_since.is_none() {
                n.behind_since = Some(now);
            }
        }
    }

    /// Every node in sync with the hub.
    pub fn settled(&self) -> bool {
        self.nodes.iter().all(|n| self.sync(n) == Sync::InSync)
    }

    /// The nodes that did not answer `serial` or newer at or after `since`
    /// (an unreachable node, or one not asked since, counts as not serving
    /// it).
    pub fn laggards(&self, serial: u32, since: SystemTime) -> Vec<Laggard> {
        self.nodes
            .iter()
            .filter(|n| {
                n.unreachable
                    || n.last_answer.is_none_or(|t| t < since)
                    || !n.serial.is_some_and(|s| serial_ge(s, serial))
            })
            .map(|n| Laggard {
                node: n.addr.map(|a| a.to_string()).unwrap_or_default(),
                serial: n.serial,
                state: self.sync(n).as_str(),
            })
            .collect()
    }

    /// The view of `GET /zones/{name}/fleet`.
    pub fn view(&self, apex: &[u8], now: SystemTime) -> ZoneFleetView {
        ZoneFleetView {
            zone: name::to_text(apex),
            serial: self.serial,
            nodes: self
                .nodes
                .iter()
                .map(|n| NodeZoneView {
                    node: n.addr.map(|a| a.to_string()).unwrap_or_default(),
                    state: self.sync(n).as_str(),
                    serial: n.serial,
                    behind_by: match (self.serial, n.serial) {
                        (Some(h), Some(s)) if !serial_ge(s, h) => Some(h.wrapping_sub(s)),
                        _ => None,
                    },
                    behind_for: n
                        .behind_since
                        .map(|t| now.duration_since(t).unwrap_or(Duration::ZERO).as_secs_f64()),
                    last_answer: n.last_answer.map(unix),
                    error: n.error.clone(),
                })
                .collect(),
            wanted: None,
            laggards: None,
        }
    }
}

/// `GET /zones/{name}/fleet`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ZoneFleetView {
    pub zone: String,
    /// The serial the hub serves.
    pub serial: Option<u32>,
    pub nodes: Vec<NodeZoneView>,
    /// `?serial=N`: the serial waited for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wanted: Option<u32>,
    /// `?serial=N`: the nodes that do not serve N or newer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub laggards: Option<Vec<Laggard>>,
}

/// One node of a zone.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NodeZoneView {
    pub node: String,
    /// "in-sync", "behind", "unreachable", "failed" (an error answer) or
    /// "unknown" (not asked yet).
    pub state: &'static str,
    /// The serial it served at its last answer.
    pub serial: Option<u32>,
    /// Serial distance (RFC 1982) to the hub's serial, when behind.
    pub behind_by: Option<u32>,
    /// Seconds since it was first seen behind.
    pub behind_for: Option<f64>,
    /// Unix seconds of its last answer.
    pub last_answer: Option<u64>,
    pub error: Option<String>,
}

/// A node that does not serve the serial waited for.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Laggard {
    pub node: String,
    pub serial: Option<u32>,
    pub state: &'static str,
}

/// One node over all its zones (`GET /fleet`, the status page, metrics).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NodeSummary {
    pub node: String,
    pub zones: usize,
    pub in_sync: usize,
    pub behind: usize,
    pub unreachable: usize,
    /// Answered with an error (SERVFAIL, REFUSED) instead of the SOA.
    pub failed: usize,
    /// Unix seconds of its last answer, any zone.
    pub last_answer: Option<u64>,
    /// Seconds the zone longest behind on it has been behind; 0 when none is.
    pub max_behind_for: f64,
}

/// Sums `zones` per node, in address order.
pub fn summarize<'a>(zones: impl Iterator<Item = &'a ZoneState>, now: SystemTime) -> Vec<NodeSummary> {
    let mut by_node: BTreeMap<SocketAddr, NodeSummary> = BTreeMap::new();
    for z in zones {
        for n in &z.nodes {
            let Some(addr) = n.addr else { continue };
            let s = by_node.entry(addr).or_insert_with(|| NodeSummary {
                node: addr.to_string(),
                ..NodeSummary::default()
            });
            s.zones += 1;
            match z.sync(n) {
                Sync::InSync => s.in_sync += 1,
                Sync::Behind => s.behind += 1,
                Sync::Unreachable => s.unreachable += 1,
                Sync::Failed => s.failed += 1,
                Sync::Unknown => {}
            }
            if let Some(t) = n.last_answer.map(unix) {
                s.last_answer = Some(s.last_answer.map_or(t, |l| l.max(t)));
            }
            if let Some(since) = n.behind_since {
                let d = now.duration_since(since).unwrap_or(Duration::ZERO).as_secs_f64();
                s.max_behind_for = s.max_behind_for.max(d);
            }
        }
    }
    by_node.into_values().collect()
}

/// Every zone with nodes, by lowercase wire apex.
pub type Zones = HashMap<Box<[u8]>, ZoneState>;

/// A zone that answers with an error (SERVFAIL, REFUSED) on some of its
/// nodes (`GET /fleet`, the status page). Failed on every node, it failed
/// upstream (the customer's primaries, the hub's own copy): one customer's
/// outage. Failed on one node while the others serve it, that node is the
/// problem (a node cut off from the hub fails every zone it has).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct FailedZone {
    pub zone: String,
    /// Nodes that answered it with an error.
    pub failed: usize,
    /// Nodes it has.
    pub nodes: usize,
    /// Every node of it answered with an error.
    pub everywhere: bool,
}

/// How many zones are failed on every one of their nodes, and how many on
/// some but not all.
pub fn count_failed(zones: &Zones) -> (usize, usize) {
    let (mut everywhere, mut some) = (0, 0);
    for z in zones.values() {
        match z.nodes.iter().filter(|n| z.sync(n) == Sync::Failed).count() {
            0 => {}
            n if n == z.nodes.len() => everywhere += 1,
            _ => some += 1,
        }
    }
    (everywhere, some)
}

/// The zones failed on at least one node: those failed everywhere first,
/// then by how many nodes, then by name; at most `limit` of them, and how
/// many there are in all.
pub fn failed_zones(zones: &Zones, limit: usize) -> (Vec<FailedZone>, usize) {
    let mut out: Vec<FailedZone> = zones
        .iter()
        .filter_map(|(apex, z)| {
            let failed = z.nodes.iter().filter(|n| z.sync(n) == Sync::Failed).count();
            (failed > 0).then(|| FailedZone {
                zone: name::to_text(apex),
                failed,
                nodes: z.nodes.len(),
                everywhere: failed == z.nodes.len(),
            })
        })
        .collect();
    let total = out.len();
    out.sort_unstable_by(|a, b| {
        (b.everywhere, b.failed)
            .cmp(&(a.everywhere, a.failed))
            .then_with(|| a.zone.cmp(&b.zone))
    });
    out.truncate(limit);
    (out, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(hub: u32, nodes: usize) -> ZoneState {
        ZoneState {
            serial: Some(hub),
            source: None,
            nodes: (0..nodes)
                .map(|i| NodeZone {
                    addr: Some(SocketAddr::from(([127, 0, 0, 1], 5300 + i as u16))),
                    ..NodeZone::default()
                })
                .collect(),
        }
    }

    #[test]
    fn behind_in_sync_unreachable() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1000);
        let mut z = zone(10, 3);
        z.record(0, Answer::Serial(10), t0);
        z.record(1, Answer::Serial(8), t0);
        z.record(2, Answer::Silent("timeout".into()), t0);
        assert_eq!(z.sync(&z.nodes[0]), Sync::InSync);
        assert_eq!(z.sync(&z.nodes[1]), Sync::Behind);
        assert_eq!(z.sync(&z.nodes[2]), Sync::Unreachable);
        let v = z.view(b"\x01a\x00", t0 + Duration::from_secs(5));
        assert_eq!(v.nodes[1].behind_by, Some(2));
        assert_eq!(v.nodes[1].behind_for, Some(5.0));
        assert!(!z.settled());
        let lag = z.laggards(8, t0);
        assert_eq!(lag.len(), 1, "{lag:?}");
        assert_eq!(lag[0].node, "127.0.0.1:5302");
        z.record(1, Answer::Serial(11), t0);
        z.record(2, Answer::Serial(10), t0);
        assert!(z.settled());
        assert!(z.laggards(10, t0).is_empty());
        assert_eq!(z.laggards(11, t0).len(), 2);
        // answers older than the call do not count
        assert_eq!(z.laggards(10, t0 + Duration::from_secs(1)).len(), 3);
        let s = summarize([&z].into_iter(), t0);
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|n| n.in_sync == 1 && n.zones == 1));
    }

    #[test]
    fn error_answer_is_failed() {
        let mut z = zone(10, 1);
        z.record(0, Answer::Error("SOA query answered with RCODE 2".into()), UNIX_EPOCH);
        assert_eq!(z.sync(&z.nodes[0]), Sync::Failed);
        assert_eq!(summarize([&z].into_iter(), UNIX_EPOCH)[0].failed, 1);
        assert_eq!(z.laggards(1, UNIX_EPOCH).len(), 1);
    }

    #[test]
    fn a_zone_failed_everywhere_comes_before_one_node_failing() {
        let mut zones = Zones::new();
        let servfail = || Answer::Error("SOA query answered with RCODE 2".into());
        // alpha: SERVFAIL on all three nodes (its customer's outage)
        let mut alpha = zone(10, 3);
        (0..3).for_each(|i| alpha.record(i, servfail(), UNIX_EPOCH));
        // beta and gamma: node 2 alone fails them (cut off); node 1 behind
        let mut beta = zone(10, 3);
        beta.record(0, Answer::Serial(10), UNIX_EPOCH);
        beta.record(1, Answer::Serial(9), UNIX_EPOCH);
        beta.record(2, servfail(), UNIX_EPOCH);
        let mut gamma = beta.clone();
        gamma.record(1, Answer::Silent("timeout".into()), UNIX_EPOCH);
        let mut fine = zone(10, 3);
        (0..3).for_each(|i| fine.record(i, Answer::Serial(10), UNIX_EPOCH));
        for (apex, z) in [
            (&b"\x05gamma\x00"[..], gamma),
            (b"\x04beta\x00", beta),
            (b"\x05alpha\x00", alpha),
        ] {
            zones.insert(apex.into(), z);
        }
        zones.insert(b"\x04fine\x00"[..].into(), fine);
        let (list, total) = failed_zones(&zones, 10);
        assert_eq!(total, 3);
        let seen: Vec<(&str, usize, bool)> = list.iter().map(|f| (f.zone.as_str(), f.failed, f.everywhere)).collect();
        assert_eq!(seen, [("alpha.", 3, true), ("beta.", 1, false), ("gamma.", 1, false)]);
        assert_eq!(list[0].nodes, 3);
        let (list, total) = failed_zones(&zones, 1);
        assert_eq!((list.len(), total), (1, 3));
        assert_eq!(count_failed(&zones), (1, 2));
    }

    #[test]
    fn serial_wraps() {
        assert!(serial_ge(1, u32::MAX));
        assert!(!serial_ge(u32::MAX, 1));
        let mut z = zone(2, 1);
        z.record(0, Answer::Serial(u32::MAX), UNIX_EPOCH);
        assert_eq!(z.view(b"\x00", UNIX_EPOCH).nodes[0].behind_by, Some(3));
    }
}

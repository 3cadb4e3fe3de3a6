//! The fleet poller task: decides when each zone's nodes are asked, sends
//! the SOA queries (paced, bounded in flight) and records the answers in
//! the shared state. See the module docs of [`super`] for the rules.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::debug;

use super::state::{Answer, NodeZone};
use super::{FAST, MAX_IN_FLIGHT, QUERY_TIMEOUT, Shared, lock};
use crate::axfr::client::{Timeouts, is_silent, query_soa};
use crate::axfr::notify_out::{Bucket, Targets};
use crate::config::FleetConfig;
use crate::zone::{Store, name};

/// Counters of the poller, read by the metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// SOA queries sent.
    pub queries: AtomicU64,
    /// Of those, the ones answered (an error RCODE too).
    pub answered: AtomicU64,
    /// Of those, the ones that got no answer.
    pub silent: AtomicU64,
}

/// The NOTIFY targets by lowercase wire apex.
pub(super) type Table = Arc<HashMap<Box<[u8]>, Targets>>;

/// When a zone is asked next.
#[derive(Debug)]
struct Sched {
    due: Option<Instant>,
    backoff: Duration,
    /// Answers still to come for the running poll.
    outstanding: usize,
    /// Bumped when the zone's node list changes: older answers are dropped.
    generation: u64,
    /// The next poll goes before routine ones.
    urgent: bool,
    /// Asked for while a poll ran: poll again as soon as it ends.
    again: bool,
}

struct Query {
    /// Shared by the zone's queries (one per node).
    apex: Arc<[u8]>,
    index: usize,
    addr: SocketAddr,
    source: Option<IpAddr>,
    generation: u64,
}

struct Done {
    apex: Arc<[u8]>,
    index: usize,
    generation: u64,
    answer: Answer,
}

pub(super) struct Task {
    store: Store,
    shared: Arc<Shared>,
    settings: FleetConfig,
    table: Table,
    sched: HashMap<Box<[u8]>, Sched>,
    due: BTreeSet<(Instant, Box<[u8]>)>,
    urgent: VecDeque<Query>,
    routine: VecDeque<Query>,
    in_flight: usize,
    bucket: Bucket,
    done_tx: mpsc::Sender<Done>,
    done_rx: mpsc::Receiver<Done>,
    next_generation: u64,
}

impl Task {
    pub(super) fn new(store: Store, shared: Arc<Shared>, settings: &FleetConfig) -> Task {
        let (done_tx, done_rx) = mpsc::channel(MAX_IN_FLIGHT);
        Task {
            store,
            shared,
            settings: settings.clone(),
            table: Table::default(),
            sched: HashMap::new(),
            due: BTreeSet::new(),
            urgent: VecDeque::new(),
            routine: VecDeque::new(),
            in_flight: 0,
            bucket: Bucket::new(settings.rate, Instant::now()),
            done_tx,
            done_rx,
            next_generation: 0,
        }
    }

    pub(super) async fn run(
        mut self,
        mut targets: watch::Receiver<Table>,
        mut settings: watch::Receiver<FleetConfig>,
        mut wake: mpsc::Receiver<Box<[u8]>>,
    ) {
        let mut store_rx = self.store.subscribe();
        loop {
            let now = Instant::now();
            self.start_due(now);
            self.send(now);
            let mut next = self.due.first().map(|(t, _)| *t);
            if self.in_flight < MAX_IN_FLIGHT && !(self.urgent.is_empty() && self.routine.is_empty()) {
                let at = self.bucket.ready_at(now);
                next = Some(next.map_or(at, |n| n.min(at)));
            }
            let sleep = tokio::time::sleep_until(next.unwrap_or(now + Duration::from_secs(3600)));
            tokio::select! {
                r = targets.changed() => {
                    if r.is_err() {
                        return;
                    }
                    self.table = targets.borrow_and_update().clone();
                    self.rebuild();
                }
                r = settings.changed() => {
                    if r.is_err() {
                        return;
                    }
                    let s = settings.borrow_and_update().clone();
                    self.bucket = Bucket::new(s.rate, Instant::now());
                    self.settings = s;
                    self.rebuild();
                }
                r = store_rx.changed() => {
                    if r.is_err() {
                        return;
                    }
                    self.scan();
                }
                w = wake.recv() => match w {
                    None => return,
                    Some(apex) => self.poke(&apex),
                },
                Some(d) = self.done_rx.recv() => self.done(d),
                _ = sleep => {}
            }
        }
    }

    /// The nodes of a zone with `targets`.
    fn nodes_of(&self, targets: &Targets) -> Vec<SocketAddr> {
        if self.settings.nodes.is_empty() {
            targets.addrs.clone()
        } else {
            self.settings.nodes.clone()
        }
    }

    /// Follows a new target table or `[fleet]`: zones gain, keep or lose
    /// their nodes; a changed node list is asked at once.
    fn rebuild(&mut self) {
        let now = Instant::now();
        let table = self.table.clone();
        let mut zones = lock(&self.shared.zones);
        zones.retain(|apex, _| table.get(apex).is_some_and(|t| !t.addrs.is_empty()));
        self.sched.retain(|apex, _| zones.contains_key(apex));
        self.due.retain(|(_, apex)| zones.contains_key(apex));
        for (apex, targets) in table.iter() {
            if targets.addrs.is_empty() {
                continue;
            }
            let addrs = self.nodes_of(targets);
            let z = zones.entry(apex.clone()).or_default();
            z.source = targets.source;
            let same = z.nodes.len() == addrs.len() && z.nodes.iter().zip(&addrs).all(|(n, a)| n.addr == Some(*a));
            if same && self.sched.contains_key(apex) {
                continue;
            }
            let old: HashMap<SocketAddr, NodeZone> = z.nodes.drain(..).filter_map(|n| Some((n.addr?, n))).collect();
            z.nodes = addrs
                .iter()
                .map(|a| {
                    old.get(a).cloned().unwrap_or(NodeZone {
                        addr: Some(*a),
                        ..NodeZone::default()
                    })
                })
                .collect();
            self.next_generation += 1;
            let generation = self.next_generation;
            if let Some(s) = self.sched.get(apex)
                && let Some(d) = s.due
            {
                self.due.remove(&(d, apex.clone()));
            }
            self.sched.insert(
                apex.clone(),
                Sched {
                    due: Some(now),
                    backoff: FAST,
                    outstanding: 0,
                    generation,
                    urgent: true,
                    again: false,
                },
            );
            self.due.insert((now, apex.clone()));
        }
        drop(zones);
        self.scan();
    }

    /// Reads the hub's serial of every zone with nodes; a new one is polled
    /// at once (its NOTIFY round starts now too).
    fn scan(&mut self) {
        let set = self.store.snapshot();
        let now = Instant::now();
        let wall = SystemTime::now();
        let mut changed = Vec::new();
        {
            let mut zones = lock(&self.shared.zones);
            for (apex, z) in zones.iter_mut() {
                let serial = set.get(apex).and_then(|s| s.zone.as_ref()).map(|z| z.info.serial);
                if serial != z.serial {
                    z.serial = serial;
                    z.update_behind(wall);
                    changed.push(apex.clone());
                }
            }
        }
        if changed.is_empty() {
            return;
        }
        for apex in changed {
            if let Some(s) = self.sched.get_mut(&apex) {
                s.backoff = FAST;
            }
            self.schedule(&apex, now, true);
        }
        self.bump();
    }

    /// A waiting API call asks for a poll of `apex` now.
    fn poke(&mut self, apex: &[u8]) {
        let Some(s) = self.sched.get_mut(apex) else { return };
        if s.outstanding == 0 {
            self.schedule(apex, Instant::now(), true);
        } else {
            s.again = true;
        }
    }

    /// Sets the zone's next poll to `at` (earlier than planned only).
    fn schedule(&mut self, apex: &[u8], at: Instant, urgent: bool) {
        let Some(s) = self.sched.get_mut(apex) else { return };
        if let Some(d) = s.due {
            if d <= at {
                s.urgent |= urgent;
                return;
            }
            self.due.remove(&(d, apex.into()));
        }
        s.due = Some(at);
        s.urgent |= urgent;
        self.due.insert((at, apex.into()));
    }

    /// Queues the queries of the zones whose poll is due.
    fn start_due(&mut self, now: Instant) {
        while let Some((at, _)) = self.due.first() {
            if *at > now {
                break;
            }
            let Some((_, apex)) = self.due.pop_first() else { break };
            let Some(s) = self.sched.get_mut(&apex) else { continue };
            s.due = None;
            if s.outstanding > 0 {
                continue; // rescheduled when its answers are in
            }
            let zones = lock(&self.shared.zones);
            let Some(z) = zones.get(&apex) else { continue };
            s.outstanding = z.nodes.len();
            let queue = if std::mem::take(&mut s.urgent) {
                &mut self.urgent
            } else {
                &mut self.routine
            };
            let shared: Arc<[u8]> = Arc::from(&*apex);
            for (index, n) in z.nodes.iter().enumerate() {
                let Some(addr) = n.addr else { continue };
                queue.push_back(Query {
                    apex: shared.clone(),
                    index,
                    addr,
                    source: z.source.filter(|s| s.is_ipv4() == addr.is_ipv4()),
                    generation: s.generation,
                });
            }
        }
    }

    /// Sends queued queries while tokens and room in flight allow.
    fn send(&mut self, now: Instant) {
        while self.in_flight < MAX_IN_FLIGHT {
            let Some(q) = self.urgent.front().or(self.routine.front()) else {
                return;
            };
            if self.sched.get(&*q.apex).is_none_or(|s| s.generation != q.generation) {
                let _ = self.urgent.pop_front().or_else(|| self.routine.pop_front());
                continue;
            }
            if !self.bucket.take(now) {
                return;
            }
            let Some(q) = self.urgent.pop_front().or_else(|| self.routine.pop_front()) else {
                return;
            };
            self.in_flight += 1;
            self.shared.counters.queries.fetch_add(1, Ordering::Relaxed);
            let tx = self.done_tx.clone();
            tokio::spawn(async move {
                let t = Timeouts {
                    message: QUERY_TIMEOUT,
                    transfer: QUERY_TIMEOUT,
                };
                let answer = match query_soa(&q.apex, q.addr, q.source, None, t).await {
                    Ok(soa) => Answer::Serial(soa.serial),
                    // no answer, or no socket to ask with
                    Err(e) if is_silent(&e) => Answer::Silent(e),
                    // an error RCODE, a malformed or non-authoritative answer
                    Err(e) => Answer::Error(e),
                };
                let _ = tx
                    .send(Done {
                        apex: q.apex,
                        index: q.index,
                        generation: q.generation,
                        answer,
                    })
                    .await;
            });
        }
    }

    /// Records an answer; the last of a poll plans the next one.
    fn done(&mut self, d: Done) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let Some(s) = self.sched.get_mut(&*d.apex) else { return };
        if s.generation != d.generation {
            return;
        }
        if let Answer::Silent(e) = &d.answer {
            self.shared.counters.silent.fetch_add(1, Ordering::Relaxed);
            debug!(zone = %name::to_text(&d.apex), index = d.index, "fleet SOA query: {e}");
        } else {
            self.shared.counters.answered.fetch_add(1, Ordering::Relaxed);
        }
        s.outstanding = s.outstanding.saturating_sub(1);
        let last = s.outstanding == 0;
        let settled = {
            let mut zones = lock(&self.shared.zones);
            let Some(z) = zones.get_mut(&*d.apex) else { return };
            z.record(d.index, d.answer, SystemTime::now());
            z.settled()
        };
        if last {
            let now = Instant::now();
            let poll = self.settings.poll;
            let Some(s) = self.sched.get_mut(&*d.apex) else { return };
            let (at, urgent) = if std::mem::take(&mut s.again) {
                (now, true)
            } else if settled {
                s.backoff = FAST;
                (now + poll, false)
            } else {
                let at = now + s.backoff;
                s.backoff = (s.backoff * 2).min(poll);
                (at, true)
            };
            self.schedule(&d.apex, at, urgent);
        }
        self.bump();
    }

    fn bump(&self) {
        self.shared.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

//! NOTIFY out (RFC 1996): tells each zone's `notify` targets that a new
//! version is served, whatever made it (a file loaded at start-up or by a
//! reload, a transfer in, the API).
//!
//! This module owns one task and its handle, [`NotifySender`]:
//!
//! - **Trigger.** The task watches the zone store ([`Store::subscribe`]) and,
//!   on every wake-up, compares the served zones that have targets with the
//!   serials it last announced: O(zones with targets) per wake-up, and
//!   versions that follow each other fast give one round for the newest.
//!   The query path is not involved (the store's writers bump a counter).
//! - **Targets.** The zone manager installs, per apex, the addresses, the
//!   source address and the TSIG key ([`NotifySender::set_targets`]).
//! - **Rounds.** A new serial starts a round: one NOTIFY (opcode 4, AA, the
//!   zone's SOA as question and, as BIND and Knot do, the new SOA in the
//!   answer section) to every target, each tried up to [`TRIES`] times
//!   ([`RETRY_DELAYS`] apart: tries at 0, 2, 6, 14 and 30 s), signed with
//!   the zone's `transfer-tsig-key` when set. A matching answer (same ID,
//!   QR, opcode NOTIFY, from the target; TSIG verified when signed) ends
//!   that target's tries; silence after the last try, or an error RCODE,
//!   is a failure, logged once per target and interval and counted. A
//!   newer serial replaces the zone's running round. A round keeps the
//!   targets it started with.
//! - **Pacing.** Every NOTIFY sent (retries too) takes a token from one
//!   node-wide bucket filled at `[transfer] notify-rate` per second, with a
//!   burst of at most [`MAX_BURST`]. First tries go before retries: a
//!   target that answers is told first, a silent one waits a little more.
//! - **Sockets.** One UDP socket per source address and family (port
//!   chosen by the system), bound on first use; one task per socket reads
//!   the answers, which are matched by (target, ID).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, error, warn};

use crate::config::ZoneConfig;
use crate::logging::summary::Summary;
use crate::tsig::{self, Key, ResponseVerifier};
use crate::zone::{APEX, Store, Zone, ZoneSet, name, rtype};

/// Tries per target and round.
pub const TRIES: u8 = 5;
/// The waits after the 1st, 2nd, 3rd and 4th try.
pub const RETRY_DELAYS: [Duration; 4] = [
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
];
/// How long the answer to the last try is waited for.
pub const LAST_WAIT: Duration = Duration::from_secs(2);
/// The most NOTIFYs sent back to back after an idle time.
pub const MAX_BURST: u32 = 50;
/// Answers read but not handled yet; more are dropped (and counted).
const ANSWER_QUEUE: usize = 4096;
const OPCODE_NOTIFY: u8 = 4;
const HEADER_LEN: usize = 12;

/// Where one zone's NOTIFYs go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Targets {
    /// `notify`.
    pub addrs: Vec<SocketAddr>,
    /// `notify-source`; `None`: the system picks.
    pub source: Option<IpAddr>,
    /// `transfer-tsig-key`: NOTIFYs are signed, answers must be.
    pub key: Option<Arc<Key>>,
}

impl Targets {
    /// Where a zone's NOTIFYs go (`notify`, `notify-source`,
    /// `transfer-tsig-key`, the key looked up by its config name in
    /// `keys`); `None` without targets.
    pub fn of_zone(zone: &ZoneConfig, keys: &HashMap<String, Arc<Key>>) -> Option<Targets> {
        if zone.out.notify.is_empty() {
            return None;
        }
        let key = zone.out.tsig_key.as_ref().and_then(|name| {
            let key = keys.get(name).cloned();
            if key.is_none() {
                error!(zone = %zone.name, key = %name, "transfer-tsig-key is not usable: NOTIFYs go out unsigned");
            }
            key
        });
        Some(Targets {
            addrs: zone.out.notify.clone(),
            source: zone.out.notify_source,
            key,
        })
    }
}

/// Counters of NOTIFY out, read by the metrics at scrape time.
#[derive(Debug, Default)]
pub struct NotifyOutCounters {
    /// NOTIFY messages sent (first tries and retries).
    pub sent: AtomicU64,
    /// Of those, the retries.
    pub retries: AtomicU64,
    /// Targets that answered (their round ended well).
    pub answered: AtomicU64,
    /// Targets that did not answer after every try, answered with an error
    /// RCODE, or could not be sent to.
    pub failed: AtomicU64,
    /// Answers ignored: unmatched, late, or failing TSIG verification.
    pub ignored: AtomicU64,
    /// First tries waiting for their turn (the pacing backlog); a gauge.
    pub queued: AtomicU64,
    /// Rounds replaced by a newer version before they ended.
    pub replaced: AtomicU64,
}

/// A zone's last NOTIFY round, as `GET /zones/{name}` shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RoundView {
    pub serial: u32,
    /// Unix seconds.
    pub started: u64,
    pub targets: Vec<TargetView>,
}

/// One target of a round.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TargetView {
    /// Shown as "address:port" (serde writes a socket address as its text).
    pub target: SocketAddr,
    /// "queued" (no try sent yet), "waiting" (tried, no answer yet),
    /// "answered" or "failed".
    pub state: &'static str,
    pub tries: u8,
}

type Views = Arc<Mutex<HashMap<Box<[u8]>, RoundView>>>;

/// Handle to the NOTIFY-out task; cheap to clone. The task ends when the
/// last handle is dropped.
#[derive(Clone)]
pub struct NotifySender {
    targets: Arc<watch::Sender<Arc<TargetTable>>>,
    rate: Arc<watch::Sender<u32>>,
    pub counters: Arc<NotifyOutCounters>,
    views: Views,
}

type TargetTable = HashMap<Box<[u8]>, Targets>;

impl NotifySender {
    /// Starts the task, following `store`, sending at most `rate` NOTIFYs a
    /// second. Call it inside the runtime.
    pub fn spawn(store: Store, rate: u32) -> NotifySender {
        let (tx, rx) = watch::channel(Arc::new(TargetTable::new()));
        let (rate_tx, rate_rx) = watch::channel(rate);
        let counters = Arc::new(NotifyOutCounters::default());
        let (answers_tx, answers_rx) = mpsc::channel(ANSWER_QUEUE);
        let views = Views::default();
        let task = Task {
            views: views.clone(),
            store_rx: store.subscribe(),
            store,
            table: Arc::default(),
            seen: HashMap::new(),
            by_apex: HashMap::new(),
            rounds: HashMap::new(),
            next_round: 0,
            first: VecDeque::new(),
            later: BTreeMap::new(),
            seq: 0,
            waiting: HashMap::new(),
            sockets: HashMap::new(),
            answers_tx,
            bucket: Bucket::new(rate, Instant::now()),
            counters: counters.clone(),
            failures: Summary::new("NOTIFY out failed", |t| tracing::warn!("{t}")),
        };
        tokio::spawn(task.run(rx, rate_rx, answers_rx));
        NotifySender {
            targets: Arc::new(tx),
            rate: Arc::new(rate_tx),
            counters,
            views,
        }
    }

    /// Changes the rate (`[transfer] notify-rate`, on a reload).
    pub fn set_rate(&self, rate: u32) {
        self.rate.send_if_modified(|r| std::mem::replace(r, rate) != rate);
    }

    /// The last NOTIFY round of the zone at `apex` (lowercase wire).
    pub fn last_round(&self, apex: &[u8]) -> Option<RoundView> {
        lock(&self.views).get(apex).cloned()
    }

    /// Replaces the table of targets (by lowercase wire apex). A zone that
    /// gains targets is announced if it has a version not announced yet.
    pub fn set_targets(&self, table: HashMap<Box<[u8]>, Targets>) {
        self.targets.send_replace(Arc::new(table));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The NOTIFY for a zone: opcode NOTIFY, AA, question `apex` SOA IN and the
/// SOA record (`ttl`, uncompressed `rdata`) in the answer section.
pub fn notify_message(id: u16, apex: &[u8], ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER_LEN + 2 * apex.len() + 16 + rdata.len() + 2);
    m.extend_from_slice(&id.to_be_bytes());
    m.push((OPCODE_NOTIFY << 3) | 0x04);
    m.push(0);
    for count in [1u16, 1, 0, 0] {
        m.extend_from_slice(&count.to_be_bytes());
    }
    m.extend_from_slice(apex);
    m.extend_from_slice(&rtype::SOA.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    // The owner: a pointer to the question name, right after the header.
    m.extend_from_slice(&[0xc0, HEADER_LEN as u8]);
    m.extend_from_slice(&rtype::SOA.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&ttl.to_be_bytes());
    m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    m.extend_from_slice(rdata);
    m
}

/// A token bucket: `rate` tokens a second, at most `burst` held.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Full at `now`; burst: a twentieth of a second's worth, 1 to
    /// [`MAX_BURST`].
    pub fn new(rate: u32, now: Instant) -> Bucket {
        let rate = rate.max(1);
        let burst = f64::from((rate / 20).clamp(1, MAX_BURST));
        Bucket {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next token is there (after a failed [`Bucket::take`]).
    pub fn ready_at(&self, now: Instant) -> Instant {
        let missing = (1.0 - self.tokens).max(0.0);
        now + Duration::from_secs_f64(missing / self.rate)
    }
}

/// What was last announced for a zone.
struct Seen {
    /// The snapshot (as a pointer: a cheap "same version" check).
    ptr: usize,
    serial: u32,
}

/// One round: a version of one zone announced to its targets.
struct Round {
    apex: Box<[u8]>,
    serial: u32,
    started: u64,
    ttl: u32,
    rdata: Vec<u8>,
    source: Option<IpAddr>,
    key: Option<Arc<Key>>,
    targets: Vec<TargetState>,
}

struct TargetState {
    addr: SocketAddr,
    id: u16,
    tries: u8,
    /// The request MAC of each signed try: an answer may be to any of them.
    macs: Vec<Vec<u8>>,
    done: bool,
    answered: bool,
}

/// A target of a round, as queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    round: u64,
    target: usize,
}

struct Task {
    store: Store,
    store_rx: watch::Receiver<u64>,
    table: Arc<TargetTable>,
    seen: HashMap<Box<[u8]>, Seen>,
    /// The running round of each zone.
    by_apex: HashMap<Box<[u8]>, u64>,
    rounds: HashMap<u64, Round>,
    next_round: u64,
    /// First tries, in the order the versions came.
    first: VecDeque<Slot>,
    /// Retries and last waits, by when they are due.
    later: BTreeMap<(Instant, u64), Slot>,
    seq: u64,
    /// Answers expected, by (target, ID).
    waiting: HashMap<(SocketAddr, u16), Slot>,
    sockets: HashMap<(Option<IpAddr>, bool), Arc<std::net::UdpSocket>>,
    answers_tx: mpsc::Sender<(SocketAddr, Vec<u8>)>,
    bucket: Bucket,
    counters: Arc<NotifyOutCounters>,
    failures: Arc<Summary>,
    /// Shared with the handle: the last round of each zone.
    views: Views,
}

/// What a queued slot stands for now.
enum SlotState {
    /// Its round was replaced or its target is done.
    Stale,
    /// The next try is due.
    Send,
    /// Every try was sent and the last wait is over.
    Expired,
}

impl Task {
    async fn run(
        mut self,
        mut targets_rx: watch::Receiver<Arc<TargetTable>>,
        mut rate_rx: watch::Receiver<u32>,
        mut answers_rx: mpsc::Receiver<(SocketAddr, Vec<u8>)>,
    ) {
        self.table = targets_rx.borrow_and_update().clone();
        self.scan();
        loop {
            let wake = self.pump(Instant::now());
            let sleep = tokio::time::sleep_until(wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)));
            tokio::select! {
                changed = targets_rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.table = targets_rx.borrow_and_update().clone();
                    self.scan();
                }
                changed = self.store_rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.store_rx.borrow_and_update();
                    self.scan();
                }
                Ok(()) = rate_rx.changed() => {
                    let rate = *rate_rx.borrow_and_update();
                    self.bucket = Bucket::new(rate, Instant::now());
                }
                Some((from, msg)) = answers_rx.recv() => self.on_answer(from, &msg),
                _ = sleep => {}
            }
        }
    }

    /// Finds the zones with targets whose served serial was not announced
    /// yet and starts their rounds; ends the rounds of zones no longer
    /// served.
    fn scan(&mut self) {
        let set = self.store.snapshot();
        let table = self.table.clone();
        for (apex, targets) in table.iter() {
            if targets.addrs.is_empty() {
                continue;
            }
            let Some(zone) = set.get(apex).and_then(|s| s.zone.as_ref()) else {
                continue;
            };
            let ptr = Arc::as_ptr(zone) as usize;
            let serial = zone.info.serial;
            match self.seen.get_mut(apex) {
                Some(s) if s.ptr == ptr => continue,
                Some(s) if s.serial == serial => {
                    s.ptr = ptr;
                    continue;
                }
                _ => {}
            }
            self.seen.insert(apex.clone(), Seen { ptr, serial });
            self.start_round(apex, zone, targets);
        }
        self.forget_unserved(&set);
    }

    fn forget_unserved(&mut self, set: &ZoneSet) {
        let served = |apex: &[u8]| set.get(apex).is_some_and(|s| s.zone.is_some());
        self.seen.retain(|apex, _| served(apex));
        lock(&self.views).retain(|apex, _| served(apex));
        let gone: Vec<u64> = self
            .by_apex
            .iter()
            .filter(|(apex, _)| !served(apex))
            .map(|(_, r)| *r)
            .collect();
        for r in gone {
            self.end_round(r);
        }
    }

    fn start_round(&mut self, apex: &[u8], zone: &Zone, targets: &Targets) {
        let Some(soa) = zone.get(APEX, rtype::SOA) else {
            return;
        };
        let Some(rdata) = zone.records(soa).next() else {
            return;
        };
        if let Some(old) = self.by_apex.get(apex).copied() {
            // Rounds that ended are dropped (see `finish`): this one runs.
            self.counters.replaced.fetch_add(1, Ordering::Relaxed);
            self.end_round(old);
        }
        let id = self.next_round;
        self.next_round += 1;
        let round = Round {
            apex: apex.into(),
            serial: zone.info.serial,
            started: tsig::unix_now(),
            ttl: soa.ttl,
            rdata: rdata.to_vec(),
            source: targets.source,
            key: targets.key.clone(),
            targets: targets
                .addrs
                .iter()
                .map(|&addr| TargetState {
                    addr,
                    id: super::client::random_id(),
                    tries: 0,
                    macs: Vec::new(),
                    done: false,
                    answered: false,
                })
                .collect(),
        };
        debug!(zone = %name::to_text(apex), serial = round.serial, targets = round.targets.len(), "NOTIFY round");
        for target in 0..round.targets.len() {
            self.first.push_back(Slot { round: id, target });
            self.counters.queued.fetch_add(1, Ordering::Relaxed);
        }
        self.rounds.insert(id, round);
        self.by_apex.insert(apex.into(), id);
        self.publish(id);
    }

    /// Shows a round's state in its zone's view.
    fn publish(&self, id: u64) {
        let Some(round) = self.rounds.get(&id) else {
            return;
        };
        let targets = round.targets.iter().map(|t| TargetView {
            target: t.addr,
            state: match (t.done, t.tries) {
                (false, 0) => "queued",
                (false, _) => "waiting",
                (true, _) if t.answered => "answered",
                (true, _) => "failed",
            },
            tries: t.tries,
        });
        // In place when the zone has a view: called at every try and
        // answer of every target, it allocates nothing then.
        let mut views = lock(&self.views);
        match views.get_mut(&round.apex) {
            Some(view) => {
                view.serial = round.serial;
                view.started = round.started;
                view.targets.clear();
                view.targets.extend(targets);
            }
            None => {
                let view = RoundView {
                    serial: round.serial,
                    started: round.started,
                    targets: targets.collect(),
                };
                views.insert(round.apex.clone(), view);
            }
        }
    }

    /// Shows a target's end and drops its round once every target is done.
    fn finish(&mut self, id: u64) {
        self.publish(id);
        if self.rounds.get(&id).is_some_and(|r| r.targets.iter().all(|t| t.done)) {
            self.end_round(id);
        }
    }

    /// Drops a round; its queued slots become stale.
    fn end_round(&mut self, id: u64) {
        if let Some(round) = self.rounds.remove(&id) {
            for t in &round.targets {
                self.waiting.remove(&(t.addr, t.id));
            }
            if self.by_apex.get(&round.apex) == Some(&id) {
                self.by_apex.remove(&round.apex);
            }
        }
    }

    fn slot_state(&self, slot: Slot) -> SlotState {
        match self.rounds.get(&slot.round).and_then(|r| r.targets.get(slot.target)) {
            None => SlotState::Stale,
            Some(t) if t.done => SlotState::Stale,
            Some(t) if t.tries >= TRIES => SlotState::Expired,
            Some(_) => SlotState::Send,
        }
    }

    /// Sends what is due as far as the bucket allows; returns when to wake
    /// up next (`None`: nothing pending but answers).
    fn pump(&mut self, now: Instant) -> Option<Instant> {
        loop {
            // Expired and stale entries need no token.
            while let Some((&key, &slot)) = self.later.first_key_value() {
                if key.0 > now {
                    break;
                }
                match self.slot_state(slot) {
                    SlotState::Send => break,
                    SlotState::Stale => {}
                    SlotState::Expired => {
                        let tries = TRIES;
                        self.fail(slot, "no answer", move || format!("after {tries} tries"));
                    }
                }
                self.later.remove(&key);
            }
            while let Some(&slot) = self.first.front() {
                if matches!(self.slot_state(slot), SlotState::Send) {
                    break;
                }
                self.first.pop_front();
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
            }
            let due_retry = self
                .later
                .first_key_value()
                .filter(|(k, _)| k.0 <= now)
                .map(|(k, s)| (*k, *s));
            if self.first.is_empty() && due_retry.is_none() {
                return self.later.first_key_value().map(|(k, _)| k.0);
            }
            if !self.bucket.take(now) {
                return Some(self.bucket.ready_at(now));
            }
            let slot = match self.first.pop_front() {
                Some(slot) => {
                    self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                    slot
                }
                None => match due_retry {
                    Some((key, slot)) => {
                        self.later.remove(&key);
                        slot
                    }
                    None => continue,
                },
            };
            self.send(slot, now);
        }
    }

    /// Sends the next try to a target and queues what follows it.
    fn send(&mut self, slot: Slot, now: Instant) {
        let Some(round) = self.rounds.get(&slot.round) else {
            return;
        };
        let Some(t) = round.targets.get(slot.target) else {
            return;
        };
        let (addr, id, source, key) = (t.addr, t.id, round.source, round.key.clone());
        let mut msg = notify_message(id, &round.apex, round.ttl, &round.rdata);
        let mac = key
            .as_ref()
            .map(|k| tsig::sign_request(&mut msg, k, tsig::unix_now(), tsig::DEFAULT_FUDGE));
        let sock = match self.socket(source, addr) {
            Ok(s) => s,
            Err(why) => {
                self.fail(slot, "cannot send", move || why);
                return;
            }
        };
        let sent = sock.send_to(&msg, addr);
        let Some(t) = self
            .rounds
            .get_mut(&slot.round)
            .and_then(|r| r.targets.get_mut(slot.target))
        else {
            return;
        };
        t.tries += 1;
        if let Some(mac) = mac {
            t.macs.push(mac);
        }
        let tries = t.tries;
        match sent {
            Ok(_) => {
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
                if tries > 1 {
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Counted as a try: the next one comes after the same wait.
            Err(e) => debug!(target_addr = %addr, "NOTIFY not sent: {e}"),
        }
        self.waiting.insert((addr, id), slot);
        self.publish(slot.round);
        let wait = RETRY_DELAYS.get(usize::from(tries) - 1).copied().unwrap_or(LAST_WAIT);
        self.seq += 1;
        self.later.insert((now + wait, self.seq), slot);
    }

    /// The socket for `source` and the target's family, bound on first use.
    fn socket(&mut self, source: Option<IpAddr>, target: SocketAddr) -> Result<Arc<std::net::UdpSocket>, String> {
        let v6 = target.is_ipv6();
        if let Some(s) = self.sockets.get(&(source, v6)) {
            return Ok(s.clone());
        }
        let local = match source {
            Some(ip) if ip.is_ipv6() != v6 => {
                return Err(format!(
                    "notify-source {ip} cannot reach {target} (another address family)"
                ));
            }
            Some(ip) => SocketAddr::new(ip, 0),
            None if v6 => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
            None => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        };
        // Sent through the std socket (a plain non-blocking sendto: a
        // fresh tokio socket reports WouldBlock until the reactor has seen
        // it writable); read through a tokio clone of it.
        let bound = std::net::UdpSocket::bind(local)
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .and_then(|s| Ok((s.try_clone().and_then(UdpSocket::from_std)?, s)))
            .map_err(|e| format!("cannot bind a UDP socket to {local} (notify-source): {e}"))?;
        let (reader, sock) = (bound.0, Arc::new(bound.1));
        tokio::spawn(read_answers(reader, self.answers_tx.clone(), self.counters.clone()));
        self.sockets.insert((source, v6), sock.clone());
        Ok(sock)
    }

    fn on_answer(&mut self, from: SocketAddr, msg: &[u8]) {
        if msg.len() < HEADER_LEN || msg[2] & 0x80 == 0 || (msg[2] >> 3) & 0x0f != OPCODE_NOTIFY {
            self.counters.ignored.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let id = u16::from_be_bytes([msg[0], msg[1]]);
        let Some(&slot) = self.waiting.get(&(from, id)) else {
            self.counters.ignored.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Some(round) = self.rounds.get(&slot.round) else {
            self.waiting.remove(&(from, id));
            self.counters.ignored.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Some(t) = round.targets.get(slot.target).filter(|t| !t.done) else {
            self.counters.ignored.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let verdict = match &round.key {
            None => Ok(()),
            Some(key) => {
                let now = tsig::unix_now();
                let mut last = Err(tsig::TsigError::Unsigned);
                for mac in t.macs.iter().rev() {
                    let mut v = ResponseVerifier::new(key, mac);
                    last = v.verify(msg, now).and_then(|_| v.finish());
                    if last.is_ok() {
                        break;
                    }
                }
                last
            }
        };
        match verdict {
            Ok(()) => {}
            // The target refuses our key, time or MAC: retrying does not
            // help.
            Err(e @ tsig::TsigError::Peer { .. }) => {
                self.fail(slot, "TSIG error from the target", move || e.to_string());
                return;
            }
            Err(e) => {
                self.counters.ignored.fetch_add(1, Ordering::Relaxed);
                debug!(target_addr = %from, "NOTIFY answer ignored: {e}");
                return;
            }
        }
        let rcode = msg[3] & 0x0f;
        if rcode != 0 {
            self.fail(slot, "answered with an error", move || format!("RCODE {rcode}"));
            return;
        }
        self.waiting.remove(&(from, id));
        if let Some(t) = self
            .rounds
            .get_mut(&slot.round)
            .and_then(|r| r.targets.get_mut(slot.target))
        {
            t.done = true;
            t.answered = true;
            self.counters.answered.fetch_add(1, Ordering::Relaxed);
            self.finish(slot.round);
        }
    }

    /// Ends a target's round as failed: counted, logged once per target and
    /// interval.
    fn fail(&mut self, slot: Slot, reason: &'static str, detail: impl FnOnce() -> String) {
        let Some(round) = self.rounds.get_mut(&slot.round) else {
            return;
        };
        let Some(t) = round.targets.get_mut(slot.target) else {
            return;
        };
        if t.done {
            return;
        }
        t.done = true;
        self.waiting.remove(&(t.addr, t.id));
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        let (addr, zone, serial) = (t.addr, &round.apex, round.serial);
        self.failures.record(Some(addr.ip()), reason, || {
            format!(
                "{}, target {addr}, zone {}, serial {serial}",
                detail(),
                name::to_text(zone)
            )
        });
        self.finish(slot.round);
    }
}

/// Reads the answers arriving on one socket and hands them to the task.
async fn read_answers(sock: UdpSocket, tx: mpsc::Sender<(SocketAddr, Vec<u8>)>, counters: Arc<NotifyOutCounters>) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let got = tokio::select! {
            _ = tx.closed() => return,
            got = sock.recv_from(&mut buf) => got,
        };
        match got {
            Ok((n, from)) => {
                if tx.try_send((from, buf[..n].to_vec())).is_err() {
                    counters.ignored.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => {
                warn!("NOTIFY out: reading answers failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
#[path = "notify_out_tests.rs"]
mod tests;

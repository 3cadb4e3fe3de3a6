//! The session state machine without sockets: the 6.8.6 state table, slow
//! start and the Poll/Final switch to the configured rate, detection time,
//! the peer's AdminDown told apart from a path failure, P answered by F.

use super::*;

const MS: Duration = Duration::from_millis(1);

fn peer_packet(state: State, my: u32, your: u32) -> Packet {
    Packet {
        diag: Diag::None,
        state,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_discr: my,
        your_discr: your,
        desired_min_tx: 300_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 0,
    }
}

fn sends(actions: &[Action]) -> Vec<Packet> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(p) => Some(*p),
            _ => None,
        })
        .collect()
}

fn changes(actions: &[Action]) -> Vec<(State, State, Diag, Option<DownCause>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::StateChanged { from, to, diag, cause } => Some((*from, *to, *diag, *cause)),
            _ => None,
        })
        .collect()
}

/// A started session brought to `state` by a peer (discriminator 77).
fn session_in(state: State, t0: Instant) -> Session {
    let mut s = Session::new(Config::default(), 1, 7);
    s.handle(t0, Event::Start);
    match state {
        State::Down => {}
        State::Init => {
            s.handle(t0, Event::Received(peer_packet(State::Down, 77, 0)));
        }
        State::Up => {
            s.handle(t0, Event::Received(peer_packet(State::Init, 77, 1)));
        }
        State::AdminDown => {
            s.handle(t0, Event::AdminDown);
        }
    }
    assert_eq!(s.state(), state);
    s
}

#[test]
fn state_table_of_6_8_6() {
    use State::*;
    let t0 = Instant::now();
    // (local, received, new local, diag, cause)
    let table = [
        (Down, AdminDown, Down, None, Option::None),
        (Down, Down, Init, None, Option::None),
        (Down, Init, Up, None, Option::None),
        (Down, Up, Down, None, Option::None),
        (
            Init,
            AdminDown,
            Down,
            Some(Diag::NeighborDown),
            Some(DownCause::PeerAdminDown),
        ),
        (Init, Down, Init, None, Option::None),
        (Init, Init, Up, None, Option::None),
        (Init, Up, Up, None, Option::None),
        (
            Up,
            AdminDown,
            Down,
            Some(Diag::NeighborDown),
            Some(DownCause::PeerAdminDown),
        ),
        (
            Up,
            Down,
            Down,
            Some(Diag::NeighborDown),
            Some(DownCause::PeerSignalledDown),
        ),
        (Up, Init, Up, None, Option::None),
        (Up, Up, Up, None, Option::None),
        // AdminDown locally: everything received is discarded
        (AdminDown, Down, AdminDown, None, Option::None),
        (AdminDown, Init, AdminDown, None, Option::None),
        (AdminDown, Up, AdminDown, None, Option::None),
    ];
    for (local, received, expect, diag, cause) in table {
        let mut s = session_in(local, t0);
        let your = if matches!(received, Down | AdminDown) { 0 } else { 1 };
        let a = s.handle(t0 + MS, Event::Received(peer_packet(received, 77, your)));
        assert_eq!(s.state(), expect, "{local} + received {received}");
        let ch = changes(&a);
        if expect == local {
            assert!(ch.is_empty(), "{local} + {received}: {ch:?}");
        } else {
            assert_eq!(
                ch,
                vec![(local, expect, diag.unwrap_or(Diag::None), cause)],
                "{local} + {received}"
            );
            // the peer hears of the change at once
            assert_eq!(sends(&a).last().map(|p| p.state), Some(expect));
        }
        if let Some(c) = cause {
            assert_eq!(s.down_cause(), c);
            assert_eq!(s.local_diag(), Diag::NeighborDown);
        }
        if local == AdminDown {
            assert_eq!(s.counters().dropped_admin_down, 1);
            assert_eq!(s.counters().packets_in, 0);
        }
    }
}

#[test]
fn peer_admin_down_is_not_a_path_failure() {
    let t0 = Instant::now();
    let mut s = session_in(State::Up, t0);
    let mut p = peer_packet(State::AdminDown, 77, 1);
    p.diag = Diag::AdminDown;
    let a = s.handle(t0 + MS, Event::Received(p));
    assert_eq!(
        changes(&a),
        vec![(
            State::Up,
            State::Down,
            Diag::NeighborDown,
            Some(DownCause::PeerAdminDown)
        )]
    );
    assert!(!s.down_cause().is_path_failure());
    assert_eq!(s.counters().last_remote_diag, Diag::AdminDown);
    assert!(a.contains(&Action::DisarmDetect));

    let mut s = session_in(State::Up, t0);
    s.handle(t0 + MS, Event::Received(peer_packet(State::Down, 77, 1)));
    assert_eq!(s.down_cause(), DownCause::PeerSignalledDown);
    assert!(s.down_cause().is_path_failure());

    let mut s = session_in(State::Up, t0);
    let a = s.handle(t0 + MS, Event::DetectTimer);
    assert_eq!(
        changes(&a),
        vec![(
            State::Up,
            State::Down,
            Diag::DetectionExpired,
            Some(DownCause::DetectionExpired)
        )]
    );
    assert!(s.down_cause().is_path_failure());
    // the remote discriminator is forgotten at once
    assert_eq!(s.remote_discriminator(), 0);
    assert_eq!(
        sends(&a).last().map(|p| (p.state, p.your_discr, p.diag)),
        Some((State::Down, 0, Diag::DetectionExpired))
    );
}

#[test]
fn poll_is_answered_by_final_at_once() {
    let t0 = Instant::now();
    for state in [State::Down, State::Init, State::Up] {
        let mut s = session_in(state, t0);
        let mut p = peer_packet(State::Up, 77, 1);
        if state == State::Down {
            p.state = State::Down;
            p.your_discr = 0;
        }
        p.poll = true;
        let a = s.handle(t0 + MS, Event::Received(p));
        let finals: Vec<_> = sends(&a).into_iter().filter(|p| p.final_).collect();
        assert_eq!(finals.len(), 1, "{state}: {a:?}");
        assert!(!finals[0].poll, "never P and F together");
    }
}

#[test]
fn discriminator_mismatch_and_stale_timers_are_ignored() {
    let t0 = Instant::now();
    let mut s = session_in(State::Up, t0);
    let a = s.handle(t0 + MS, Event::Received(peer_packet(State::Down, 77, 999)));
    assert!(a.is_empty());
    assert_eq!(s.state(), State::Up);
    assert_eq!(s.counters().dropped_discr_mismatch, 1);
    // Our own packet looped back (a session to a local address): dropped,
    // the session does not come up with itself.
    let mut s = session_in(State::Down, t0);
    let own = s.handle(t0, Event::TxTimer);
    assert!(!sends(&own).is_empty(), "{own:?}");
    for p in sends(&own) {
        assert!(s.handle(t0 + MS, Event::Received(p)).is_empty());
    }
    assert_eq!(s.state(), State::Down);
    assert_eq!(
        s.counters().dropped_discr_mismatch,
        u64::try_from(sends(&own).len()).unwrap()
    );
    let mut s = session_in(State::Down, t0);
    assert!(s.handle(t0 + MS, Event::DetectTimer).is_empty());
    let mut s = Session::new(Config::default(), 1, 1);
    assert!(s.handle(t0, Event::TxTimer).is_empty(), "no sending before Start");
}

#[test]
fn slow_start_then_configured_rate_and_zero_min_rx() {
    let t0 = Instant::now();
    let mut s = Session::new(Config::default(), 1, 3);
    let a = s.handle(t0, Event::Start);
    let p = sends(&a)[0];
    assert_eq!(
        (p.state, p.desired_min_tx, p.required_min_rx, p.your_discr),
        (State::Down, 1_000_000, 300_000, 0)
    );
    for a in a {
        if let Action::ArmTx(d) = a {
            assert!(d >= 750 * MS && d <= 1000 * MS, "{d:?}");
        }
    }
    // a peer asking for no packets: the periodic timer stops
    let mut p = peer_packet(State::Down, 77, 0);
    p.required_min_rx = 0;
    let a = s.handle(t0 + MS, Event::Received(p));
    assert!(a.contains(&Action::DisarmTx), "{a:?}");
    assert_eq!(s.tx_interval(), None);
    assert!(s.handle(t0 + 2 * MS, Event::TxTimer).is_empty());
    // ... and restarts when it asks again, at max(ours, theirs)
    let mut p = peer_packet(State::Init, 77, 1);
    p.required_min_rx = 2_000_000;
    s.handle(t0 + 3 * MS, Event::Received(p));
    assert_eq!(s.state(), State::Up);
    assert_eq!(s.tx_interval(), Some(2000 * MS));
}

#[test]
fn jitter_bounds() {
    let t0 = Instant::now();
    for (mult, hi) in [(3u8, 1000), (1, 900)] {
        let cfg = Config {
            detect_mult: mult,
            ..Config::default()
        };
        let mut s = Session::new(cfg, 1, 11);
        s.handle(t0, Event::Start);
        let mut seen = Vec::new();
        for i in 0..400 {
            for a in s.handle(t0 + i * MS, Event::TxTimer) {
                if let Action::ArmTx(d) = a {
                    seen.push(d);
                }
            }
        }
        assert_eq!(seen.len(), 400);
        assert!(seen.iter().all(|d| *d >= 750 * MS && *d < hi * MS), "mult {mult}");
        let spread = seen.iter().max().copied().unwrap_or_default() - seen.iter().min().copied().unwrap_or_default();
        assert!(spread > 100 * MS, "jitter varies: {spread:?}");
    }
}

#[test]
fn parameter_change_while_up_polls() {
    let t0 = Instant::now();
    let mut s = session_in(State::Up, t0);
    // the Up transition already started a poll (1 s -> 300 ms)
    assert!(s.polling());
    let mut f = peer_packet(State::Up, 77, 1);
    f.final_ = true;
    s.handle(t0 + MS, Event::Received(f));
    assert!(!s.polling());
    assert_eq!(s.tx_interval(), Some(300 * MS));
    // slower: 300 ms -> 1 s tx, 1 s rx; the old values hold until F
    let slow = Config {
        desired_min_tx: 1000 * MS,
        required_min_rx: 1000 * MS,
        detect_mult: 3,
    };
    s.handle(t0 + 2 * MS, Event::SetParams(slow));
    assert!(s.polling());
    let a = s.handle(t0 + 3 * MS, Event::TxTimer);
    let p = sends(&a)[0];
    assert!(p.poll && !p.final_);
    assert_eq!((p.desired_min_tx, p.required_min_rx), (1_000_000, 1_000_000));
    assert_eq!(s.tx_interval(), Some(300 * MS), "tx increase waits for the Final");
    s.handle(t0 + 4 * MS, Event::Received(peer_packet(State::Up, 77, 1)));
    assert_eq!(s.detection_time(), Some(3000 * MS), "rx increase counts at once");
    s.handle(t0 + 5 * MS, Event::Received(f));
    assert!(!s.polling());
    assert_eq!(s.tx_interval(), Some(1000 * MS));
    assert_eq!(s.detection_time(), Some(3000 * MS));
    // faster rx: the old (larger) value holds for detection until F
    s.handle(t0 + 6 * MS, Event::SetParams(Config::default()));
    s.handle(t0 + 7 * MS, Event::Received(peer_packet(State::Up, 77, 1)));
    assert_eq!(s.detection_time(), Some(3000 * MS));
    assert_eq!(s.tx_interval(), Some(300 * MS), "tx decrease counts at once");
    s.handle(t0 + 8 * MS, Event::Received(f));
    assert_eq!(s.detection_time(), Some(900 * MS));
}

/// Found by the fuzzer: Down in the middle of a Poll towards slower
/// timers kept the Poll's interim (faster) transmit interval.
#[test]
fn down_during_a_poll_goes_back_to_the_slow_rate() {
    let t0 = Instant::now();
    let mut s = session_in(State::Up, t0);
    let mut f = peer_packet(State::Up, 77, 1);
    f.final_ = true;
    s.handle(t0 + MS, Event::Received(f));
    let slow = Config {
        desired_min_tx: 1000 * MS,
        required_min_rx: 1000 * MS,
        detect_mult: 3,
    };
    s.handle(t0 + 2 * MS, Event::SetParams(slow));
    assert!(s.polling());
    assert_eq!(s.tx_interval(), Some(300 * MS));
    s.handle(t0 + 3 * MS, Event::Received(peer_packet(State::Down, 77, 1)));
    assert_eq!(s.state(), State::Down);
    assert!(!s.polling());
    assert_eq!(s.tx_interval(), Some(1000 * MS));
}

/// Two sessions wired to each other with a simulated clock.
struct Node {
    s: Session,
    tx_at: Option<Instant>,
    detect_at: Option<Instant>,
    alive: bool,
    /// Every state change with its time.
    changes: Vec<(Instant, State, Diag, Option<DownCause>)>,
    tx_arms: Vec<(Instant, Duration)>,
    detect_arms: Vec<(Instant, Duration)>,
    last_rx: Option<Instant>,
    sent_poll: usize,
    sent_final: usize,
}

impl Node {
    fn new(discr: u32) -> Node {
        Node {
            s: Session::new(Config::default(), discr, u64::from(discr)),
            tx_at: None,
            detect_at: None,
            alive: true,
            changes: Vec::new(),
            tx_arms: Vec::new(),
            detect_arms: Vec::new(),
            last_rx: None,
            sent_poll: 0,
            sent_final: 0,
        }
    }

    fn apply(&mut self, now: Instant, actions: Vec<Action>, wire: &mut Vec<Packet>) {
        for a in actions {
            match a {
                Action::Send(p) => {
                    self.sent_poll += usize::from(p.poll);
                    self.sent_final += usize::from(p.final_);
                    assert_eq!(Packet::decode(&p.encode()), Ok(p));
                    wire.push(p);
                }
                Action::ArmTx(d) => {
                    self.tx_at = Some(now + d);
                    self.tx_arms.push((now, d));
                }
                Action::DisarmTx => self.tx_at = None,
                Action::ArmDetect(d) => {
                    self.detect_at = Some(now + d);
                    self.detect_arms.push((now, d));
                }
                Action::DisarmDetect => self.detect_at = None,
                Action::StateChanged { to, diag, cause, .. } => self.changes.push((now, to, diag, cause)),
            }
        }
    }

    fn next(&self) -> Option<Instant> {
        if !self.alive {
            return None;
        }
        [self.tx_at, self.detect_at].into_iter().flatten().min()
    }
}

struct Sim {
    now: Instant,
    n: [Node; 2],
}

impl Sim {
    fn event(&mut self, i: usize, ev: Event) {
        let mut wire = Vec::new();
        let a = self.n[i].s.handle(self.now, ev);
        self.n[i].apply(self.now, a, &mut wire);
        // zero-latency delivery, replies included
        let mut from = i;
        while !wire.is_empty() {
            let to = 1 - from;
            let batch = std::mem::take(&mut wire);
            if !self.n[to].alive || !self.n[from].alive {
                break;
            }
            for p in batch {
                self.n[to].last_rx = Some(self.now);
                let a = self.n[to].s.handle(self.now, Event::Received(p));
                self.n[to].apply(self.now, a, &mut wire);
            }
            from = to;
        }
    }

    fn run_until(&mut self, end: Instant) {
        while let Some((t, i)) = (0..2).filter_map(|i| self.n[i].next().map(|t| (t, i))).min() {
            if t > end {
                break;
            }
            self.now = t;
            if self.n[i].tx_at == Some(t) {
                self.n[i].tx_at = None;
                self.event(i, Event::TxTimer);
            } else {
                self.n[i].detect_at = None;
                self.event(i, Event::DetectTimer);
            }
        }
        self.now = end;
    }
}

#[test]
fn two_sessions_come_up_switch_to_300ms_and_detect_failure() {
    let t0 = Instant::now();
    let mut sim = Sim {
        now: t0,
        n: [Node::new(0x1111), Node::new(0x2222)],
    };
    sim.event(0, Event::Start);
    // B starts 400 ms later: A's first packet went unheard
    sim.run_until(t0 + 400 * MS);
    sim.event(1, Event::Start);
    sim.run_until(t0 + 3000 * MS);
    for n in &sim.n {
        let up = n.changes.iter().find(|c| c.1 == State::Up).map(|c| c.0);
        assert!(up.is_some_and(|t| t - t0 <= 3000 * MS), "up by 3 s: {:?}", n.changes);
        assert_eq!(n.s.state(), State::Up);
        assert!(
            n.sent_poll >= 1 && n.sent_final >= 1,
            "poll {} final {}",
            n.sent_poll,
            n.sent_final
        );
        assert!(!n.s.polling());
        assert_eq!(n.s.tx_interval(), Some(300 * MS));
        assert_eq!(n.s.detection_time(), Some(900 * MS));
        // before Up every periodic interval was the slow one
        let up = up.unwrap_or(t0);
        assert!(n.tx_arms.iter().filter(|(t, _)| *t < up).all(|(_, d)| *d >= 750 * MS));
    }
    sim.run_until(t0 + 10_000 * MS);
    for n in &sim.n {
        assert_eq!(n.changes.iter().filter(|c| c.1 == State::Up).count(), 1, "stays up");
        // at 300 ms: 75-100 % jitter
        let late: Vec<_> = n.tx_arms.iter().filter(|(t, _)| *t > t0 + 5000 * MS).collect();
        assert!(late.len() >= 15, "{}", late.len());
        assert!(late.iter().all(|(_, d)| *d >= 225 * MS && *d <= 300 * MS));
        assert!(n.detect_arms.last().is_some_and(|(_, d)| *d == 900 * MS));
    }
    // B goes silent: A goes Down exactly one detection time after the last packet
    sim.n[1].alive = false;
    sim.run_until(t0 + 12_000 * MS);
    let a = &sim.n[0];
    let down = a.changes.last().copied();
    let last_rx = a.last_rx.unwrap_or(t0);
    let last_arm = a.detect_arms.last().copied();
    assert_eq!(last_arm, Some((last_rx, 900 * MS)));
    assert_eq!(
        down,
        Some((
            last_rx + 900 * MS,
            State::Down,
            Diag::DetectionExpired,
            Some(DownCause::DetectionExpired)
        ))
    );
    assert_eq!(a.s.remote_discriminator(), 0);
    // back to the slow rate
    assert!(a.tx_arms.last().is_some_and(|(_, d)| *d >= 750 * MS));
    assert_eq!(a.s.counters().up_transitions, 1);
}

#[test]
fn local_admin_down_tells_the_peer() {
    let t0 = Instant::now();
    let mut sim = Sim {
        now: t0,
        n: [Node::new(5), Node::new(6)],
    };
    sim.event(0, Event::Start);
    sim.event(1, Event::Start);
    sim.run_until(t0 + 3000 * MS);
    assert_eq!((sim.n[0].s.state(), sim.n[1].s.state()), (State::Up, State::Up));
    sim.event(1, Event::AdminDown);
    assert_eq!(sim.n[1].s.state(), State::AdminDown);
    assert_eq!(sim.n[1].s.local_diag(), Diag::AdminDown);
    assert_eq!(sim.n[0].s.state(), State::Down);
    assert_eq!(sim.n[0].s.down_cause(), DownCause::PeerAdminDown);
    assert_eq!(sim.n[0].s.local_diag(), Diag::NeighborDown);
    // it stays down while the peer is AdminDown, and comes back after Start
    sim.run_until(t0 + 6000 * MS);
    assert_eq!(sim.n[0].s.state(), State::Down);
    sim.event(1, Event::Start);
    sim.run_until(t0 + 9000 * MS);
    assert_eq!((sim.n[0].s.state(), sim.n[1].s.state()), (State::Up, State::Up));
}

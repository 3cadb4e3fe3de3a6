//! The BFD session state machine (RFC 5880 6.8), sans IO: events in,
//! actions out. Time is injected: `handle` takes `now`, and timers are
//! actions ([`Action::ArmTx`], [`Action::ArmDetect`]) that the driver
//! (`io`) turns back into [`Event::TxTimer`] / [`Event::DetectTimer`].
//!
//! Asynchronous mode only: we never set D and ignore a peer's D (so we
//! never stop transmitting); no Echo function (RequiredMinEchoRxInterval
//! 0); no authentication (a packet with A set never gets here, see
//! `packet`).
//!
//! Timer parameters (6.8.3): while not Up, the advertised
//! DesiredMinTxInterval is at least one second. The configured values are
//! reached with a Poll Sequence once Up, as is any later change
//! ([`Event::SetParams`]). During a Poll the transmit interval used is the
//! smaller of the old and new values and the RequiredMinRx used for our
//! detection time the larger (a faster transmit rate or a longer detection
//! time is always safe); the new values take full effect when the Final
//! arrives. Leaving Up goes back to the slow rate at once, without a Poll:
//! the peer's detection timer no longer matters once we say Down.
//!
//! The remote discriminator is reset to 0 as soon as the detection time
//! expires (6.8.1 allows keeping it one more detection time; we do not).
//! A local state change sends a packet at once (as BIRD and FRR do), so a
//! peer learns of it without waiting for the periodic timer; so does a
//! Final in answer to a Poll (6.8.7).

use std::time::{Duration, Instant};

use super::packet::{Diag, Packet, State, duration, micros};

/// The least DesiredMinTxInterval while the session is not Up (6.8.3).
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// The timer parameters of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub desired_min_tx: Duration,
    pub required_min_rx: Duration,
    pub detect_mult: u8,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Begin transmitting (the session starts in Down).
    Start,
    /// A packet that passed `Packet::decode` and the driver's TTL check.
    Received(Packet),
    TxTimer,
    DetectTimer,
    /// Local administrative down (6.8.16): diag 7, packets go on.
    AdminDown,
    /// New timer parameters (a Poll Sequence when Up).
    SetParams(Config),
}

/// Why the session is (or last went) Down. RFC 5882 3.2: a client must not
/// treat the peer's AdminDown as a path failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownCause {
    /// Never been Up yet.
    NotYetUp,
    /// No packet within the detection time (diag 1): a path failure.
    DetectionExpired,
    /// The peer said Down while we were Up (diag 3): a path failure as the
    /// peer sees it.
    PeerSignalledDown,
    /// The peer said AdminDown (diag 3): not a path failure.
    PeerAdminDown,
    /// We are AdminDown.
    LocalAdminDown,
}

impl DownCause {
    pub fn name(self) -> &'static str {
        match self {
            DownCause::NotYetUp => "not yet up",
            DownCause::DetectionExpired => "detection time expired",
            DownCause::PeerSignalledDown => "peer signalled down",
            DownCause::PeerAdminDown => "peer admin down",
            DownCause::LocalAdminDown => "local admin down",
        }
    }

    /// Whether this Down means the forwarding path failed (RFC 5882 3.2).
    pub fn is_path_failure(self) -> bool {
        matches!(self, DownCause::DetectionExpired | DownCause::PeerSignalledDown)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send(Packet),
    /// (Re)start the transmit timer: `TxTimer` after this long.
    ArmTx(Duration),
    DisarmTx,
    /// (Re)start the detection timer: `DetectTimer` after this long.
    ArmDetect(Duration),
    DisarmDetect,
    StateChanged {
        from: State,
        to: State,
        diag: Diag,
        /// Set when `to` is Down or AdminDown.
        cause: Option<DownCause>,
    },
}

/// Per-session counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Packets accepted by the state machine.
    pub packets_in: u64,
    pub packets_out: u64,
    /// Received while we are AdminDown (6.8.6: discarded).
    pub dropped_admin_down: u64,
    /// Your Discriminator not ours.
    pub dropped_discr_mismatch: u64,
    pub up_transitions: u64,
    /// The last diag we sent other than 0, and the last the peer sent.
    pub last_local_diag: Diag,
    pub last_remote_diag: Diag,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            packets_in: 0,
            packets_out: 0,
            dropped_admin_down: 0,
            dropped_discr_mismatch: 0,
            up_transitions: 0,
            last_local_diag: Diag::None,
            last_remote_diag: Diag::None,
        }
    }
}

impl Counters {
    pub fn dropped(&self) -> u64 {
        self.dropped_admin_down + self.dropped_discr_mismatch
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    cfg: Config,
    state: State,
    remote_state: State,
    local_discr: u32,
    remote_discr: u32,
    local_diag: Diag,
    down_cause: DownCause,
    /// The peer's RequiredMinRx, DesiredMinTx (µs) and Detect Mult.
    remote_min_rx: u32,
    remote_desired_tx: u32,
    remote_mult: u8,
    /// What we advertise.
    adv_tx: Duration,
    adv_rx: Duration,
    /// What we use for our transmit interval and detection time.
    eff_tx: Duration,
    eff_rx: Duration,
    polling: bool,
    /// A change came during a Poll: poll again when it ends (6.5).
    repoll: bool,
    started: bool,
    tx_deadline: Option<Instant>,
    tx_interval: Option<Duration>,
    detect_armed: bool,
    rng: u64,
    counters: Counters,
}

impl Session {
    /// A session in Down, not transmitting until [`Event::Start`].
    /// `my_discriminator` must be nonzero and unique; `seed` feeds the jitter.
    pub fn new(cfg: Config, my_discriminator: u32, seed: u64) -> Session {
        let cfg = sane(cfg);
        let slow = cfg.desired_min_tx.max(SLOW_TX);
        Session {
            cfg,
            state: State::Down,
            remote_state: State::Down,
            local_discr: my_discriminator,
            remote_discr: 0,
            local_diag: Diag::None,
            down_cause: DownCause::NotYetUp,
            remote_min_rx: 1,
            remote_desired_tx: 0,
            remote_mult: 0,
            adv_tx: slow,
            adv_rx: cfg.required_min_rx,
            eff_tx: slow,
            eff_rx: cfg.required_min_rx,
            polling: false,
            repoll: false,
            started: false,
            tx_deadline: None,
            tx_interval: None,
            detect_armed: false,
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
            counters: Counters::default(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn remote_state(&self) -> State {
        self.remote_state
    }
    pub fn local_discriminator(&self) -> u32 {
        self.local_discr
    }
    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discr
    }
    pub fn local_diag(&self) -> Diag {
        self.local_diag
    }
    pub fn down_cause(&self) -> DownCause {
        self.down_cause
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn config(&self) -> Config {
        self.cfg
    }
    /// A Poll Sequence is running.
    pub fn polling(&self) -> bool {
        self.polling
    }
    /// The detection timer is armed (the driver may check its view).
    pub fn detect_armed(&self) -> bool {
        self.detect_armed
    }

    /// The detection time (6.8.4) once the peer's parameters are known.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote_mult != 0).then(|| self.eff_rx.max(duration(self.remote_desired_tx)) * u32::from(self.remote_mult))
    }

    /// The periodic transmit interval before jitter; None when the peer's
    /// RequiredMinRx is 0 (it wants no packets).
    pub fn tx_interval(&self) -> Option<Duration> {
        (self.remote_min_rx != 0).then(|| self.eff_tx.max(duration(self.remote_min_rx)))
    }

    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Start => {
                let was_admin_down = self.state == State::AdminDown;
                if was_admin_down {
                    self.transition(State::Down, Diag::None, Some(DownCause::NotYetUp), &mut out);
                }
                if !self.started {
                    self.started = true;
                    self.send(false, false, &mut out);
                    self.schedule_tx(now, true, &mut out);
                } else if was_admin_down {
                    self.after_change(now, &mut out);
                }
            }
            Event::TxTimer => {
                if self.started && self.tx_deadline.is_some() {
                    self.tx_deadline = None;
                    self.send(self.polling, false, &mut out);
                    self.schedule_tx(now, true, &mut out);
                }
            }
            Event::DetectTimer => {
                if self.detect_armed && matches!(self.state, State::Init | State::Up) {
                    self.detect_armed = false;
                    self.remote_discr = 0;
                    self.remote_state = State::Down;
                    self.transition(
                        State::Down,
                        Diag::DetectionExpired,
                        Some(DownCause::DetectionExpired),
                        &mut out,
                    );
                    self.after_change(now, &mut out);
                }
            }
            Event::AdminDown => {
                if self.state != State::AdminDown {
                    self.transition(
                        State::AdminDown,
                        Diag::AdminDown,
                        Some(DownCause::LocalAdminDown),
                        &mut out,
                    );
                    self.after_change(now, &mut out);
                }
            }
            Event::SetParams(cfg) => {
                self.cfg = sane(cfg);
                self.retarget();
                self.schedule_tx(now, false, &mut out);
            }
            Event::Received(p) => self.receive(now, p, &mut out),
        }
        out
    }

    fn receive(&mut self, now: Instant, p: Packet, out: &mut Vec<Action>) {
        if self.state == State::AdminDown {
            self.counters.dropped_admin_down += 1;
            return;
        }
        // A packet that names our own discriminator as its sender's is our
        // own, looped back (a session to a local address): taking it would
        // bring the session Up with itself.
        if (p.your_discr != 0 && p.your_discr != self.local_discr) || p.my_discr == self.local_discr {
            self.counters.dropped_discr_mismatch += 1;
            return;
        }
        self.counters.packets_in += 1;
        self.remote_discr = p.my_discr;
        self.remote_state = p.state;
        self.remote_min_rx = p.required_min_rx;
        self.remote_desired_tx = p.desired_min_tx;
        self.remote_mult = p.detect_mult;
        if p.diag != Diag::None {
            self.counters.last_remote_diag = p.diag;
        }
        if p.final_ && self.polling {
            self.polling = false;
            self.eff_tx = self.adv_tx;
            self.eff_rx = self.adv_rx;
            if self.repoll {
                self.repoll = false;
                self.retarget();
            }
        }
        let before = self.state;
        if p.state == State::AdminDown {
            if self.state != State::Down {
                self.transition(State::Down, Diag::NeighborDown, Some(DownCause::PeerAdminDown), out);
            }
        } else {
            match (self.state, p.state) {
                (State::Down, State::Down) => self.transition(State::Init, Diag::None, None, out),
                (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                    self.transition(State::Up, Diag::None, None, out)
                }
                (State::Up, State::Down) => {
                    self.transition(State::Down, Diag::NeighborDown, Some(DownCause::PeerSignalledDown), out)
                }
                _ => {}
            }
        }
        if p.poll {
            self.send(false, true, out);
        }
        if matches!(self.state, State::Init | State::Up) {
            if let Some(dt) = self.detection_time() {
                self.detect_armed = true;
                out.push(Action::ArmDetect(dt));
            }
        }
        if self.state != before {
            self.after_change(now, out);
        } else {
            self.schedule_tx(now, false, out);
        }
    }

    /// A local state change: the packet telling the peer goes out at once
    /// and the periodic schedule restarts from it.
    fn after_change(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.started {
            self.send(self.polling, false, out);
            self.schedule_tx(now, true, out);
        }
    }

    fn transition(&mut self, to: State, diag: Diag, cause: Option<DownCause>, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        self.local_diag = diag;
        if diag != Diag::None {
            self.counters.last_local_diag = diag;
        }
        if let Some(c) = cause {
            self.down_cause = c;
        }
        if to == State::Up {
            self.counters.up_transitions += 1;
        }
        if matches!(to, State::Down | State::AdminDown) && self.detect_armed {
            self.detect_armed = false;
            out.push(Action::DisarmDetect);
        }
        if from == State::Up || to == State::Up {
            self.retarget();
        }
        out.push(Action::StateChanged { from, to, diag, cause });
    }

    /// Moves the advertised parameters towards the configured ones (6.8.3):
    /// a Poll when Up, at once otherwise.
    fn retarget(&mut self) {
        let tx = if self.state == State::Up {
            self.cfg.desired_min_tx
        } else {
            self.cfg.desired_min_tx.max(SLOW_TX)
        };
        let rx = self.cfg.required_min_rx;
        if self.state != State::Up {
            // also ends a Poll cut short: its interim values go too
            self.polling = false;
            self.repoll = false;
            (self.adv_tx, self.adv_rx, self.eff_tx, self.eff_rx) = (tx, rx, tx, rx);
        } else if (tx, rx) == (self.adv_tx, self.adv_rx) {
            // nothing to change
        } else if self.polling {
            self.repoll = true;
        } else {
            self.polling = true;
            self.eff_tx = self.eff_tx.min(tx);
            self.eff_rx = self.eff_rx.max(rx);
            (self.adv_tx, self.adv_rx) = (tx, rx);
        }
    }

    fn send(&mut self, poll: bool, final_: bool, out: &mut Vec<Action>) {
        self.counters.packets_out += 1;
        out.push(Action::Send(Packet {
            diag: self.local_diag,
            state: self.state,
            poll,
            final_,
            cpi: false,
            demand: false,
            detect_mult: self.cfg.detect_mult,
            my_discr: self.local_discr,
            your_discr: self.remote_discr,
            desired_min_tx: micros(self.adv_tx),
            required_min_rx: micros(self.adv_rx),
            required_min_echo_rx: 0,
        }));
    }

    /// Arms the periodic timer: always when `restart`, otherwise only when
    /// it is not running or the interval became shorter than what is left.
    fn schedule_tx(&mut self, now: Instant, restart: bool, out: &mut Vec<Action>) {
        if !self.started {
            return;
        }
        let Some(iv) = self.tx_interval() else {
            self.tx_interval = None;
            if self.tx_deadline.take().is_some() {
                out.push(Action::DisarmTx);
            }
            return;
        };
        let shorter = self.tx_interval.is_some_and(|old| iv < old);
        if !restart && self.tx_deadline.is_some() && !shorter {
            self.tx_interval = Some(iv);
            return;
        }
        let d = self.jitter(iv);
        if !restart && shorter && self.tx_deadline.is_some_and(|t| t <= now + d) {
            self.tx_interval = Some(iv);
            return;
        }
        self.tx_interval = Some(iv);
        self.tx_deadline = Some(now + d);
        out.push(Action::ArmTx(d));
    }

    /// 75-100 % of `iv`, 75-90 % when our Detect Mult is 1 (6.8.7).
    fn jitter(&mut self, iv: Duration) -> Duration {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let span = if self.cfg.detect_mult == 1 { 150 } else { 250 };
        let permille = 750 + (z % span) as u32;
        iv * permille / 1000
    }
}

/// Zero intervals and a zero multiplier make no sense for a session we
/// run: at least 1 ms and 1.
fn sane(cfg: Config) -> Config {
    Config {
        desired_min_tx: cfg.desired_min_tx.max(Duration::from_millis(1)),
        required_min_rx: cfg.required_min_rx.max(Duration::from_millis(1)),
        detect_mult: cfg.detect_mult.max(1),
    }
}

#[cfg(test)]
#[path = "fsm_tests.rs"]
mod tests;

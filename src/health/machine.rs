//! The sans-IO heart of health: rise/fall hysteresis over check results
//! ([`Hysteresis`]) and the node state machine on top of it ([`Core`]),
//! which adds maintenance (draining, then drained), a dead listener and
//! shutdown. Nothing here reads a clock, a file or a socket: the monitor
//! feeds it results and the current time, and publishes what it returns.

use std::time::{Duration, Instant};

use super::State;

/// What the probes and zone checks say about DNS, after hysteresis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not yet `rise` good checks in a row, nor `fall` bad ones.
    Starting,
    Healthy,
    Unhealthy,
}

/// Rise/fall hysteresis: `rise` good checks in a row make the verdict
/// healthy, `fall` bad checks in a row unhealthy. Results that alternate
/// faster than that leave the verdict where it was.
#[derive(Debug, Clone)]
pub struct Hysteresis {
    rise: u32,
    fall: u32,
    verdict: Verdict,
    ok_run: u32,
    fail_run: u32,
}

impl Hysteresis {
    /// `rise` and `fall` below 1 count as 1.
    pub fn new(rise: u32, fall: u32) -> Hysteresis {
        Hysteresis {
            rise: rise.max(1),
            fall: fall.max(1),
            verdict: Verdict::Starting,
            ok_run: 0,
            fail_run: 0,
        }
    }

    /// Feeds one check result; returns the new verdict when it changed.
    pub fn observe(&mut self, ok: bool) -> Option<Verdict> {
        let next = if ok {
            self.ok_run = self.ok_run.saturating_add(1);
            self.fail_run = 0;
            (self.ok_run >= self.rise).then_some(Verdict::Healthy)
        } else {
            self.fail_run = self.fail_run.saturating_add(1);
            self.ok_run = 0;
            (self.fail_run >= self.fall).then_some(Verdict::Unhealthy)
        };
        match next {
            Some(v) if v != self.verdict => {
                self.verdict = v;
                Some(v)
            }
            _ => None,
        }
    }

    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// Good checks in a row so far.
    pub fn ok_run(&self) -> u32 {
        self.ok_run
    }

    /// Bad checks in a row so far.
    pub fn fail_run(&self) -> u32 {
        self.fail_run
    }

    pub fn rise(&self) -> u32 {
        self.rise
    }

    pub fn fall(&self) -> u32 {
        self.fall
    }

    /// Unhealthy now, as after `fall` bad checks (a stuck listener worker,
    /// whose wait already lasted `fall` intervals); returns the new
    /// verdict when it changed. `rise` good checks make it healthy again.
    pub fn force_unhealthy(&mut self) -> Option<Verdict> {
        self.ok_run = 0;
        self.fail_run = self.fail_run.max(self.fall);
        (self.verdict != Verdict::Unhealthy).then(|| {
            self.verdict = Verdict::Unhealthy;
            Verdict::Unhealthy
        })
    }
}

/// Maintenance, as the state machine tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Maintenance {
    Off,
    /// Announced with GRACEFUL_SHUTDOWN until `until`.
    Draining {
        until: Instant,
    },
    Drained,
}

/// A change of the published state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub reason: String,
}

/// The node state machine. Precedence, highest first:
///
/// 1. shutdown ([`Core::stopping`]): `Stopping`, for good;
/// 2. a dead listener ([`Core::listener_died`]): `Unhealthy`, for good;
///    a stuck listener worker ([`Core::set_stuck`]): `Unhealthy` at once,
///    every check failing while it lasts, then `rise` good checks;
/// 3. maintenance: `Draining` for `drain` when the node was announced
///    (healthy), then `Drained`; straight to `Drained` when it was not
///    announced, when `drain` is zero, or when DNS fails while draining;
/// 4. the hysteresis verdict: `Starting`, `Healthy` or `Unhealthy`.
///
/// Checks keep being fed during maintenance, so removing the maintenance
/// file returns at once to whatever the checks say.
#[derive(Debug)]
pub struct Core {
    dns: Hysteresis,
    /// Why the verdict is what it is (the last failure, or that checks pass).
    dns_reason: String,
    maintenance: Maintenance,
    maintenance_reason: String,
    drain: Duration,
    fatal: Option<String>,
    /// A listener worker that makes no progress with work waiting.
    stuck: Option<String>,
    stopping: Option<String>,
    state: State,
    reason: String,
}

impl Core {
    /// `maintenance_reason` is the reason given while drained (e.g. which
    /// file is present); `drain` is how long `Draining` lasts.
    pub fn new(rise: u32, fall: u32, drain: Duration, maintenance_reason: impl Into<String>) -> Core {
        Core {
            dns: Hysteresis::new(rise, fall),
            dns_reason: "starting: no check yet".into(),
            maintenance: Maintenance::Off,
            maintenance_reason: maintenance_reason.into(),
            drain,
            fatal: None,
            stuck: None,
            stopping: None,
            state: State::Starting,
            reason: "starting: no check yet".into(),
        }
    }

    /// The published state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Why the published state is what it is.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub fn hysteresis(&self) -> &Hysteresis {
        &self.dns
    }

    pub fn in_maintenance(&self) -> bool {
        self.maintenance != Maintenance::Off
    }

    /// Feeds one check result (`reason` says what failed, or that all
    /// passed). While a worker is stuck every check fails, with its reason.
    pub fn observe(&mut self, now: Instant, ok: bool, reason: &str) -> Option<Transition> {
        let stuck = self.stuck.clone();
        let (ok, reason) = match &stuck {
            Some(why) => (false, why.as_str()),
            None => (ok, reason),
        };
        let before = self.dns.verdict();
        self.dns.observe(ok);
        let after = self.dns.verdict();
        // The reason follows the verdict: a failure that does not (yet)
        // change a healthy verdict does not become its reason.
        match (after != before, after, ok) {
            (true, Verdict::Healthy, _) => self.dns_reason = format!("{reason} ({} checks in a row)", self.dns.rise()),
            (true, Verdict::Unhealthy, _) => {
                self.dns_reason = format!("{reason} ({} checks in a row)", self.dns.fall())
            }
            (false, Verdict::Unhealthy, false) | (false, Verdict::Healthy, true) => {
                self.dns_reason = reason.to_string()
            }
            _ => {}
        }
        self.settle(now)
    }

    /// Whether the maintenance file is present now.
    pub fn set_maintenance(&mut self, now: Instant, present: bool) -> Option<Transition> {
        self.maintenance = match (self.maintenance, present) {
            (Maintenance::Off, true) => {
                if self.state == State::Healthy && !self.drain.is_zero() {
                    Maintenance::Draining {
                        until: now + self.drain,
                    }
                } else {
                    Maintenance::Drained
                }
            }
            (_, false) => Maintenance::Off,
            (m, true) => m,
        };
        self.settle(now)
    }

    /// Lets time pass (ends `Draining`).
    pub fn tick(&mut self, now: Instant) -> Option<Transition> {
        self.settle(now)
    }

    /// When [`Core::tick`] must be called next, if a timer runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.maintenance {
            Maintenance::Draining { until } if self.state == State::Draining => Some(until),
            _ => None,
        }
    }

    /// A DNS listener died: unhealthy at once, whatever the checks say.
    pub fn listener_died(&mut self, now: Instant, why: &str) -> Option<Transition> {
        if self.fatal.is_none() {
            self.fatal = Some(why.to_string());
        }
        self.settle(now)
    }

    /// A listener worker is stuck (`Some(why)`): unhealthy at once (the
    /// detection waited `interval` × `fall` already) and every check fails
    /// until `None` says no worker is stuck any more; then `rise` good
    /// checks make the node healthy again.
    /// Already unhealthy for another reason (probes that reached the
    /// stuck worker): the reason becomes the worker's, as a transition
    /// from `Unhealthy` to itself, so that it is published and logged.
    pub fn set_stuck(&mut self, now: Instant, why: Option<&str>) -> Option<Transition> {
        let Some(why) = why else {
            self.stuck = None;
            return self.settle(now);
        };
        let newly = self.stuck.is_none();
        if newly {
            self.dns.force_unhealthy();
        }
        self.dns_reason = why.to_string();
        self.stuck = Some(why.to_string());
        let t = self.settle(now);
        let renamed = newly
            && t.is_none()
            && self.state == State::Unhealthy
            && self.fatal.is_none()
            && self.maintenance == Maintenance::Off
            && self.reason != why;
        if !renamed {
            return t;
        }
        self.reason = why.to_string();
        Some(Transition {
            from: State::Unhealthy,
            to: State::Unhealthy,
            reason: self.reason.clone(),
        })
    }

    /// Why a listener worker is stuck, while one is.
    pub fn stuck(&self) -> Option<&str> {
        self.stuck.as_deref()
    }

    /// The process is stopping: `Stopping` from now on.
    pub fn stopping(&mut self, now: Instant, why: &str) -> Option<Transition> {
        if self.stopping.is_none() {
            self.stopping = Some(why.to_string());
        }
        self.settle(now)
    }

    /// Recomputes the published state; returns the transition if it changed.
    fn settle(&mut self, now: Instant) -> Option<Transition> {
        // Draining ends when its time is up or when DNS stops being healthy
        // (a broken node must not stay announced, gracefully or not).
        if let Maintenance::Draining { until } = self.maintenance
            && (now >= until || self.dns.verdict() != Verdict::Healthy)
        {
            self.maintenance = Maintenance::Drained;
        }
        let (state, reason) = if let Some(why) = &self.stopping {
            (State::Stopping, why.clone())
        } else if let Some(why) = &self.fatal {
            (State::Unhealthy, why.clone())
        } else {
            match self.maintenance {
                Maintenance::Draining { .. } => (State::Draining, self.maintenance_reason.clone()),
                Maintenance::Drained => (State::Drained, self.maintenance_reason.clone()),
                Maintenance::Off => {
                    let state = match self.dns.verdict() {
                        Verdict::Starting => State::Starting,
                        Verdict::Healthy => State::Healthy,
                        Verdict::Unhealthy => State::Unhealthy,
                    };
                    let reason = if matches!(self.state, State::Draining | State::Drained) {
                        format!("maintenance ended; {}", self.dns_reason)
                    } else {
                        self.dns_reason.clone()
                    };
                    (state, reason)
                }
            }
        };
        if state == self.state {
            return None;
        }
        let from = self.state;
        self.state = state;
        self.reason = reason.clone();
        Some(Transition {
            from,
            to: state,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(h: &mut Hysteresis, results: &[bool]) -> Vec<Option<Verdict>> {
        results.iter().map(|&ok| h.observe(ok)).collect()
    }

    #[test]
    fn first_rise_successes_make_healthy() {
        let mut h = Hysteresis::new(3, 2);
        assert_eq!(feed(&mut h, &[true, true]), [None, None]);
        assert_eq!(h.verdict(), Verdict::Starting);
        assert_eq!(h.observe(true), Some(Verdict::Healthy));
        assert_eq!(h.observe(true), None);
        assert_eq!(h.ok_run(), 4);
    }

    #[test]
    fn fall_failures_make_unhealthy_and_rise_recovers() {
        let mut h = Hysteresis::new(2, 3);
        feed(&mut h, &[true, true]);
        assert_eq!(h.verdict(), Verdict::Healthy);
        assert_eq!(feed(&mut h, &[false, false]), [None, None]);
        assert_eq!(h.verdict(), Verdict::Healthy);
        assert_eq!(h.fail_run(), 2);
        assert_eq!(h.observe(false), Some(Verdict::Unhealthy));
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(true), Some(Verdict::Healthy));
    }

    #[test]
    fn starting_can_fall_to_unhealthy() {
        let mut h = Hysteresis::new(2, 2);
        assert_eq!(feed(&mut h, &[false, false]), [None, Some(Verdict::Unhealthy)]);
    }

    #[test]
    fn rise_and_fall_of_one_follow_every_result() {
        let mut h = Hysteresis::new(1, 1);
        assert_eq!(
            feed(&mut h, &[true, false, true]),
            [Some(Verdict::Healthy), Some(Verdict::Unhealthy), Some(Verdict::Healthy)]
        );
        // zero counts as one
        let mut h = Hysteresis::new(0, 0);
        assert_eq!(h.observe(true), Some(Verdict::Healthy));
    }

    #[test]
    fn flapping_faster_than_rise_and_fall_does_not_flap() {
        for (rise, fall) in [(2, 2), (3, 2), (2, 3), (3, 3), (4, 5)] {
            // runs of 1..=longest results, alternating bad and good
            let longest = rise.min(fall) - 1;
            let flap = |h: &mut Hysteresis| {
                let mut ok = false;
                for i in 0..200 {
                    for _ in 0..1 + i % longest {
                        assert_eq!(h.observe(ok), None, "rise {rise} fall {fall}");
                    }
                    ok = !ok;
                }
            };
            let mut h = Hysteresis::new(rise, fall);
            feed(&mut h, &vec![true; rise as usize]);
            assert_eq!(h.verdict(), Verdict::Healthy);
            flap(&mut h);
            assert_eq!(h.verdict(), Verdict::Healthy);
            // and from Starting nothing is decided
            let mut h = Hysteresis::new(rise, fall);
            flap(&mut h);
            assert_eq!(h.verdict(), Verdict::Starting);
        }
    }

    const DRAIN: Duration = Duration::from_millis(500);

    fn core() -> Core {
        Core::new(2, 2, DRAIN, "maintenance file present")
    }

    fn healthy(c: &mut Core, now: Instant) {
        c.observe(now, true, "checks pass");
        let t = c.observe(now, true, "checks pass").expect("a transition");
        assert_eq!((t.from, t.to), (State::Starting, State::Healthy));
        assert!(t.reason.contains("checks pass"), "{}", t.reason);
    }

    #[test]
    fn reasons_name_the_failure() {
        let t0 = Instant::now();
        let mut c = core();
        assert_eq!(c.observe(t0, false, "zone a.test expired"), None);
        assert_eq!(c.state(), State::Starting);
        let t = c.observe(t0, false, "zone a.test expired").unwrap();
        assert_eq!((t.from, t.to), (State::Starting, State::Unhealthy));
        assert!(t.reason.starts_with("zone a.test expired"), "{}", t.reason);
        // later failures with another reason update the reason, no transition
        assert_eq!(c.observe(t0, false, "zone b.test expired"), None);
        assert_eq!(c.reason(), "zone a.test expired (2 checks in a row)");
        assert_eq!(c.dns_reason, "zone b.test expired");
    }

    #[test]
    fn maintenance_drains_then_drained_and_back() {
        let t0 = Instant::now();
        let mut c = core();
        healthy(&mut c, t0);
        let t = c.set_maintenance(t0, true).unwrap();
        assert_eq!((t.from, t.to), (State::Healthy, State::Draining));
        assert_eq!(c.next_deadline(), Some(t0 + DRAIN));
        // the file is seen again: nothing changes
        assert_eq!(c.set_maintenance(t0 + DRAIN / 2, true), None);
        assert_eq!(c.observe(t0 + DRAIN / 2, true, "ok"), None);
        assert_eq!(c.tick(t0 + DRAIN / 2), None);
        let t = c.tick(t0 + DRAIN).unwrap();
        assert_eq!((t.from, t.to), (State::Draining, State::Drained));
        assert_eq!(c.next_deadline(), None);
        assert!(c.in_maintenance());
        // checks keep running while drained
        assert_eq!(c.observe(t0 + DRAIN, true, "ok"), None);
        let t = c.set_maintenance(t0 + DRAIN * 2, false).unwrap();
        assert_eq!((t.from, t.to), (State::Drained, State::Healthy));
        assert!(t.reason.starts_with("maintenance ended"), "{}", t.reason);
        assert!(!c.in_maintenance());
    }

    #[test]
    fn maintenance_removed_while_draining_goes_back_at_once() {
        let t0 = Instant::now();
        let mut c = core();
        healthy(&mut c, t0);
        c.set_maintenance(t0, true);
        let t = c.set_maintenance(t0 + DRAIN / 4, false).unwrap();
        assert_eq!((t.from, t.to), (State::Draining, State::Healthy));
        // and a new maintenance drains for the whole time again
        c.set_maintenance(t0 + DRAIN, true);
        assert_eq!(c.state(), State::Draining);
        assert_eq!(c.next_deadline(), Some(t0 + DRAIN * 2));
    }

    #[test]
    fn maintenance_when_not_announced_is_drained_at_once() {
        let t0 = Instant::now();
        let mut c = core();
        let t = c.set_maintenance(t0, true).unwrap();
        assert_eq!((t.from, t.to), (State::Starting, State::Drained));
        // checks that pass do not announce while drained
        assert_eq!(c.observe(t0, true, "ok"), None);
        assert_eq!(c.observe(t0, true, "ok"), None);
        assert_eq!(c.state(), State::Drained);
        // removing the file: the checks already passed
        let t = c.set_maintenance(t0, false).unwrap();
        assert_eq!(t.to, State::Healthy);

        // zero drain: no draining phase
        let mut c = Core::new(1, 1, Duration::ZERO, "m");
        c.observe(t0, true, "ok");
        let t = c.set_maintenance(t0, true).unwrap();
        assert_eq!((t.from, t.to), (State::Healthy, State::Drained));
    }

    #[test]
    fn dns_failure_while_draining_withdraws_at_once() {
        let t0 = Instant::now();
        let mut c = core();
        healthy(&mut c, t0);
        c.set_maintenance(t0, true);
        assert_eq!(c.observe(t0, false, "bad"), None);
        let t = c.observe(t0, false, "bad").unwrap();
        assert_eq!((t.from, t.to), (State::Draining, State::Drained));
        // unhealthy when the file goes
        let t = c.set_maintenance(t0, false).unwrap();
        assert_eq!(t.to, State::Unhealthy);
        assert!(t.reason.contains("bad"), "{}", t.reason);
    }

    #[test]
    fn dead_listener_is_unhealthy_at_once_and_for_good() {
        let t0 = Instant::now();
        let mut c = core();
        healthy(&mut c, t0);
        let t = c
            .listener_died(t0, "UDP listener 127.0.0.1:53 worker 0 exited")
            .unwrap();
        assert_eq!((t.from, t.to), (State::Healthy, State::Unhealthy));
        assert!(t.reason.contains("UDP listener"));
        for _ in 0..5 {
            assert_eq!(c.observe(t0, true, "ok"), None);
        }
        assert_eq!(c.set_maintenance(t0, true), None);
        assert_eq!(c.state(), State::Unhealthy);
        // a second death does not change the reason
        assert_eq!(c.listener_died(t0, "other"), None);
        assert!(c.reason().contains("UDP listener"));
    }

    #[test]
    fn a_stuck_worker_fails_at_once_holds_whatever_the_probes_say_then_rises() {
        let t0 = Instant::now();
        let mut c = core();
        healthy(&mut c, t0);
        let why = "UDP worker udp-0 on 127.0.0.1:53 made no progress for 2.0 s with 4 KiB of datagrams waiting";
        let t = c.set_stuck(t0, Some(why)).expect("unhealthy at once");
        assert_eq!(
            (t.from, t.to, t.reason.as_str()),
            (State::Healthy, State::Unhealthy, why)
        );
        assert_eq!(c.stuck(), Some(why));
        // the probe lands on the other worker half the time: no flapping
        for ok in [true, true, false, true, true, true, false, true] {
            assert_eq!(c.observe(t0, ok, "all checks pass"), None);
            assert_eq!((c.state(), c.reason()), (State::Unhealthy, why));
        }
        // seen stuck again: nothing new
        assert_eq!(c.set_stuck(t0, Some(why)), None);
        // released: still unhealthy until `rise` good checks
        assert_eq!(c.set_stuck(t0, None), None);
        assert_eq!(c.stuck(), None);
        assert_eq!(c.observe(t0, true, "all checks pass"), None);
        let t = c.observe(t0, true, "all checks pass").expect("healthy after rise");
        assert_eq!((t.from, t.to), (State::Unhealthy, State::Healthy));
    }

    #[test]
    fn a_stuck_worker_names_itself_when_the_probes_withdrew_first() {
        let t0 = Instant::now();
        let mut c = core();
        healthy(&mut c, t0);
        c.observe(t0, false, "probe example.com SOA via 127.0.0.1:53: timed out");
        c.observe(t0, false, "probe example.com SOA via 127.0.0.1:53: timed out");
        assert_eq!(c.state(), State::Unhealthy);
        let t = c.set_stuck(t0, Some("UDP worker udp-0 stuck")).expect("a new reason");
        assert_eq!(
            (t.from, t.to, t.reason.as_str()),
            (State::Unhealthy, State::Unhealthy, "UDP worker udp-0 stuck")
        );
        assert_eq!(c.reason(), "UDP worker udp-0 stuck");
        assert_eq!(c.set_stuck(t0, Some("UDP worker udp-0 stuck")), None);
        // a dead listener keeps its own reason
        let mut c = core();
        c.listener_died(t0, "UDP listener died");
        assert_eq!(c.set_stuck(t0, Some("stuck")), None);
        assert_eq!(c.reason(), "UDP listener died");
    }

    #[test]
    fn a_stuck_worker_while_starting_or_draining_withdraws() {
        let t0 = Instant::now();
        let mut c = core();
        let t = c.set_stuck(t0, Some("stuck")).expect("a transition");
        assert_eq!((t.from, t.to), (State::Starting, State::Unhealthy));
        let mut c = core();
        healthy(&mut c, t0);
        c.set_maintenance(t0, true);
        let t = c.set_stuck(t0, Some("stuck")).expect("a transition");
        assert_eq!((t.from, t.to), (State::Draining, State::Drained));
        // a stuck worker is not a dead listener: maintenance ended and
        // released, the checks decide again
        c.set_stuck(t0, None);
        let t = c.set_maintenance(t0, false).expect("a transition");
        assert_eq!(t.to, State::Unhealthy);
        c.observe(t0, true, "ok");
        assert_eq!(c.observe(t0, true, "ok").map(|t| t.to), Some(State::Healthy));
    }

    #[test]
    fn force_unhealthy_counts_as_fall_bad_checks() {
        let mut h = Hysteresis::new(2, 3);
        feed(&mut h, &[true, true]);
        assert_eq!(h.force_unhealthy(), Some(Verdict::Unhealthy));
        assert_eq!((h.ok_run(), h.fail_run()), (0, 3));
        assert_eq!(h.force_unhealthy(), None);
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(true), Some(Verdict::Healthy));
    }

    #[test]
    fn stopping_overrides_everything() {
        let t0 = Instant::now();
        let mut c = core();
        healthy(&mut c, t0);
        c.set_maintenance(t0, true);
        let t = c.stopping(t0, "SIGTERM").unwrap();
        assert_eq!((t.from, t.to), (State::Draining, State::Stopping));
        assert_eq!(c.tick(t0 + DRAIN * 2), None);
        assert_eq!(c.set_maintenance(t0, false), None);
        assert_eq!(c.listener_died(t0, "x"), None);
        assert_eq!(c.observe(t0, false, "bad"), None);
        assert_eq!(c.observe(t0, false, "bad"), None);
        assert_eq!(c.state(), State::Stopping);
        assert_eq!(c.reason(), "SIGTERM");
        assert_eq!(c.stopping(t0, "SIGINT"), None);
    }
}

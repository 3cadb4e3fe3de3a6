//! The refresh state machine of one secondary zone, without I/O.
//!
//! One event enum per zone (Load, Refresh, Notify, Expire, Flush, plus the
//! results of the SOA checks and transfers it asked for), one handler each,
//! as Knot DNS organises its zone events. [`Secondary::handle`] returns the
//! actions for the I/O task to carry out; timers are plain instants the task
//! turns into sleeps. RFC 1996 (NOTIFY), RFC 1982 (serials) and the SOA
//! refresh/retry/expire timers of RFC 1035 section 4.3.5, clamped by the
//! config and with jitter against synchronised refresh storms.

use std::time::{Duration, Instant};

use crate::config::TimerLimits;

/// RFC 1982 serial comparison: true if `a` is newer than `b`.
pub fn serial_gt(a: u32, b: u32) -> bool {
    a != b && (a.wrapping_sub(b) as i32) > 0
}

/// Which transfer to ask a primary for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferKind {
    /// IXFR from the serial we hold (RFC 1995).
    Ixfr { from: u32 },
    /// Whole zone (RFC 5936).
    Axfr,
}

/// Why a transfer did not give a new version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferFailure {
    /// The primary cannot serve an IXFR from our serial (refused, NOTIMP,
    /// or a diff that does not apply): fall back to AXFR from the same primary.
    IxfrUnavailable(String),
    /// The primary has no IXFR at all (it answered one with only its newer
    /// SOA): AXFR now, and from this primary only AXFR from now on.
    IxfrUnsupported(String),
    /// Anything else: timeout, connection, TSIG, malformed or invalid zone.
    Failed(String),
    /// The primary transferred serial `.0`, not newer than the version
    /// served (although its SOA said there was a newer one).
    Stale(u32),
    /// The version came but could not be written to disk here (disk full,
    /// read-only, I/O error), so it is not served. Not the primary's fault:
    /// the same primary is asked again after a backoff.
    Local(String),
}

/// Inputs to the state machine.
#[derive(Clone, Debug)]
pub enum Event {
    /// Start-up: `serial` and timers of the version loaded from disk, if any.
    Load {
        serial: Option<u32>,
        expire_at: Option<Instant>,
        /// The SOA timers of that version (its refresh and retry apply
        /// until a primary answers).
        timers: Option<SoaTimers>,
    },
    /// Check the primaries now (timer, operator, or after a NOTIFY).
    Refresh,
    /// A NOTIFY from an allowed source; the serial it announced, if any.
    Notify { serial: Option<u32> },
    /// The expire timer fired (also checked on every event).
    Expire,
    /// The zone is being removed: stop everything.
    Flush,
    /// Result of a SOA query to `primaries[primary]`: serial and timers.
    SoaResult {
        primary: usize,
        result: Result<SoaTimers, String>,
    },
    /// Result of a transfer from `primaries[primary]`.
    TransferResult {
        primary: usize,
        kind: TransferKind,
        result: Result<SoaTimers, TransferFailure>,
    },
}

/// The SOA values that drive the timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoaTimers {
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
}

/// What the I/O task must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Ask `primaries[primary]` for the zone's SOA.
    QuerySoa { primary: usize },
    /// Transfer the zone from `primaries[primary]`; on success the task
    /// validates, publishes and persists the new version before reporting.
    Transfer { primary: usize, kind: TransferKind },
    /// Past expire: answer SERVFAIL and report unhealthy until refreshed.
    MarkExpired,
    /// A primary answered again after expiry: serve again.
    MarkFresh,
    /// Wake the state machine at this instant with [`Event::Refresh`] or
    /// [`Event::Expire`] (whichever is due; see [`Secondary::next_wakeup`]).
    Wakeup(Instant),
    /// Log line for the operator.
    Log(String),
    /// A primary confirmed the version with this serial: it now expires
    /// after `expire_in` (already clamped). Persist it for restarts.
    Confirmed { serial: u32, expire_in: Duration },
    /// `primaries[primary]` serves serial `theirs`, older than the `ours`
    /// we serve: not a confirmation (the zone keeps counting towards
    /// expiry, RFC 1996 section 4.7 / RFC 1034 section 4.3.5).
    PrimaryBehind { primary: usize, theirs: u32, ours: u32 },
    /// `primaries[primary]` announced serial `claimed` in its SOA, then
    /// transferred the older `delivered`.
    PrimaryContradicts {
        primary: usize,
        claimed: u32,
        delivered: u32,
    },
}

/// What the zone is doing right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Busy {
    Idle,
    Soa { primary: usize },
    Transfer { primary: usize, kind: TransferKind },
}

/// State of one secondary zone.
#[derive(Debug)]
pub struct Secondary {
    primaries: usize,
    limits: TimerLimits,
    serial: Option<u32>,
    timers: Option<SoaTimers>,
    busy: Busy,
    /// A NOTIFY or refresh arrived while busy: check again when done.
    again: bool,
    refresh_at: Option<Instant>,
    expire_at: Option<Instant>,
    expired: bool,
    flushed: bool,
    /// Which primary gave the version being served.
    pub source: Option<usize>,
    jitter_seed: u64,
    /// The serial the primary being transferred from announced in its SOA.
    claimed: Option<u32>,
    /// Rounds in a row that ended in a costly failure (a primary that
    /// contradicts itself, a version that could not be written): the next
    /// round waits the retry time doubled this many times.
    backoff: u32,
    /// The current round hit such a failure.
    costly: bool,
    /// A round asked every primary and none gave a version.
    round_failed: bool,
    /// A primary answered in the current round (an SOA, or an error RCODE:
    /// it is up, whether or not it has a usable copy).
    heard: bool,
    /// The last round that failed heard from no primary (silence, or a
    /// failure of our own disk): see [`Secondary::primaries_silent`].
    silent: bool,
    /// Primaries (by index, the first 64) that have no IXFR: asked for AXFR.
    axfr_only: u64,
}

/// The bit of primary `i` in a set of the first 64 primaries.
fn bit(i: usize) -> u64 {
    if i < 64 { 1 << i } else { 0 }
}

/// The retry time is doubled at most this many times.
const MAX_BACKOFF_DOUBLINGS: u32 = 8;

impl Secondary {
    /// A zone with `primaries` primaries (tried in order).
    pub fn new(primaries: usize, limits: TimerLimits, jitter_seed: u64) -> Secondary {
        Secondary {
            primaries,
            limits,
            serial: None,
            timers: None,
            busy: Busy::Idle,
            again: false,
            refresh_at: None,
            expire_at: None,
            expired: false,
            flushed: false,
            source: None,
            jitter_seed: jitter_seed | 1,
            claimed: None,
            backoff: 0,
            costly: false,
            round_failed: false,
            heard: false,
            silent: false,
            axfr_only: 0,
        }
    }

    pub fn serial(&self) -> Option<u32> {
        self.serial
    }

    /// Whether a round of asking the primaries has ended without success
    /// (every primary tried), at least once.
    pub fn has_failed_a_round(&self) -> bool {
        self.round_failed
    }

    /// Whether the last round that ended without a version heard from no
    /// primary at all (no answer, no connection), or failed on our own disk:
    /// the node's failure, not the zone's. False after a round in which a
    /// primary answered, even with an error (SERVFAIL from a hub whose copy
    /// expired too, REFUSED): the primaries are up, the zone failed there.
    /// Health counts only silent failures towards "cut off".
    pub fn primaries_silent(&self) -> bool {
        self.round_failed && self.silent
    }

    /// No round of SOA checks and transfers under way, and none asked for
    /// (by a NOTIFY or refresh that came during the last one).
    pub fn is_idle(&self) -> bool {
        self.busy == Busy::Idle && !self.again
    }

    pub fn is_expired(&self) -> bool {
        self.expired
    }

    pub fn expire_at(&self) -> Option<Instant> {
        self.expire_at
    }

    /// The timer clamps this zone runs with.
    pub fn limits(&self) -> &TimerLimits {
        &self.limits
    }

    /// The earliest instant the machine wants an event.
    pub fn next_wakeup(&self) -> Option<Instant> {
        match (self.refresh_at, self.expire_at.filter(|_| !self.expired)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles one event at `now`.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        if self.flushed {
            return out;
        }
        match event {
            Event::Load {
                serial,
                expire_at,
                timers,
            } => self.on_load(now, serial, expire_at, timers, &mut out),
            Event::Refresh => self.on_refresh(now, &mut out),
            Event::Notify { serial } => self.on_notify(now, serial, &mut out),
            Event::Expire => {}
            Event::Flush => {
                self.flushed = true;
                self.refresh_at = None;
                self.expire_at = None;
                return out;
            }
            Event::SoaResult { primary, result } => self.on_soa(now, primary, result, &mut out),
            Event::TransferResult { primary, kind, result } => self.on_transfer(now, primary, kind, result, &mut out),
        }
        self.check_expire(now, &mut out);
        if let Some(at) = self.next_wakeup() {
            out.push(Action::Wakeup(at));
        }
        out
    }

    fn on_load(
        &mut self,
        now: Instant,
        serial: Option<u32>,
        expire_at: Option<Instant>,
        timers: Option<SoaTimers>,
        out: &mut Vec<Action>,
    ) {
        self.serial = serial;
        self.expire_at = expire_at;
        self.timers = timers;
        // Served from disk at once. The refresh timer resumes where it was
        // (as Knot and NSD keep theirs): the last confirmation is expire_at
        // minus the expire interval, the next check one refresh interval
        // after it. Without that record, ask the primaries straight away.
        let due = match (serial, expire_at, timers) {
            (Some(_), Some(exp), Some(t)) if exp > now => exp
                .checked_sub(self.limits.expire(t.expire))
                .map(|confirmed| confirmed + self.limits.refresh(t.refresh)),
            _ => None,
        };
        match due {
            Some(at) if at > now => self.refresh_at = Some(at),
            _ => self.on_refresh(now, out),
        }
    }

    fn on_notify(&mut self, now: Instant, serial: Option<u32>, out: &mut Vec<Action>) {
        if let (Some(announced), Some(have)) = (serial, self.serial)
            && !serial_gt(announced, have)
            && !self.expired
        {
            out.push(Action::Log(format!("NOTIFY for serial {announced}, already at {have}")));
            return;
        }
        self.on_refresh(now, out);
    }

    fn on_refresh(&mut self, _now: Instant, out: &mut Vec<Action>) {
        if self.busy != Busy::Idle {
            // A burst of NOTIFYs gives one more check, not one each.
            self.again = true;
            return;
        }
        if self.primaries == 0 {
            return;
        }
        self.refresh_at = None;
        self.costly = false;
        self.heard = false;
        self.busy = Busy::Soa { primary: 0 };
        out.push(Action::QuerySoa { primary: 0 });
    }

    fn on_soa(&mut self, now: Instant, primary: usize, result: Result<SoaTimers, String>, out: &mut Vec<Action>) {
        if self.busy != (Busy::Soa { primary }) {
            return;
        }
        if result.as_ref().map_or_else(|e| !super::client::is_silent(e), |_| true) {
            self.heard = true;
        }
        match result {
            Ok(soa) => match self.serial {
                Some(have) if soa.serial == have => {
                    // Up to date: the primary vouched for our version.
                    self.busy = Busy::Idle;
                    self.fresh(now, soa, out);
                    self.source.get_or_insert(primary);
                    self.done(now, out);
                }
                Some(have) if serial_gt(have, soa.serial) => {
                    // Older than ours (it lost its data, or was restored
                    // from a backup): no confirmation; the next primary,
                    // or the retry timer, and in the end expiry.
                    out.push(Action::PrimaryBehind {
                        primary,
                        theirs: soa.serial,
                        ours: have,
                    });
                    self.next_primary(now, primary, out);
                }
                Some(have) => {
                    self.claimed = Some(soa.serial);
                    let kind = if self.axfr_only & bit(primary) != 0 {
                        TransferKind::Axfr
                    } else {
                        TransferKind::Ixfr { from: have }
                    };
                    self.start_transfer(primary, kind, out)
                }
                None => {
                    self.claimed = Some(soa.serial);
                    self.start_transfer(primary, TransferKind::Axfr, out)
                }
            },
            Err(why) => {
                out.push(Action::Log(format!("SOA query to primary {primary} failed: {why}")));
                self.next_primary(now, primary, out);
            }
        }
    }

    fn start_transfer(&mut self, primary: usize, kind: TransferKind, out: &mut Vec<Action>) {
        self.busy = Busy::Transfer { primary, kind };
        out.push(Action::Transfer { primary, kind });
    }

    fn on_transfer(
        &mut self,
        now: Instant,
        primary: usize,
        kind: TransferKind,
        result: Result<SoaTimers, TransferFailure>,
        out: &mut Vec<Action>,
    ) {
        if self.busy != (Busy::Transfer { primary, kind }) {
            return;
        }
        let claimed = self.claimed.take();
        match result {
            Ok(soa) if claimed.is_some_and(|c| serial_gt(c, soa.serial)) => {
                // What it transferred is older than what its SOA said: not
                // the version it announced. Whatever came (if newer than
                // ours, it is served) does not count as a confirmation, and
                // asking again at once would fetch the same stale copy.
                if self.serial.is_none_or(|have| serial_gt(soa.serial, have)) {
                    self.serial = Some(soa.serial);
                    self.source = Some(primary);
                }
                out.push(Action::PrimaryContradicts {
                    primary,
                    claimed: claimed.unwrap_or(soa.serial),
                    delivered: soa.serial,
                });
                self.costly = true;
                self.next_primary(now, primary, out);
            }
            Ok(soa) => {
                self.busy = Busy::Idle;
                self.serial = Some(soa.serial);
                self.source = Some(primary);
                self.fresh(now, soa, out);
                self.done(now, out);
            }
            Err(TransferFailure::Stale(delivered)) => {
                out.push(Action::PrimaryContradicts {
                    primary,
                    claimed: claimed.unwrap_or(delivered),
                    delivered,
                });
                self.costly = true;
                self.next_primary(now, primary, out);
            }
            Err(TransferFailure::Local(why)) => {
                // Our disk, not the primary: wait, then the same round again.
                // A node-level failure: counted as silent.
                out.push(Action::Log(format!(
                    "new version from primary {primary} not served: {why}"
                )));
                self.costly = true;
                self.heard = false;
                self.end_round(now);
            }
            Err(TransferFailure::IxfrUnsupported(_)) if matches!(kind, TransferKind::Ixfr { .. }) => {
                self.axfr_only |= bit(primary);
                self.claimed = claimed;
                self.start_transfer(primary, TransferKind::Axfr, out);
            }
            Err(TransferFailure::IxfrUnavailable(why)) if matches!(kind, TransferKind::Ixfr { .. }) => {
                out.push(Action::Log(format!(
                    "IXFR from primary {primary} not usable ({why}); trying AXFR"
                )));
                self.claimed = claimed;
                self.start_transfer(primary, TransferKind::Axfr, out);
            }
            Err(
                TransferFailure::IxfrUnavailable(why)
                | TransferFailure::IxfrUnsupported(why)
                | TransferFailure::Failed(why),
            ) => {
                out.push(Action::Log(format!("transfer from primary {primary} failed: {why}")));
                self.next_primary(now, primary, out);
            }
        }
    }

    /// Tries the next primary, or waits for the retry timer.
    fn next_primary(&mut self, now: Instant, failed: usize, out: &mut Vec<Action>) {
        if failed + 1 < self.primaries {
            self.busy = Busy::Soa { primary: failed + 1 };
            out.push(Action::QuerySoa { primary: failed + 1 });
            return;
        }
        self.end_round(now);
    }

    /// Every primary failed this round: wait for the retry timer, doubled
    /// for every costly round in a row (at most up to the refresh time).
    fn end_round(&mut self, now: Instant) {
        self.busy = Busy::Idle;
        self.round_failed = true;
        self.silent = !self.heard;
        let (retry, refresh) = match self.timers {
            Some(t) => (self.limits.retry(t.retry), self.limits.refresh(t.refresh)),
            None => (self.limits.retry_min, self.limits.refresh_min),
        };
        let wait = if std::mem::take(&mut self.costly) {
            self.backoff = (self.backoff + 1).min(MAX_BACKOFF_DOUBLINGS);
            retry.saturating_mul(1 << (self.backoff - 1)).min(refresh.max(retry))
        } else {
            retry
        };
        self.refresh_at = Some(now + self.jitter(wait));
        if self.again && self.backoff == 0 {
            self.again = false;
            self.refresh_at = Some(now);
        }
    }

    /// A primary confirmed the version we serve: reset refresh and expire.
    fn fresh(&mut self, now: Instant, soa: SoaTimers, out: &mut Vec<Action>) {
        self.timers = Some(soa);
        self.backoff = 0;
        self.silent = false;
        self.refresh_at = Some(now + self.jitter(self.limits.refresh(soa.refresh)));
        let expire_in = self.limits.expire(soa.expire);
        self.expire_at = Some(now + expire_in);
        if let Some(serial) = self.serial {
            out.push(Action::Confirmed { serial, expire_in });
        }
        if self.expired {
            self.expired = false;
            out.push(Action::MarkFresh);
        }
    }

    fn done(&mut self, now: Instant, out: &mut Vec<Action>) {
        if std::mem::take(&mut self.again) {
            self.on_refresh(now, out);
        }
    }

    fn check_expire(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.expired
            && let Some(at) = self.expire_at
            && now >= at
        {
            self.expired = true;
            out.push(Action::MarkExpired);
            out.push(Action::Log(
                "zone expired: no primary confirmed it within the SOA expire time".into(),
            ));
        }
    }

    /// Up to 10% less than `d`, deterministic per zone (xorshift).
    fn jitter(&mut self, d: Duration) -> Duration {
        let mut x = self.jitter_seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter_seed = x;
        let tenth = d.as_millis() as u64 / 10;
        if tenth == 0 {
            return d;
        }
        d - Duration::from_millis(x % tenth)
    }
}

#[cfg(test)]
#[path = "refresh_tests.rs"]
mod tests;

//! Tests of the refresh state machine.

use super::*;

fn soa(serial: u32) -> SoaTimers {
    SoaTimers {
        serial,
        refresh: 60,
        retry: 10,
        expire: 100,
    }
}

fn zone(primaries: usize) -> Secondary {
    Secondary::new(primaries, TimerLimits::default(), 42)
}

#[test]
fn load_resumes_the_refresh_timer() {
    let t0 = Instant::now();
    // Confirmed 20 s ago (expire 100 s, so it expires in 80 s); refresh
    // is 60 s: the next check is due in 40 s, not now.
    let mut z = zone(1);
    let a = z.handle(
        t0,
        Event::Load {
            serial: Some(5),
            expire_at: Some(t0 + Duration::from_secs(80)),
            timers: Some(soa(5)),
        },
    );
    assert_eq!(a, vec![Action::Wakeup(t0 + Duration::from_secs(40))]);
    // Past its refresh time: asked at once.
    let mut z = zone(1);
    let a = z.handle(
        t0,
        Event::Load {
            serial: Some(5),
            expire_at: Some(t0 + Duration::from_secs(30)),
            timers: Some(soa(5)),
        },
    );
    assert_eq!(a[0], Action::QuerySoa { primary: 0 });
    // Its retry is the version's own (10 s), not retry-min.
    let a = z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Err("timeout".into()),
        },
    );
    let wake = a.iter().find_map(|x| match x {
        Action::Wakeup(at) => Some(*at),
        _ => None,
    });
    assert!(
        wake.is_some_and(|w| w >= t0 + Duration::from_secs(8) && w <= t0 + Duration::from_secs(10)),
        "{a:?}"
    );
}

#[test]
fn serial_arithmetic_wraps() {
    assert!(serial_gt(2, 1));
    assert!(serial_gt(0, u32::MAX));
    assert!(!serial_gt(1, 1));
    assert!(!serial_gt(1, 2));
    assert!(serial_gt(0x7fff_ffff, 0));
    assert!(!serial_gt(0, 0x7fff_ffff));
}

#[test]
fn empty_zone_transfers_axfr_then_refreshes() {
    let t0 = Instant::now();
    let mut z = zone(1);
    let a = z.handle(
        t0,
        Event::Load {
            serial: None,
            expire_at: None,
            timers: None,
        },
    );
    assert_eq!(a[0], Action::QuerySoa { primary: 0 });
    let a = z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(5)),
        },
    );
    assert_eq!(
        a[0],
        Action::Transfer {
            primary: 0,
            kind: TransferKind::Axfr
        }
    );
    let a = z.handle(
        t0,
        Event::TransferResult {
            primary: 0,
            kind: TransferKind::Axfr,
            result: Ok(soa(5)),
        },
    );
    assert_eq!(z.serial(), Some(5));
    assert!(matches!(a.last(), Some(Action::Wakeup(_))));
    let wake = z.next_wakeup().unwrap();
    assert!(wake > t0 + Duration::from_secs(53) && wake <= t0 + Duration::from_secs(60));
}

#[test]
fn ixfr_falls_back_to_axfr_then_next_primary() {
    let t0 = Instant::now();
    let mut z = zone(2);
    z.handle(
        t0,
        Event::Load {
            serial: Some(5),
            expire_at: None,
            timers: None,
        },
    );
    let a = z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(6)),
        },
    );
    assert_eq!(
        a[0],
        Action::Transfer {
            primary: 0,
            kind: TransferKind::Ixfr { from: 5 }
        }
    );
    let a = z.handle(
        t0,
        Event::TransferResult {
            primary: 0,
            kind: TransferKind::Ixfr { from: 5 },
            result: Err(TransferFailure::IxfrUnavailable("NOTIMP".into())),
        },
    );
    assert!(a.contains(&Action::Transfer {
        primary: 0,
        kind: TransferKind::Axfr
    }));
    let a = z.handle(
        t0,
        Event::TransferResult {
            primary: 0,
            kind: TransferKind::Axfr,
            result: Err(TransferFailure::Failed("reset".into())),
        },
    );
    assert!(a.contains(&Action::QuerySoa { primary: 1 }));
    assert_eq!(z.serial(), Some(5), "the old version stays");
}

#[test]
fn notify_burst_gives_one_more_check() {
    let t0 = Instant::now();
    let mut z = zone(1);
    z.handle(
        t0,
        Event::Load {
            serial: Some(1),
            expire_at: None,
            timers: None,
        },
    );
    for _ in 0..10 {
        let a = z.handle(t0, Event::Notify { serial: Some(2) });
        assert!(!a.iter().any(|x| matches!(x, Action::QuerySoa { .. })));
    }
    let a = z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(1)),
        },
    );
    let checks = a.iter().filter(|x| matches!(x, Action::QuerySoa { .. })).count();
    assert_eq!(checks, 1);
}

/// The engine keeps a NOTIFY marker on disk while `is_idle` is false: not
/// idle from the NOTIFY on, through the extra check a NOTIFY during a
/// round asks for, until the last round ends.
#[test]
fn idle_only_once_the_notified_rounds_ended() {
    let t0 = Instant::now();
    let mut z = zone(1);
    z.handle(
        t0,
        Event::Load {
            serial: Some(1),
            expire_at: Some(t0 + Duration::from_secs(80)),
            timers: Some(soa(1)),
        },
    );
    assert!(z.is_idle(), "timer resumed, nothing asked");
    z.handle(t0, Event::Notify { serial: Some(1) });
    assert!(z.is_idle(), "a NOTIFY for the serial held starts nothing");
    z.handle(t0, Event::Notify { serial: Some(2) });
    assert!(!z.is_idle());
    // Another NOTIFY during the SOA check: one more check after it.
    z.handle(t0, Event::Notify { serial: Some(3) });
    let a = z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(1)),
        },
    );
    assert!(a.iter().any(|x| matches!(x, Action::Confirmed { .. })));
    assert!(!z.is_idle(), "confirmed, but the second NOTIFY's check is due");
    z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(3)),
        },
    );
    assert!(!z.is_idle(), "transferring");
    let a = z.handle(
        t0,
        Event::TransferResult {
            primary: 0,
            kind: TransferKind::Ixfr { from: 1 },
            result: Ok(soa(3)),
        },
    );
    assert!(a.iter().any(|x| matches!(x, Action::Confirmed { serial: 3, .. })));
    assert!(z.is_idle());
}

#[test]
fn expires_and_recovers() {
    let t0 = Instant::now();
    let mut z = zone(1);
    z.handle(
        t0,
        Event::Load {
            serial: Some(1),
            expire_at: Some(t0 + Duration::from_secs(10)),
            timers: None,
        },
    );
    z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Err("timeout".into()),
        },
    );
    let later = t0 + Duration::from_secs(11);
    let a = z.handle(later, Event::Expire);
    assert!(a.contains(&Action::MarkExpired));
    assert!(z.is_expired());
    let a = z.handle(later, Event::Refresh);
    assert!(a.contains(&Action::QuerySoa { primary: 0 }));
    let a = z.handle(
        later,
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(1)),
        },
    );
    assert!(a.contains(&Action::MarkFresh));
    assert!(!z.is_expired());
}

#[test]
fn stale_results_are_ignored_and_flush_stops() {
    let t0 = Instant::now();
    let mut z = zone(1);
    z.handle(
        t0,
        Event::Load {
            serial: Some(1),
            expire_at: None,
            timers: None,
        },
    );
    let a = z.handle(
        t0,
        Event::TransferResult {
            primary: 0,
            kind: TransferKind::Axfr,
            result: Ok(soa(9)),
        },
    );
    assert_eq!(z.serial(), Some(1));
    assert!(!a.iter().any(|x| matches!(x, Action::Transfer { .. })));
    assert!(z.handle(t0, Event::Flush).is_empty());
    assert!(z.handle(t0, Event::Refresh).is_empty());
}

/// The wake-up among `actions`.
fn wake(actions: &[Action]) -> Option<Instant> {
    actions.iter().find_map(|x| match x {
        Action::Wakeup(at) => Some(*at),
        _ => None,
    })
}

/// A zone holding serial 5, loaded at `t0` and expiring `expire` seconds
/// later, whose SOA check is under way.
fn holding_five(t0: Instant, primaries: usize, expire: u64) -> Secondary {
    let mut z = zone(primaries);
    z.handle(
        t0,
        Event::Load {
            serial: Some(5),
            expire_at: Some(t0 + Duration::from_secs(expire)),
            timers: Some(soa(5)),
        },
    );
    z.handle(t0, Event::Refresh);
    z
}

#[test]
fn an_older_primary_is_no_confirmation_and_the_zone_expires() {
    let t0 = Instant::now();
    let mut z = holding_five(t0, 2, 100);
    let a = z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(3)),
        },
    );
    assert_eq!(
        a[..2],
        [
            Action::PrimaryBehind {
                primary: 0,
                theirs: 3,
                ours: 5
            },
            Action::QuerySoa { primary: 1 }
        ]
    );
    assert!(!a.iter().any(|x| matches!(x, Action::Confirmed { .. })));
    // The second is behind too: retry, and the expire timer still runs.
    let a = z.handle(
        t0,
        Event::SoaResult {
            primary: 1,
            result: Ok(soa(4)),
        },
    );
    assert!(!a.iter().any(|x| matches!(x, Action::Confirmed { .. })));
    let w = wake(&a).unwrap();
    assert!(
        w > t0 + Duration::from_secs(8) && w <= t0 + Duration::from_secs(10),
        "{a:?}"
    );
    assert_eq!(z.expire_at(), Some(t0 + Duration::from_secs(100)));
    let a = z.handle(t0 + Duration::from_secs(100), Event::Expire);
    assert!(a.contains(&Action::MarkExpired));
    // The same serial as ours is a confirmation.
    z.handle(t0 + Duration::from_secs(101), Event::Refresh);
    let a = z.handle(
        t0 + Duration::from_secs(101),
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(5)),
        },
    );
    assert!(a.contains(&Action::MarkFresh), "{a:?}");
}

#[test]
fn a_primary_whose_transfer_is_older_than_its_soa_is_backed_off() {
    let t0 = Instant::now();
    let mut z = holding_five(t0, 1, 1000);
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..4 {
        let a = z.handle(
            now,
            Event::SoaResult {
                primary: 0,
                result: Ok(soa(7)),
            },
        );
        assert_eq!(
            a[0],
            Action::Transfer {
                primary: 0,
                kind: TransferKind::Ixfr { from: 5 }
            }
        );
        // It sends serial 5 again (an IXFR with only its SOA).
        let a = z.handle(
            now,
            Event::TransferResult {
                primary: 0,
                kind: TransferKind::Ixfr { from: 5 },
                result: Ok(soa(5)),
            },
        );
        assert!(a.contains(&Action::PrimaryContradicts {
            primary: 0,
            claimed: 7,
            delivered: 5
        }));
        assert!(!a.iter().any(|x| matches!(x, Action::Confirmed { .. })), "{a:?}");
        let w = wake(&a).unwrap();
        waits.push(w - now);
        now = w;
        z.handle(now, Event::Refresh);
    }
    // retry (10 s, minus up to 10 % jitter), then doubled each round.
    let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
    assert!(
        waits[0] <= Duration::from_secs(10) && waits[0] > Duration::from_secs(8),
        "{secs:?}"
    );
    assert!(
        waits[1] > Duration::from_secs(17) && waits[1] <= Duration::from_secs(20),
        "{secs:?}"
    );
    // capped at the refresh time (60 s)
    assert!(
        waits[3] <= Duration::from_secs(60) && waits[3] > Duration::from_secs(50),
        "{secs:?}"
    );
    // A good transfer ends the backoff.
    z.handle(
        now,
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(7)),
        },
    );
    let a = z.handle(
        now,
        Event::TransferResult {
            primary: 0,
            kind: TransferKind::Ixfr { from: 5 },
            result: Ok(soa(7)),
        },
    );
    assert!(a.iter().any(|x| matches!(x, Action::Confirmed { serial: 7, .. })));
    assert_eq!(z.serial(), Some(7));
}

#[test]
fn a_version_not_written_is_retried_from_the_same_primary_with_backoff() {
    let t0 = Instant::now();
    let mut z = holding_five(t0, 2, 1000);
    z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(6)),
        },
    );
    let a = z.handle(
        t0,
        Event::TransferResult {
            primary: 0,
            kind: TransferKind::Ixfr { from: 5 },
            result: Err(TransferFailure::Local("disk full".into())),
        },
    );
    // Not the next primary: our disk is the problem.
    assert!(!a.iter().any(|x| matches!(x, Action::QuerySoa { .. })), "{a:?}");
    assert_eq!(z.serial(), Some(5));
    let first = wake(&a).unwrap() - t0;
    let now = t0 + first;
    z.handle(now, Event::Refresh);
    z.handle(
        now,
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(6)),
        },
    );
    let a = z.handle(
        now,
        Event::TransferResult {
            primary: 0,
            kind: TransferKind::Ixfr { from: 5 },
            result: Err(TransferFailure::Local("disk full".into())),
        },
    );
    let second = wake(&a).unwrap() - now;
    assert!(second > first + Duration::from_secs(5), "{first:?} then {second:?}");
}

#[test]
fn a_round_fails_only_once_every_primary_was_asked() {
    let t0 = Instant::now();
    let mut z = zone(2);
    z.handle(
        t0,
        Event::Load {
            serial: None,
            expire_at: None,
            timers: None,
        },
    );
    z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Err("timeout".into()),
        },
    );
    assert!(!z.has_failed_a_round(), "the second primary is still to be asked");
    z.handle(
        t0,
        Event::SoaResult {
            primary: 1,
            result: Err("refused".into()),
        },
    );
    assert!(z.has_failed_a_round());
}

#[test]
fn a_primary_without_ixfr_is_asked_for_axfr_from_then_on() {
    let t0 = Instant::now();
    let mut z = holding_five(t0, 1, 1000);
    z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(6)),
        },
    );
    let a = z.handle(
        t0,
        Event::TransferResult {
            primary: 0,
            kind: TransferKind::Ixfr { from: 5 },
            result: Err(TransferFailure::IxfrUnsupported("only its SOA".into())),
        },
    );
    assert_eq!(
        a[0],
        Action::Transfer {
            primary: 0,
            kind: TransferKind::Axfr
        }
    );
    z.handle(
        t0,
        Event::TransferResult {
            primary: 0,
            kind: TransferKind::Axfr,
            result: Ok(soa(6)),
        },
    );
    // The next change: straight to AXFR.
    z.handle(t0, Event::Refresh);
    let a = z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(7)),
        },
    );
    assert_eq!(
        a[0],
        Action::Transfer {
            primary: 0,
            kind: TransferKind::Axfr
        }
    );
}

/// Ends a round of two primaries with these SOA query errors.
fn fail_round(z: &mut Secondary, now: Instant, errors: [&str; 2]) {
    z.handle(now, Event::Refresh);
    for (primary, e) in errors.into_iter().enumerate() {
        z.handle(
            now,
            Event::SoaResult {
                primary,
                result: Err(format!("127.0.0.1:53: {e}")),
            },
        );
    }
}

#[test]
fn a_round_tells_silent_primaries_from_answering_ones() {
    let t0 = Instant::now();
    let mut z = holding_five(t0, 2, 1000);
    assert!(!z.primaries_silent(), "no round failed yet");
    // Neither answers (a timeout, a refused UDP port): silent.
    z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Err("127.0.0.1:53: no answer within 1s".into()),
        },
    );
    z.handle(
        t0,
        Event::SoaResult {
            primary: 1,
            result: Err("127.0.0.1:54: UDP receive: Connection refused (os error 111)".into()),
        },
    );
    assert!(z.has_failed_a_round() && z.primaries_silent());
    // One answers SERVFAIL (its own copy expired): the zone failed
    // upstream, whichever primary was asked last.
    fail_round(&mut z, t0, ["SOA query answered with RCODE 2", "no answer within 1s"]);
    assert!(!z.primaries_silent());
    fail_round(
        &mut z,
        t0,
        ["TCP connect: no answer within 1s", "SOA query answered with RCODE 5"],
    );
    assert!(!z.primaries_silent());
    fail_round(&mut z, t0, ["TCP connect: no answer within 1s", "no answer within 1s"]);
    assert!(z.primaries_silent());
    // A primary confirms the version: not silent any more.
    z.handle(t0, Event::Refresh);
    z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(5)),
        },
    );
    assert!(!z.primaries_silent());
    // A version our disk cannot take: the node's failure, counted as silent
    // although the primary answered.
    z.handle(t0, Event::Refresh);
    z.handle(
        t0,
        Event::SoaResult {
            primary: 0,
            result: Ok(soa(6)),
        },
    );
    z.handle(
        t0,
        Event::TransferResult {
            primary: 0,
            kind: TransferKind::Ixfr { from: 5 },
            result: Err(TransferFailure::Local("disk full".into())),
        },
    );
    assert!(z.primaries_silent());
}

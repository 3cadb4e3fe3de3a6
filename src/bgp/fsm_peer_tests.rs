//! The session state machine's per-peer modes: passive sessions and the
//! BFD gate (and the NOTIFICATIONs each way kept for the status).

use super::*;
use crate::bgp::fsm::tests::{bgp_config, peer_open, rx};
use crate::bgp::message::{UpdateSummary, cease};

fn passive_peer() -> BgpPeer {
    BgpPeer {
        passive: true,
        ..crate::bgp::fsm::tests::peer()
    }
}

fn accepted() -> Event {
    Event::TcpConnected {
        local: "10.255.0.2:179".parse().unwrap(),
        remote: "10.255.0.1:40000".parse().unwrap(),
    }
}

fn up(s: &mut Session, conn: Event) -> Vec<Action> {
    s.handle(conn);
    assert_eq!(s.state(), State::OpenSent);
    s.handle(rx(Inbound::Open(peer_open(65000, 9))));
    let a = s.handle(rx(Inbound::Keepalive));
    assert_eq!(s.state(), State::Established);
    a
}

#[test]
fn passive_waits_for_the_peer_and_never_connects() {
    let mut s = Session::new(&bgp_config(), &passive_peer(), Announce::Normal, 7);
    let a = s.handle(Event::Start);
    assert!(!a.contains(&Action::Connect), "{a:?}");
    assert_eq!(s.state(), State::Active);
    assert!(s.accepts_connection());
    up(&mut s, accepted());
    assert!(
        !s.accepts_connection(),
        "a second connection while one is up is refused"
    );
    // The peer goes away: back to waiting, no connect, no retry timer.
    let a = s.handle(Event::TcpClosed { error: "reset".into() });
    assert!(!a.contains(&Action::Connect));
    assert!(
        !a.iter()
            .any(|x| matches!(x, Action::StartTimer(Timer::ConnectRetry, _)))
    );
    assert_eq!(s.state(), State::Active);
    assert!(s.accepts_connection());
    up(&mut s, accepted());
    // Stopped: no more connections taken.
    s.handle(Event::Stop { reason: "bye".into() });
    assert!(!s.accepts_connection());
    assert_eq!(s.handle(Event::ConnectRetryTimerExpired), Vec::new());
}

#[test]
fn bfd_down_ends_the_session_at_once_and_holds_it_down() {
    let mut s = Session::new(&bgp_config(), &crate::bgp::fsm::tests::peer(), Announce::Normal, 7);
    s.handle(Event::Start);
    up(&mut s, crate::bgp::fsm::tests::connected());
    assert!(!s.announced().0.is_empty());
    let a = s.handle(Event::BfdDown {
        detail: "detection time expired".into(),
    });
    let n = a.iter().find_map(|x| match x {
        Action::Send(Outbound::Notification(n)) => Some(n.clone()),
        _ => None,
    });
    assert_eq!(n.map(|n| (n.code, n.subcode)), Some((code::CEASE, cease::BFD_DOWN)));
    assert!(a.contains(&Action::Close));
    assert_eq!(s.state(), State::Idle);
    assert!(s.announced().0.is_empty());
    assert!(s.waiting_for_bfd());
    assert!(
        s.last_error().is_some_and(|e| e.contains("BFD")),
        "{:?}",
        s.last_error()
    );
    assert_eq!(s.last_notifications().0.map(|n| n.subcode), Some(cease::BFD_DOWN));
    // No retry while BFD is down, whatever the timers say.
    assert!(
        !a.iter()
            .any(|x| matches!(x, Action::StartTimer(Timer::ConnectRetry, _)))
    );
    assert!(!s.handle(Event::ConnectRetryTimerExpired).contains(&Action::Connect));
    // A second down changes nothing.
    assert_eq!(s.handle(Event::BfdDown { detail: "again".into() }), Vec::new());
    // BFD up: connect at once.
    let a = s.handle(Event::BfdUp);
    assert!(a.contains(&Action::Connect));
    assert_eq!(s.state(), State::Connect);
    up(&mut s, crate::bgp::fsm::tests::connected());
    // Up again while up: nothing.
    assert_eq!(s.handle(Event::BfdUp), Vec::new());
}

#[test]
fn bfd_down_before_the_session_is_up_stops_connecting() {
    let mut s = Session::new(&bgp_config(), &crate::bgp::fsm::tests::peer(), Announce::Normal, 7);
    s.handle(Event::Start);
    assert_eq!(s.state(), State::Connect);
    let a = s.handle(Event::BfdDown { detail: "x".into() });
    assert!(a.contains(&Action::Close), "the attempt in flight is abandoned");
    assert_eq!(s.state(), State::Idle);
    // A connection completing anyway is not taken.
    let a = s.handle(crate::bgp::fsm::tests::connected());
    assert!(a.contains(&Action::Close));
    assert_eq!(s.state(), State::Idle);
    // Passive: no connection taken while BFD is down.
    let mut p = Session::new(&bgp_config(), &passive_peer(), Announce::Normal, 7);
    p.handle(Event::Start);
    p.handle(Event::BfdDown { detail: "x".into() });
    assert!(!p.accepts_connection());
    p.handle(Event::BfdUp);
    assert!(p.accepts_connection());
}

#[test]
fn notifications_each_way_are_kept() {
    let mut s = Session::new(&bgp_config(), &crate::bgp::fsm::tests::peer(), Announce::Normal, 7);
    s.handle(Event::Start);
    up(&mut s, crate::bgp::fsm::tests::connected());
    s.handle(rx(Inbound::Update(UpdateSummary::default())));
    let n = Notification::admin_shutdown("maintenance");
    s.handle(rx(Inbound::Notification(n.clone())));
    assert_eq!(s.last_notifications(), (None, Some(&n)));
    s.handle(Event::ConnectRetryTimerExpired);
    up(&mut s, crate::bgp::fsm::tests::connected());
    s.handle(Event::HoldTimerExpired);
    assert_eq!(s.last_notifications().0.map(|n| n.code), Some(code::HOLD_TIMER_EXPIRED));
    assert_eq!(s.last_notifications().1, Some(&n));
}

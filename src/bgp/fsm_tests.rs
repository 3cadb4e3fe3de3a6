//! The session state machine without sockets: OPEN negotiation, timers,
//! errors, announcements following health, stop.

use super::*;
use crate::bgp::message::{GRACEFUL_SHUTDOWN, UpdateSummary, cease};
use crate::config::{Community, LargeCommunity};

fn bgp(asn: u32) -> BgpConfig {
    BgpConfig {
        enabled: true,
        asn,
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        announce: vec![
            Prefix::parse("192.0.2.0/24").unwrap(),
            Prefix::parse("2001:db8:1::/48").unwrap(),
        ],
        communities: vec![Community(65001, 100)],
        large_communities: vec![LargeCommunity(65001, 1, 2)],
        peers: Vec::new(),
    }
}

/// The test `[bgp]` (for the per-peer tests).
pub(crate) fn bgp_config() -> BgpConfig {
    bgp(65001)
}

/// The test peer (also used by the route tests).
pub(crate) fn peer() -> BgpPeer {
    BgpPeer {
        address: "10.255.0.1".parse().unwrap(),
        port: 179,
        asn: 65000,
        local_address: None,
        password: None,
        multihop: 1,
        hold_time: 9,
        families: vec![AddressFamily::Ipv4, AddressFamily::Ipv6],
        ipv4_next_hop: None,
        ipv6_next_hop: Some("fd00::2".parse().unwrap()),
        prepend: 1,
        med: Some(10),
        announce: None,
        communities: None,
        large_communities: None,
        bfd: None,
        ttl_security: false,
        passive: false,
        listen_port: 179,
    }
}

pub(crate) fn peer_open(asn: u32, hold: u16) -> Open {
    Open {
        my_as: crate::bgp::message::two_octet_as(asn),
        hold_time: hold,
        router_id: Ipv4Addr::new(10, 255, 0, 1),
        capabilities: Capabilities {
            four_octet_as: Some(asn),
            families: vec![AddressFamily::Ipv4, AddressFamily::Ipv6],
            any_multiprotocol: true,
            route_refresh: true,
            ..Capabilities::default()
        },
    }
}

pub(crate) fn connected() -> Event {
    Event::TcpConnected {
        local: "10.255.0.2:40000".parse().unwrap(),
        remote: "10.255.0.1:179".parse().unwrap(),
    }
}

pub(crate) fn rx(m: Inbound) -> Event {
    Event::MessageReceived(m)
}

fn sent(actions: &[Action]) -> Vec<&Outbound> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn notification(actions: &[Action]) -> Option<&Notification> {
    sent(actions).into_iter().find_map(|m| match m {
        Outbound::Notification(n) => Some(n),
        _ => None,
    })
}

fn timer_started(actions: &[Action], t: Timer) -> Option<Duration> {
    actions.iter().find_map(|a| match a {
        Action::StartTimer(x, d) if *x == t => Some(*d),
        _ => None,
    })
}

fn closes(actions: &[Action]) -> bool {
    actions.contains(&Action::Close)
}

/// Prefixes announced and withdrawn by the UPDATEs in `actions`.
fn updates(actions: &[Action]) -> (Vec<String>, Vec<String>, Vec<AddressFamily>) {
    let (mut ann, mut wd, mut eor) = (Vec::new(), Vec::new(), Vec::new());
    for m in sent(actions) {
        match m {
            Outbound::Update(Update::Announce { prefixes, .. }) => ann.extend(prefixes.iter().map(|p| p.to_string())),
            Outbound::Update(Update::Withdraw { prefixes, .. }) => wd.extend(prefixes.iter().map(|p| p.to_string())),
            Outbound::Update(Update::EndOfRib(f)) => eor.push(*f),
            _ => {}
        }
    }
    (ann, wd, eor)
}

/// A session driven to OpenSent, with the actions of each step checked.
fn open_sent(bgp: &BgpConfig, peer: &BgpPeer, health: Announce) -> Session {
    let mut s = Session::new(bgp, peer, health, 7);
    let a = s.handle(Event::Start);
    assert!(a.contains(&Action::Connect));
    assert_eq!(s.state(), State::Connect);
    let a = s.handle(connected());
    assert_eq!(s.state(), State::OpenSent);
    assert_eq!(timer_started(&a, Timer::Hold), Some(OPEN_HOLD_TIME));
    s
}

fn established(health: Announce) -> (Session, Vec<Action>) {
    let mut s = open_sent(&bgp(65001), &peer(), health);
    s.handle(rx(Inbound::Open(peer_open(65000, 90))));
    assert_eq!(s.state(), State::OpenConfirm);
    let a = s.handle(rx(Inbound::Keepalive));
    assert_eq!(s.state(), State::Established);
    (s, a)
}

#[test]
fn our_open_has_capabilities_and_as_trans() {
    let mut s = Session::new(&bgp(65001), &peer(), Announce::Normal, 1);
    s.handle(Event::Start);
    let a = s.handle(connected());
    let Outbound::Open(o) = sent(&a)[0] else {
        panic!("{a:?}")
    };
    assert_eq!(o.my_as, 65001);
    assert_eq!(o.hold_time, 9);
    assert_eq!(o.capabilities.four_octet_as, Some(65001));
    assert_eq!(o.capabilities.families, vec![AddressFamily::Ipv4, AddressFamily::Ipv6]);
    assert!(!o.capabilities.graceful_restart);

    let mut s = Session::new(&bgp(4_200_000_000), &peer(), Announce::Normal, 1);
    s.handle(Event::Start);
    let a = s.handle(connected());
    let Outbound::Open(o) = sent(&a)[0] else {
        panic!("{a:?}")
    };
    assert_eq!(o.my_as, 23456, "AS_TRANS in My AS");
    assert_eq!(o.asn(), 4_200_000_000);
}

#[test]
fn hold_time_is_the_lower_and_keepalive_a_third() {
    let mut s = open_sent(&bgp(65001), &peer(), Announce::Normal);
    let a = s.handle(rx(Inbound::Open(peer_open(65000, 90))));
    assert_eq!(sent(&a), vec![&Outbound::Keepalive]);
    assert_eq!(timer_started(&a, Timer::Hold), Some(Duration::from_secs(9)));
    assert_eq!(timer_started(&a, Timer::Keepalive), Some(Duration::from_secs(3)));
    assert_eq!(s.negotiated().unwrap().hold_time, 9);

    let mut p = peer();
    p.hold_time = 90;
    let mut s = open_sent(&bgp(65001), &p, Announce::Normal);
    let a = s.handle(rx(Inbound::Open(peer_open(65000, 30))));
    assert_eq!(timer_started(&a, Timer::Hold), Some(Duration::from_secs(30)));
    assert_eq!(timer_started(&a, Timer::Keepalive), Some(Duration::from_secs(10)));
}

#[test]
fn hold_time_zero_means_no_keepalives() {
    let mut s = open_sent(&bgp(65001), &peer(), Announce::Normal);
    let a = s.handle(rx(Inbound::Open(peer_open(65000, 0))));
    assert_eq!(timer_started(&a, Timer::Hold), None);
    assert_eq!(timer_started(&a, Timer::Keepalive), None);
    assert!(a.contains(&Action::StopTimer(Timer::Hold)));
    let a = s.handle(rx(Inbound::Keepalive));
    assert_eq!(s.state(), State::Established);
    assert_eq!(timer_started(&a, Timer::Hold), None);
    assert_eq!(timer_started(&a, Timer::Keepalive), None);
}

#[test]
fn bad_peer_as() {
    let mut s = open_sent(&bgp(65001), &peer(), Announce::Normal);
    let a = s.handle(rx(Inbound::Open(peer_open(65099, 90))));
    let n = notification(&a).expect("a NOTIFICATION");
    assert_eq!((n.code, n.subcode), (2, 2));
    assert_eq!(n.data, 65099u16.to_be_bytes());
    assert!(closes(&a));
    assert_eq!(s.state(), State::Idle);
    assert!(s.last_error().unwrap().contains("AS 65099"), "{:?}", s.last_error());
    assert!(timer_started(&a, Timer::ConnectRetry).is_some(), "reconnects");
    // 4-octet ASN only in the capability: compared from there.
    let mut p = peer();
    p.asn = 4_200_000_001;
    let mut s = open_sent(&bgp(65001), &p, Announce::Normal);
    s.handle(rx(Inbound::Open(peer_open(4_200_000_001, 90))));
    assert_eq!(s.state(), State::OpenConfirm);
}

#[test]
fn two_octet_peer() {
    let mut o = peer_open(65000, 90);
    o.capabilities.four_octet_as = None;
    let mut s = open_sent(&bgp(4_200_000_000), &peer(), Announce::Normal);
    s.handle(rx(Inbound::Open(o)));
    assert_eq!(s.state(), State::OpenConfirm);
    assert!(!s.asn4());
}

#[test]
fn unacceptable_hold_time_and_bad_identifier() {
    let mut s = open_sent(&bgp(65001), &peer(), Announce::Normal);
    let a = s.handle(rx(Inbound::Open(peer_open(65000, 2))));
    let n = notification(&a).unwrap();
    assert_eq!((n.code, n.subcode), (2, 6));
    let mut s = open_sent(&bgp(65001), &peer(), Announce::Normal);
    let mut o = peer_open(65000, 90);
    o.router_id = Ipv4Addr::UNSPECIFIED;
    let a = s.handle(rx(Inbound::Open(o)));
    assert_eq!(notification(&a).map(|n| (n.code, n.subcode)), Some((2, 3)));
}

#[test]
fn capabilities_unknown_ignored_missing_families_refused() {
    // Unknown capabilities and graceful restart from the peer: ignored.
    let mut o = peer_open(65000, 90);
    o.capabilities.graceful_restart = true;
    o.capabilities.other = vec![73, 69];
    o.capabilities.other_families = 2;
    let mut s = open_sent(&bgp(65001), &peer(), Announce::Normal);
    let a = s.handle(rx(Inbound::Open(o)));
    assert_eq!(s.state(), State::OpenConfirm);
    assert!(
        a.iter()
            .any(|x| matches!(x, Action::Log(_, m) if m.contains("ignoring graceful restart")))
    );

    // The peer carries only IPv6: IPv4 is not announced, with a warning.
    let mut o = peer_open(65000, 90);
    o.capabilities.families = vec![AddressFamily::Ipv6];
    let mut s = open_sent(&bgp(65001), &peer(), Announce::Normal);
    let a = s.handle(rx(Inbound::Open(o)));
    assert!(
        a.iter()
            .any(|x| matches!(x, Action::Log(Level::Warn, m) if m.contains("ipv4")))
    );
    let a = s.handle(rx(Inbound::Keepalive));
    let (ann, _, eor) = updates(&a);
    assert_eq!(ann, vec!["2001:db8:1::/48"]);
    assert_eq!(eor, vec![AddressFamily::Ipv6]);

    // No Multiprotocol capability at all: IPv4 unicast is implied.
    let mut o = peer_open(65000, 90);
    o.capabilities.families.clear();
    o.capabilities.any_multiprotocol = false;
    let mut s = open_sent(&bgp(65001), &peer(), Announce::Normal);
    s.handle(rx(Inbound::Open(o)));
    assert_eq!(s.negotiated().unwrap().families, vec![AddressFamily::Ipv4]);

    // Nothing in common: OPEN Message Error / Unsupported Capability,
    // with the capabilities we need as data.
    let mut p = peer();
    p.families = vec![AddressFamily::Ipv6];
    let mut o = peer_open(65000, 90);
    o.capabilities.families = vec![AddressFamily::Ipv4];
    let mut s = open_sent(&bgp(65001), &p, Announce::Normal);
    let a = s.handle(rx(Inbound::Open(o)));
    let n = notification(&a).unwrap();
    assert_eq!((n.code, n.subcode), (2, 7));
    assert_eq!(n.data, vec![1, 4, 0, 2, 0, 1]);
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn established_announces_then_end_of_rib() {
    let (s, a) = established(Announce::Normal);
    let (ann, wd, eor) = updates(&a);
    assert_eq!(ann, vec!["192.0.2.0/24", "2001:db8:1::/48"]);
    assert!(wd.is_empty());
    assert_eq!(eor, vec![AddressFamily::Ipv4, AddressFamily::Ipv6]);
    // End-of-RIB after the announcements.
    let msgs = sent(&a);
    let last_announce = msgs
        .iter()
        .rposition(|m| matches!(m, Outbound::Update(Update::Announce { .. })))
        .unwrap();
    let first_eor = msgs
        .iter()
        .position(|m| matches!(m, Outbound::Update(Update::EndOfRib(_))))
        .unwrap();
    assert!(last_announce < first_eor, "{msgs:?}");
    for m in &msgs {
        if let Outbound::Update(Update::Announce {
            family,
            next_hop,
            attrs,
            ..
        }) = m
        {
            let want: IpAddr = match family {
                AddressFamily::Ipv4 => "10.255.0.2".parse().unwrap(),
                AddressFamily::Ipv6 => "fd00::2".parse().unwrap(),
            };
            assert_eq!(*next_hop, want);
            assert_eq!(attrs.as_path, vec![65001, 65001]);
            assert_eq!(attrs.med, Some(10));
            assert_eq!(attrs.communities, vec![Community(65001, 100)]);
            assert_eq!(attrs.large_communities, vec![LargeCommunity(65001, 1, 2)]);
        }
    }
    assert_eq!(s.announced().0.len(), 2);
    assert!(timer_started(&a, Timer::Stable).is_some());
}

#[test]
fn nothing_to_announce_still_sends_end_of_rib() {
    let (_, a) = established(Announce::Withdraw);
    let (ann, wd, eor) = updates(&a);
    assert!(ann.is_empty() && wd.is_empty());
    assert_eq!(eor, vec![AddressFamily::Ipv4, AddressFamily::Ipv6]);
}

#[test]
fn health_changes_send_only_what_changed() {
    let (mut s, _) = established(Announce::Withdraw);
    let a = s.handle(Event::HealthChanged(Announce::Normal));
    assert_eq!(updates(&a).0.len(), 2);
    // Same verdict again: nothing.
    let a = s.handle(Event::HealthChanged(Announce::Normal));
    assert!(sent(&a).is_empty(), "{a:?}");
    // Graceful shutdown: announced again with 65535:0 added.
    let a = s.handle(Event::HealthChanged(Announce::GracefulShutdown));
    assert_eq!(updates(&a).0.len(), 2);
    for m in sent(&a) {
        let Outbound::Update(Update::Announce { attrs, .. }) = m else {
            panic!("{m:?}")
        };
        assert_eq!(attrs.communities, vec![Community(65001, 100), GRACEFUL_SHUTDOWN]);
    }
    assert!(s.announced().1);
    let a = s.handle(Event::HealthChanged(Announce::Withdraw));
    let (ann, wd, _) = updates(&a);
    assert!(ann.is_empty());
    assert_eq!(wd, vec!["192.0.2.0/24", "2001:db8:1::/48"]);
    assert!(s.announced().0.is_empty());
    let a = s.handle(Event::HealthChanged(Announce::Withdraw));
    assert!(sent(&a).is_empty());
}

#[test]
fn health_before_established_is_remembered() {
    let mut s = open_sent(&bgp(65001), &peer(), Announce::Withdraw);
    assert!(sent(&s.handle(Event::HealthChanged(Announce::Normal))).is_empty());
    s.handle(rx(Inbound::Open(peer_open(65000, 90))));
    let a = s.handle(rx(Inbound::Keepalive));
    assert_eq!(updates(&a).0.len(), 2);
}

#[test]
fn missing_next_hop_is_not_announced() {
    let mut p = peer();
    p.ipv6_next_hop = None;
    let mut s = open_sent(&bgp(65001), &p, Announce::Normal);
    s.handle(rx(Inbound::Open(peer_open(65000, 90))));
    let a = s.handle(rx(Inbound::Keepalive));
    assert_eq!(updates(&a).0, vec!["192.0.2.0/24"]);
    assert!(
        a.iter()
            .any(|x| matches!(x, Action::Log(Level::Error, m) if m.contains("ipv6-next-hop")))
    );
}

#[test]
fn unexpected_messages_are_fsm_errors() {
    let mut s = open_sent(&bgp(65001), &peer(), Announce::Normal);
    let a = s.handle(rx(Inbound::Keepalive));
    assert_eq!(notification(&a).map(|n| (n.code, n.subcode)), Some((5, 1)));
    assert!(closes(&a));

    let mut s = open_sent(&bgp(65001), &peer(), Announce::Normal);
    s.handle(rx(Inbound::Open(peer_open(65000, 90))));
    let a = s.handle(rx(Inbound::Update(UpdateSummary::default())));
    assert_eq!(notification(&a).map(|n| (n.code, n.subcode)), Some((5, 2)));

    let (mut s, _) = established(Announce::Normal);
    let a = s.handle(rx(Inbound::Open(peer_open(65000, 90))));
    assert_eq!(notification(&a).map(|n| (n.code, n.subcode)), Some((5, 3)));
    assert_eq!(s.state(), State::Idle);
    assert!(s.announced().0.is_empty());
}

#[test]
fn updates_are_counted_and_discarded() {
    let (mut s, _) = established(Announce::Normal);
    let a = s.handle(rx(Inbound::Update(UpdateSummary {
        announced: 3,
        withdrawn: 0,
        end_of_rib: None,
    })));
    assert!(sent(&a).is_empty());
    assert_eq!(timer_started(&a, Timer::Hold), Some(Duration::from_secs(9)));
    assert_eq!(s.counters().updates_received, 1);
    assert_eq!(s.state(), State::Established);
}

#[test]
fn route_refresh_announces_again() {
    let (mut s, _) = established(Announce::Normal);
    let a = s.handle(rx(Inbound::RouteRefresh(Some(AddressFamily::Ipv6))));
    assert_eq!(updates(&a).0, vec!["2001:db8:1::/48"]);
    let a = s.handle(rx(Inbound::RouteRefresh(None)));
    assert!(sent(&a).is_empty());
}

#[test]
fn notification_from_peer_is_not_answered() {
    let (mut s, _) = established(Announce::Normal);
    let a = s.handle(rx(Inbound::Notification(Notification::admin_shutdown("bye"))));
    assert!(notification(&a).is_none());
    assert!(closes(&a));
    assert_eq!(s.state(), State::Idle);
    assert!(s.last_error().unwrap().contains("\"bye\""));
    assert!(timer_started(&a, Timer::ConnectRetry).is_some());
}

#[test]
fn decode_error_sends_its_notification() {
    let (mut s, _) = established(Announce::Normal);
    let e = DecodeError {
        notification: Notification::new(code::UPDATE, 1, vec![]),
        detail: "bad attribute".into(),
    };
    let a = s.handle(Event::DecodeError(e));
    assert_eq!(notification(&a).map(|n| (n.code, n.subcode)), Some((3, 1)));
    assert!(closes(&a));
    assert_eq!(s.state(), State::Idle);
    // Not connected: nothing to answer.
    let e = DecodeError {
        notification: Notification::new(code::MESSAGE_HEADER, 1, vec![]),
        detail: "x".into(),
    };
    assert!(s.handle(Event::DecodeError(e)).is_empty());
}

#[test]
fn hold_timer_expiry() {
    let (mut s, _) = established(Announce::Normal);
    let a = s.handle(Event::HoldTimerExpired);
    assert_eq!(notification(&a).map(|n| (n.code, n.subcode)), Some((4, 0)));
    assert!(closes(&a));
    assert!(s.last_error().unwrap().contains("9s"));
    // In OpenSent the large initial hold timer applies.
    let mut s = open_sent(&bgp(65001), &peer(), Announce::Normal);
    s.handle(Event::HoldTimerExpired);
    assert!(s.last_error().unwrap().contains("240s"));
}

#[test]
fn keepalives_follow_their_timer() {
    let (mut s, _) = established(Announce::Normal);
    let a = s.handle(Event::KeepaliveTimerExpired);
    assert_eq!(sent(&a), vec![&Outbound::Keepalive]);
    assert_eq!(timer_started(&a, Timer::Keepalive), Some(Duration::from_secs(3)));
}

#[test]
fn connect_failure_retries_with_backoff() {
    let mut s = Session::new(&bgp(65001), &peer(), Announce::Normal, 42);
    s.handle(Event::Start);
    let mut delays = Vec::new();
    for _ in 0..10 {
        let a = s.handle(Event::TcpFailed {
            error: "connect timed out".into(),
        });
        assert_eq!(s.state(), State::Active);
        delays.push(timer_started(&a, Timer::ConnectRetry).unwrap());
        let a = s.handle(Event::ConnectRetryTimerExpired);
        assert!(a.contains(&Action::Connect));
    }
    assert!(delays[0] >= Duration::from_millis(500) && delays[0] <= Duration::from_secs(1));
    assert!(delays[3] >= Duration::from_secs(4) && delays[3] <= Duration::from_secs(8));
    for d in &delays {
        assert!(*d <= BACKOFF_MAX, "{delays:?}");
    }
    assert!(delays[9] >= BACKOFF_MAX / 2);
}

#[test]
fn backoff_resets_after_a_stable_session() {
    let mut b = Backoff::new(3);
    for _ in 0..6 {
        b.next_delay();
    }
    assert!(b.next_delay() >= Duration::from_secs(30));
    b.reset();
    assert!(b.next_delay() <= Duration::from_secs(1));

    let (mut s, _) = established(Announce::Normal);
    s.handle(Event::HoldTimerExpired);
    s.handle(Event::ConnectRetryTimerExpired);
    s.handle(connected());
    s.handle(rx(Inbound::Open(peer_open(65000, 90))));
    s.handle(rx(Inbound::Keepalive));
    s.handle(Event::StableTimerExpired);
    let a = s.handle(Event::TcpClosed { error: "reset".into() });
    assert!(timer_started(&a, Timer::ConnectRetry).unwrap() <= Duration::from_secs(1));
}

#[test]
fn stop_withdraws_then_ceases() {
    let (mut s, _) = established(Announce::Normal);
    let a = s.handle(Event::Stop {
        reason: "node lon-b shutting down".into(),
    });
    let msgs = sent(&a);
    let (ann, wd, _) = updates(&a);
    assert!(ann.is_empty());
    assert_eq!(wd, vec!["192.0.2.0/24", "2001:db8:1::/48"]);
    let Outbound::Notification(n) = msgs.last().unwrap() else {
        panic!("{msgs:?}")
    };
    assert_eq!((n.code, n.subcode), (code::CEASE, cease::ADMINISTRATIVE_SHUTDOWN));
    assert_eq!(n.shutdown_message().as_deref(), Some("node lon-b shutting down"));
    let close = a.iter().position(|x| *x == Action::Close).unwrap();
    let last_send = a.iter().rposition(|x| matches!(x, Action::Send(_))).unwrap();
    assert!(last_send < close);
    assert_eq!(s.state(), State::Idle);
    // Nothing restarts a stopped session.
    assert!(s.handle(Event::ConnectRetryTimerExpired).is_empty());
    assert!(s.handle(Event::Start).is_empty());
    assert!(s.handle(Event::Stop { reason: "again".into() }).is_empty());
}

#[test]
fn stop_while_withdrawn_or_connecting() {
    let (mut s, _) = established(Announce::Withdraw);
    let a = s.handle(Event::Stop { reason: "bye".into() });
    assert_eq!(sent(&a).len(), 1, "only the Cease: {a:?}");
    let mut s = Session::new(&bgp(65001), &peer(), Announce::Normal, 1);
    s.handle(Event::Start);
    let a = s.handle(Event::Stop { reason: "bye".into() });
    assert!(sent(&a).is_empty());
    assert!(closes(&a), "abandons the connect");
    // A connection that completes after the stop is closed at once.
    let a = s.handle(connected());
    assert_eq!(a, vec![Action::Close]);
}

#[test]
fn peer_closing_the_connection() {
    let (mut s, _) = established(Announce::Normal);
    let a = s.handle(Event::TcpClosed {
        error: "connection reset by peer".into(),
    });
    assert!(notification(&a).is_none());
    assert!(closes(&a));
    assert_eq!(s.state(), State::Idle);
    assert!(
        a.iter()
            .any(|x| matches!(x, Action::Log(_, m) if m.contains("withdrawn (session down)")))
    );
}

//! The tokio layer on 127.0.0.1 with non-default ports: two services come
//! Up, a silent peer is detected within the detection time, a dropped
//! handle tells the peer AdminDown, and the TTL, decode and demultiplexing
//! checks drop and count what they must.

use std::net::{Ipv4Addr, UdpSocket};

use super::*;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A free port base: four consecutive free UDP ports from a per-test offset.
fn ports(offset: u16) -> u16 {
    let pid = (std::process::id() % 1000) as u16;
    for i in 0..200u16 {
        let base = 20_000 + ((pid * 37 + offset * 211 + i * 4) % 20_000);
        if (0..4).all(|k| UdpSocket::bind((Ipv4Addr::UNSPECIFIED, base + k)).is_ok()) {
            return base;
        }
    }
    panic!("no free ports");
}

fn pair(base: u16) -> (Ports, Ports) {
    let a = Ports {
        single_hop: base,
        multihop: base + 1,
        peer_single_hop: base + 2,
        peer_multihop: base + 3,
    };
    let b = Ports {
        single_hop: base + 2,
        multihop: base + 3,
        peer_single_hop: base,
        peer_multihop: base + 1,
    };
    (a, b)
}

async fn wait_for(h: &SessionHandle, what: &str, limit: Duration, f: impl Fn(&BfdStatus) -> bool) -> BfdStatus {
    let mut w = h.watch();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let s = w.borrow_and_update().clone();
        if f(&s) {
            return s;
        }
        match tokio::time::timeout_at(deadline, w.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("{what}: not within {limit:?}; status {:?}", h.status()),
        }
    }
}

fn control(state: State, my: u32, your: u32) -> [u8; 24] {
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
        desired_min_tx: 1_000_000,
        required_min_rx: 1_000_000,
        required_min_echo_rx: 0,
    }
    .encode()
}

fn sender(ttl: u32) -> UdpSocket {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    s.set_ttl(ttl).unwrap();
    s
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(150)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_come_up_and_detect_a_silent_peer() {
    let (pa, pb) = pair(ports(1));
    let cfg = SessionConfig::single_hop(LO);
    let a = Bfd::bind(std::slice::from_ref(&cfg), pa).unwrap();
    let b = Bfd::bind(std::slice::from_ref(&cfg), pb).unwrap();
    let ha = a.add(cfg.clone()).unwrap();
    let hb = b.add(cfg.clone()).unwrap();
    assert!(matches!(a.add(cfg.clone()), Err(BfdError::Duplicate { .. })));
    for h in [&ha, &hb] {
        let s = wait_for(h, "Up", Duration::from_secs(5), |s| s.state == State::Up).await;
        assert_eq!(s.up_transitions, 1);
        // after the Poll/Final: 300 ms x 3
        let s = wait_for(h, "fast timers", Duration::from_secs(3), |s| {
            s.tx_interval == Some(Duration::from_millis(300)) && s.detection_time == Some(Duration::from_millis(900))
        })
        .await;
        assert!(!s.multihop);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = ha.status();
    assert_eq!(before.state, State::Up, "stays up");
    assert!(before.packets_in >= 6, "{before:?}");
    assert_eq!(a.drops(), DropCounters::default());
    // B vanishes without AdminDown
    let t = tokio::time::Instant::now();
    hb.kill();
    let s = wait_for(&ha, "Down", Duration::from_secs(3), |s| s.state == State::Down).await;
    let took = t.elapsed();
    assert_eq!(
        (s.local_diag, s.down_cause),
        (Diag::DetectionExpired, DownCause::DetectionExpired)
    );
    // the last packet came at most one tx interval (300 ms) before the kill
    assert!(took >= Duration::from_millis(550), "{took:?}");
    assert!(took <= Duration::from_millis(900 + 300), "{took:?}");
    drop(ha);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_handle_sends_admin_down() {
    let (pa, pb) = pair(ports(2));
    let cfg = SessionConfig::single_hop(LO);
    let a = Bfd::bind(&[], pa).unwrap();
    let b = Bfd::bind(&[], pb).unwrap();
    let ha = a.add(cfg.clone()).unwrap();
    let hb = b.add(cfg.clone()).unwrap();
    wait_for(&ha, "Up", Duration::from_secs(5), |s| s.state == State::Up).await;
    wait_for(&hb, "Up", Duration::from_secs(5), |s| s.state == State::Up).await;
    drop(hb);
    let s = wait_for(&ha, "Down", Duration::from_millis(500), |s| s.state == State::Down).await;
    assert_eq!(
        (s.local_diag, s.down_cause),
        (Diag::NeighborDown, DownCause::PeerAdminDown)
    );
    assert_eq!(s.remote_state, State::AdminDown);
    assert_eq!(s.remote_diag, Diag::AdminDown);
    assert!(!s.down_cause.is_path_failure());
    // the session lingers for its AdminDown packets, then is freed
    let deadline = tokio::time::Instant::now() + ADMIN_DOWN_LINGER + Duration::from_secs(1);
    while b.sessions() != 0 {
        assert!(tokio::time::Instant::now() < deadline, "session not freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // a new session to the same peer can start at once
    let hb = b.add(cfg).unwrap();
    wait_for(&hb, "Up again", Duration::from_secs(5), |s| s.state == State::Up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_decode_and_demultiplexing_checks() {
    let (pa, _) = pair(ports(3));
    let a = Bfd::bind(&[], pa).unwrap();
    let h = a.add(SessionConfig::single_hop(LO)).unwrap();
    let me = h.local_discriminator();
    let to = (Ipv4Addr::LOCALHOST, pa.single_hop);

    sender(254).send_to(&control(State::Down, 42, 0), to).unwrap();
    settle().await;
    assert_eq!(a.drops().bad_ttl, 1);
    let s = h.status();
    assert_eq!((s.state, s.packets_in, s.packets_dropped), (State::Down, 0, 1));

    // the same packet at TTL 255 is taken: Down -> Init
    let ok = sender(255);
    ok.send_to(&control(State::Down, 42, 0), to).unwrap();
    wait_for(&h, "Init", Duration::from_secs(1), |s| s.state == State::Init).await;

    // junk, an authenticated packet, a foreign discriminator
    ok.send_to(b"junk", to).unwrap();
    let mut auth = control(State::Init, 42, me).to_vec();
    auth[1] |= 0x04;
    auth[3] = 26;
    auth.extend_from_slice(&[1, 2]);
    ok.send_to(&auth, to).unwrap();
    ok.send_to(&control(State::Init, 42, me ^ 1), to).unwrap();
    settle().await;
    let d = a.drops();
    assert_eq!(
        (d.malformed, d.auth, d.unknown_session, d.bad_ttl),
        (1, 1, 1, 1),
        "{d:?}"
    );
    // from another source address: unknown
    if let Ok(other) = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 2), 0)) {
        other.set_ttl(255).unwrap();
        other.send_to(&control(State::Down, 42, 0), to).unwrap();
        settle().await;
        assert_eq!(a.drops().unknown_session, 2);
    }
    assert_eq!(h.status().state, State::Init);
    // Init -> Up with our discriminator
    ok.send_to(&control(State::Up, 42, me), to).unwrap();
    wait_for(&h, "Up", Duration::from_secs(1), |s| s.state == State::Up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multihop_min_ttl() {
    let (pa, _) = pair(ports(4));
    let a = Bfd::bind(&[], pa).unwrap();
    let h = a.add(SessionConfig::multihop(LO, 250)).unwrap();
    let to = (Ipv4Addr::LOCALHOST, pa.multihop);
    sender(249).send_to(&control(State::Down, 42, 0), to).unwrap();
    settle().await;
    assert_eq!(a.drops().bad_ttl, 1);
    assert_eq!(h.status().state, State::Down);
    sender(250).send_to(&control(State::Down, 42, 0), to).unwrap();
    wait_for(&h, "Init", Duration::from_secs(1), |s| s.state == State::Init).await;
    assert!(h.status().multihop);
}

#[tokio::test]
async fn a_port_in_use_fails_bind() {
    let base = ports(5);
    let _busy = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, base)).unwrap();
    let r = Bfd::bind(&[SessionConfig::single_hop(LO)], Ports::new(base, base + 1));
    let e = r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        e.contains(&format!("IPv4 single-hop receive socket on port {base}")),
        "{e}"
    );
}

#[test]
fn bind_outside_a_runtime_fails() {
    assert!(matches!(Bfd::bind(&[], Ports::default()), Err(BfdError::NoRuntime)));
}

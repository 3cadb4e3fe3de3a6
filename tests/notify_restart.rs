//! NOTIFY across a restart, two ways the kill storm (tests/kill_storm.rs)
//! left a zone one version behind its primary until the next SOA refresh
//! (an hour there), each narrowed down to one deterministic case:
//!
//! * `answered_notify_survives_kill9`: a NOTIFY answered just before a
//!   `kill -9`, whose transfer never finished. The primary does not send
//!   it again (RFC 1996), and a restart resumes the refresh timer; the
//!   engine's NOTIFY marker (`<zone>.zone.bin.notified` in
//!   `<data-dir>/zones`) makes the restarted node ask at once.
//! * `notify_during_startup_is_never_refused`: a NOTIFY that reached a
//!   starting node after its listeners ran and before the zone manager had
//!   installed the NOTIFY rules was answered NOTAUTH; the supervisor now
//!   starts the zone manager first.

mod common;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Misbehave, Pharos, PharosOpts, ScriptedPrimary, pharos_only, send_notify, soa_serial, toml_str, wire};

const RCODE_NOERROR: u8 = 0;
/// The tests count every answer to their own queries and NOTIFYs from
/// 127.0.0.1: response rate limiting (tests/rrl.rs) off.
const NO_RRL: &str = "\n[dns.rrl]\nresponses-per-second = 0\n";

/// The serial pharos serves for `zone` (NOERROR, AA), or what it answered.
fn soa(addr: SocketAddr, zone: &str) -> Result<u32, String> {
    let r = wire::udp_query(addr, zone, wire::TYPE_SOA, wire::CLASS_IN, Duration::from_secs(1))
        .map_err(|e| e.to_string())?;
    match soa_serial(&r) {
        Some(s) if r.rcode == RCODE_NOERROR && r.aa() => Ok(s),
        _ => Err(format!("rcode {}, aa {}", r.rcode, r.aa())),
    }
}

/// A NOTIFY pharos answered is the
/// primary's last word (RFC 1996: it stops retrying), so a `kill -9`
/// after the answer and before the transfer it asked for must not lose
/// the change until the next SOA refresh (an hour here). The restarted
/// node checks the primary at once.
#[test]
fn answered_notify_survives_kill9() {
    if !pharos_only("answered_notify_survives_kill9") {
        return;
    }
    const ZONE: &str = "notified.test";
    let primary = ScriptedPrimary::start(ZONE, 1, 5);
    let mut p = Pharos::start(PharosOpts {
        extra_toml: format!(
            "[[zone]]\nname = {}\nprimaries = [{}]\n{NO_RRL}",
            toml_str(ZONE),
            toml_str(&primary.addr_str())
        ),
        ready_zone: Some(ZONE.into()),
        ipv6: false,
        ..Default::default()
    });
    assert_eq!(soa(p.addr(), ZONE), Ok(1));
    // A new version whose transfer never ends: the kill lands after the
    // NOTIFY was answered and during the transfer it started.
    primary.set_axfr(Misbehave::Trickle);
    primary.set_serial(2);
    let seen = primary.requests().len();
    let reply = send_notify(
        std::net::Ipv4Addr::LOCALHOST.into(),
        p.addr(),
        ZONE,
        Duration::from_secs(2),
    )
    .unwrap_or_else(|e| panic!("NOTIFY to pharos: {e}"));
    assert_eq!(reply.rcode, RCODE_NOERROR, "NOTIFY answered {reply}");
    let asked = Instant::now();
    while !primary.requests()[seen..].iter().any(|r| r.contains("AXFR")) {
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "pharos did not ask for the zone after the NOTIFY: {:?}\n--- log\n{}",
            &primary.requests()[seen..],
            p.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    p.kill9();
    primary.set_axfr(Misbehave::Nothing);
    p.restart(Some(ZONE));
    let restarted = Instant::now();
    loop {
        match soa(p.addr(), ZONE) {
            Ok(2) => break,
            Ok(1) if restarted.elapsed() < Duration::from_secs(20) => std::thread::sleep(Duration::from_millis(50)),
            got => panic!(
                "20 s after the restart pharos serves {got:?}: the NOTIFY it answered for serial 2 before the \
                 kill was lost (requests since: {:?})\n--- log\n{}",
                &primary.requests()[seen..],
                p.log_tail(30)
            ),
        }
    }
    eprintln!(
        "answered_notify_survives_kill9: serial 2 served {} ms after the restart",
        restarted.elapsed().as_millis()
    );
}

/// A NOTIFY that reached a restarting node after its
/// listeners started and before its zone manager had installed the NOTIFY
/// rules was answered NOTAUTH ("not a secondary zone here"), so the
/// primary gave up on it and the zone waited for its refresh timer.
/// NOTIFYs sent every 100 µs through 20 restarts: every one answered is
/// answered NOERROR.
#[test]
fn notify_during_startup_is_never_refused() {
    if !pharos_only("notify_during_startup_is_never_refused") {
        return;
    }
    const ZONE: &str = "starting.test";
    const RESTARTS: usize = 20;
    let primary = ScriptedPrimary::start(ZONE, 1, 5);
    let mut p = Pharos::start(PharosOpts {
        extra_toml: format!(
            "[[zone]]\nname = {}\nprimaries = [{}]\n{NO_RRL}",
            toml_str(ZONE),
            toml_str(&primary.addr_str())
        ),
        ready_zone: Some(ZONE.into()),
        ipv6: false,
        ..Default::default()
    });
    let addr = p.addr();
    let stop = AtomicBool::new(false);
    // (answered NOERROR, answered otherwise: rcode and when)
    let answers = Mutex::new((0u64, Vec::<(u8, u64)>::new()));
    std::thread::scope(|s| {
        s.spawn(|| {
            let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
            let _ = sock.connect(addr);
            let _ = sock.set_nonblocking(true);
            let mut buf = [0u8; 512];
            let mut id: u16 = 0;
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                id = id.wrapping_add(1);
                let mut msg = wire::encode_query(id, ZONE, wire::TYPE_SOA, wire::CLASS_IN, None);
                msg[2] = (4 << 3) | 0x04; // opcode NOTIFY, AA
                let _ = sock.send(&msg);
                sent += 1;
                std::thread::sleep(Duration::from_micros(100));
                // Replies to this one or to earlier ones; errors (nothing
                // yet, the port closed while the node is down) just go on.
                while let Ok(n) = sock.recv(&mut buf) {
                    if let Some(r) = wire::parse(&buf[..n])
                        && r.qr()
                    {
                        let mut a = answers.lock().unwrap_or_else(|e| e.into_inner());
                        if r.rcode == RCODE_NOERROR {
                            a.0 += 1;
                        } else {
                            a.1.push((r.rcode, sent));
                        }
                    }
                }
            }
        });
        for _ in 0..RESTARTS {
            p.kill9();
            p.restart(Some(ZONE));
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let (ok, other) = answers.into_inner().unwrap_or_else(|e| e.into_inner());
    assert!(ok > 0, "no NOTIFY was answered at all");
    assert!(
        other.is_empty(),
        "{} NOTIFYs answered with an error around restarts (rcode 9 = NOTAUTH), the first as (rcode, NOTIFYs \
         sent by then): {:?}; {ok} answered NOERROR\n--- log\n{}",
        other.len(),
        &other[..other.len().min(10)],
        p.log_tail(30)
    );
    eprintln!(
        "notify_during_startup_is_never_refused: {ok} NOTIFYs answered NOERROR through {RESTARTS} restarts, none refused"
    );
}

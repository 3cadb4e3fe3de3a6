//! Tests of the poller through its handle and real loopback sockets.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::*;
use crate::zone::file::load_zone_text;
use crate::zone::{ZoneSet, name};

fn zone(apex: &str, serial: u32) -> Arc<crate::zone::Zone> {
    let text = format!("$ORIGIN {apex}.\n$TTL 300\n@ SOA ns h {serial} 60 10 600 30\n@ NS ns\nns A 192.0.2.1\n");
    match load_zone_text(apex, &text) {
        Ok(z) => Arc::new(z.zone),
        Err(e) => panic!("test zone: {}", e.summary()),
    }
}

fn targets(addr: SocketAddr) -> Targets {
    Targets {
        addrs: vec![addr],
        source: None,
        key: None,
    }
}

/// A node that never answers: at most MAX_IN_FLIGHT queries wait at once,
/// whatever the number of zones and the rate.
#[tokio::test]
async fn in_flight_is_bounded() {
    const ZONES: usize = 600;
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    let names: Vec<String> = (0..ZONES).map(|i| format!("z{i}.test")).collect();
    let store = Store::new(ZoneSet::from_zones(names.iter().map(|n| zone(n, 1))));
    let config = FleetConfig {
        rate: 1_000_000,
        ..FleetConfig::default()
    };
    let fleet = Fleet::spawn(store, &config);
    let table = names
        .iter()
        .map(|n| (name::from_text(n).unwrap_or_default().into_boxed_slice(), targets(addr)))
        .collect();
    fleet.set_targets(table);
    let c = fleet.counters();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut full = false;
    while tokio::time::Instant::now() < deadline {
        let done = c.answered.load(Ordering::Relaxed) + c.silent.load(Ordering::Relaxed);
        let sent = c.queries.load(Ordering::Relaxed);
        assert!(sent <= done + MAX_IN_FLIGHT as u64, "{sent} sent, {done} done");
        if sent - done == MAX_IN_FLIGHT as u64 {
            full = true;
        }
        if c.silent.load(Ordering::Relaxed) >= MAX_IN_FLIGHT as u64 && full {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(full, "the limit was never reached");
    assert!(c.silent.load(Ordering::Relaxed) >= MAX_IN_FLIGHT as u64);
    // every zone shows the node unreachable once asked
    let apex = name::from_text("z0.test").unwrap_or_default();
    let view = fleet.zone(&apex).expect("z0.test has a node");
    assert_eq!(view.nodes.len(), 1);
    assert_eq!(fleet.nodes().len(), 1);
    drop(silent);
}

/// A node that answers: the view follows the hub's serial and the node's.
#[tokio::test]
async fn follows_the_node() {
    let node = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = node.local_addr().expect("addr");
    let store = Store::new(ZoneSet::from_zones([zone("a.test", 7)]));
    let fleet = Fleet::spawn(store.clone(), &FleetConfig::default());
    let apex: Box<[u8]> = name::from_text("a.test").unwrap_or_default().into();
    fleet.set_targets([(apex.clone(), targets(addr))].into_iter().collect());
    // the node answers serial 5, then 7
    let served = Arc::new(std::sync::atomic::AtomicU32::new(5));
    let s = served.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = node.recv_from(&mut buf).await {
            let z = zone("a.test", s.load(Ordering::Relaxed));
            let Some(set) = z.get(crate::zone::APEX, crate::zone::rtype::SOA) else {
                continue;
            };
            let Some(rdata) = z.records(set).next().map(<[u8]>::to_vec) else {
                continue;
            };
            let mut reply = crate::axfr::notify_out::notify_message(
                u16::from_be_bytes([buf[0], buf[1]]),
                &name::from_text("a.test").unwrap_or_default(),
                300,
                &rdata,
            );
            // a query answer: QR, opcode QUERY, AA
            reply[2] = 0x84;
            let _ = n;
            let _ = node.send_to(&reply, from).await;
        }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen_behind = false;
    while tokio::time::Instant::now() < deadline {
        if let Some(v) = fleet.zone(&apex) {
            if v.nodes[0].state == "behind" {
                assert_eq!(v.nodes[0].behind_by, Some(2));
                seen_behind = true;
                served.store(7, Ordering::Relaxed);
            }
            if seen_behind && v.nodes[0].state == "in-sync" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen_behind, "never behind: {:?}", fleet.zone(&apex));
    let v = fleet.zone(&apex).expect("view");
    assert_eq!(v.nodes[0].state, "in-sync", "{v:?}");
    assert_eq!(v.serial, Some(7));
    let ok = fleet.wait(&apex, 7, Duration::from_secs(5)).await;
    assert!(matches!(ok, Ok(Ok(_))), "{ok:?}");
    let late = fleet.wait(&apex, 8, Duration::ZERO).await;
    assert!(matches!(late, Ok(Err(_))), "{late:?}");
}

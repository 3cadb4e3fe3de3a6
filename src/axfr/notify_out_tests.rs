//! Tests of NOTIFY out, through the task and real loopback sockets.

use super::*;
use crate::config::TsigAlgorithm;
use crate::zone::file::load_zone_text;

fn zone(serial: u32) -> Arc<Zone> {
    let text = format!(
        "$ORIGIN n.test.\n$TTL 300\n@ SOA ns.n.test. h.n.test. {serial} 60 10 600 30\n@ NS ns\nns A 192.0.2.1\n"
    );
    match load_zone_text("n.test", &text) {
        Ok(z) => Arc::new(z.zone),
        Err(e) => panic!("test zone: {}", e.summary()),
    }
}

fn apex() -> Box<[u8]> {
    name::from_text("n.test").unwrap_or_default().into()
}

/// The serial in the answer section of a NOTIFY built by [`notify_message`].
fn serial_of(msg: &[u8]) -> u32 {
    let qname_end = HEADER_LEN + apex().len() + 4;
    // owner pointer (2), type, class, ttl, rdlength: 10 more
    let rdata = &msg[qname_end + 12..];
    let mnames = crate::zone::build::skip_name(rdata).unwrap_or(0);
    let rnames = crate::zone::build::skip_name(&rdata[mnames..]).unwrap_or(0);
    let at = mnames + rnames;
    u32::from_be_bytes([rdata[at], rdata[at + 1], rdata[at + 2], rdata[at + 3]])
}

/// The answer to a NOTIFY: QR set, same ID, opcode and question.
fn answer_to(msg: &[u8]) -> Vec<u8> {
    let qend = HEADER_LEN + apex().len() + 4;
    let mut a = msg[..qend].to_vec();
    a[2] |= 0x80;
    a[6..12].fill(0);
    a
}

async fn recv(sock: &UdpSocket, limit: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(limit, sock.recv_from(&mut buf)).await {
        Ok(Ok((n, from))) => Some((buf[..n].to_vec(), from)),
        _ => None,
    }
}

fn table(addrs: Vec<SocketAddr>, key: Option<Arc<Key>>) -> HashMap<Box<[u8]>, Targets> {
    HashMap::from([(
        apex(),
        Targets {
            addrs,
            source: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            key,
        },
    )])
}

#[test]
fn message_is_a_notify_with_the_soa() {
    let z = zone(7);
    let soa = z.get(APEX, rtype::SOA).copied().unwrap_or_else(|| panic!("no SOA"));
    let rdata = z.records(&soa).next().unwrap_or_default().to_vec();
    let m = notify_message(0x1234, z.apex(), soa.ttl, &rdata);
    assert_eq!(&m[..2], &[0x12, 0x34]);
    assert_eq!((m[2] >> 3) & 0x0f, OPCODE_NOTIFY, "opcode NOTIFY");
    assert_eq!(m[2] & 0x04, 0x04, "AA set");
    assert_eq!(m[2] & 0x80, 0, "a request");
    assert_eq!(&m[4..12], &[0, 1, 0, 1, 0, 0, 0, 0], "one question, one answer");
    assert_eq!(serial_of(&m), 7);
}

#[test]
fn bucket_paces_after_its_burst() {
    let t0 = Instant::now();
    let mut b = Bucket::new(100, t0);
    // burst: 100 / 20 = 5
    for i in 0..5 {
        assert!(b.take(t0), "token {i} of the burst");
    }
    assert!(!b.take(t0), "past the burst");
    let at = b.ready_at(t0);
    assert_eq!(at - t0, Duration::from_millis(10));
    assert!(b.take(at));
    // Idle for long: never more than the burst.
    let later = at + Duration::from_secs(60);
    assert_eq!((0..100).filter(|_| b.take(later)).count(), 5);
}

#[tokio::test]
async fn new_version_is_announced_answered_and_not_repeated() {
    let store = Store::new(ZoneSet::from_zones([zone(1)]));
    let sender = NotifySender::spawn(store.clone(), 1000);
    let target = UdpSocket::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = target.local_addr().unwrap_or_else(|e| panic!("{e}"));
    sender.set_targets(table(vec![addr], None));
    let (m, from) = recv(&target, Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("no NOTIFY"));
    assert_eq!(serial_of(&m), 1, "the version served when the targets came");
    target
        .send_to(&answer_to(&m), from)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Answered: no retry (the first would come after 2 s).
    assert!(
        recv(&target, Duration::from_millis(2500)).await.is_none(),
        "retried after an answer"
    );
    assert_eq!(sender.counters.answered.load(Ordering::Relaxed), 1);

    // A new version: one NOTIFY with its serial.
    store.update(|set| set.with(zone(2), false));
    let (m, from) = recv(&target, Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("no NOTIFY for 2"));
    assert_eq!(serial_of(&m), 2);
    target
        .send_to(&answer_to(&m), from)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The same serial again (a reload of an unchanged file): nothing.
    store.update(|set| set.with(zone(2), false));
    assert!(
        recv(&target, Duration::from_millis(2500)).await.is_none(),
        "NOTIFY for a serial already announced"
    );
    assert_eq!(sender.counters.sent.load(Ordering::Relaxed), 2);
    assert_eq!(sender.counters.answered.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn silent_target_is_retried_and_the_other_is_not_delayed() {
    let store = Store::new(ZoneSet::from_zones([zone(3)]));
    let sender = NotifySender::spawn(store.clone(), 1000);
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let live = UdpSocket::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addrs = vec![
        silent.local_addr().unwrap_or_else(|e| panic!("{e}")),
        live.local_addr().unwrap_or_else(|e| panic!("{e}")),
    ];
    let t0 = std::time::Instant::now();
    sender.set_targets(table(addrs, None));
    let (m, from) = recv(&live, Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("no NOTIFY"));
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "the answering target was delayed: {:?}",
        t0.elapsed()
    );
    live.send_to(&answer_to(&m), from)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (first, _) = recv(&silent, Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("no NOTIFY"));
    let (second, _) = recv(&silent, Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("no retry"));
    let gap = t0.elapsed();
    assert!(gap >= Duration::from_millis(1900), "retried too soon: {gap:?}");
    assert_eq!(&first[..2], &second[..2], "a retry keeps the ID");
    assert_eq!(sender.counters.retries.load(Ordering::Relaxed), 1);
    assert!(
        recv(&live, Duration::from_millis(500)).await.is_none(),
        "the answered target was retried"
    );
}

#[tokio::test]
async fn signed_notify_needs_a_signed_answer() {
    let key = Arc::new(
        Key::new("notify-key", TsigAlgorithm::HmacSha256, b"0123456789abcdef").unwrap_or_else(|e| panic!("{e}")),
    );
    let store = Store::new(ZoneSet::from_zones([zone(4)]));
    let sender = NotifySender::spawn(store.clone(), 1000);
    let target = UdpSocket::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = target.local_addr().unwrap_or_else(|e| panic!("{e}"));
    sender.set_targets(table(vec![addr], Some(key.clone())));
    let (m, from) = recv(&target, Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("no NOTIFY"));
    let keys = |n: &[u8]| (n == key.name.as_slice()).then_some(&*key);
    let req =
        tsig::verify_request(&m, &keys, tsig::unix_now()).unwrap_or_else(|e| panic!("NOTIFY not signed right: {e}"));
    // An unsigned answer does not count.
    target
        .send_to(&answer_to(&m), from)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (retry, from) = recv(&target, Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("no retry"));
    assert_eq!(sender.counters.answered.load(Ordering::Relaxed), 0);
    assert!(sender.counters.ignored.load(Ordering::Relaxed) >= 1);
    // A signed answer to the first try (late) ends the tries.
    let _ = retry;
    let mut a = answer_to(&m);
    tsig::sign_response(&mut a, &key, &req.mac, tsig::unix_now(), tsig::DEFAULT_FUDGE);
    target.send_to(&a, from).await.unwrap_or_else(|e| panic!("{e}"));
    let t0 = std::time::Instant::now();
    while sender.counters.answered.load(Ordering::Relaxed) == 0 && t0.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sender.counters.answered.load(Ordering::Relaxed), 1);
}

//! Tests of TSIG signing and verification.

use super::*;

fn key(algorithm: Algorithm) -> Key {
    Key::new("xfr-key", algorithm, b"0123456789abcdef0123456789abcdef").unwrap()
}

/// A message with one question (`example.com. SOA IN`) and `n` TXT
/// answers whose text is `tag`.
fn message(id: u16, n: u16, tag: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x84, 0x00, 0, 1]);
    m.extend_from_slice(&n.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
    for _ in 0..n {
        m.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
        m.extend_from_slice(&((tag.len() + 1) as u16).to_be_bytes());
        m.push(tag.len() as u8);
        m.extend_from_slice(tag);
    }
    m
}

const NOW: u64 = 1_700_000_000;

/// Rewrites the MAC of the message's TSIG (which must be last) to `mac`.
fn replace_mac(msg: &[u8], mac: &[u8]) -> Vec<u8> {
    let t = find_tsig(msg).unwrap().unwrap();
    let mut out = msg[..t.start].to_vec();
    let ar = u16::from_be_bytes([out[10], out[11]]) - 1;
    out[10..12].copy_from_slice(&ar.to_be_bytes());
    let v = Fields {
        time: t.time,
        fudge: t.fudge,
        error: t.error,
        other: t.other,
    };
    append_tsig(&mut out, &t.key_name, &t.algorithm_name, mac, t.original_id, &v);
    out
}

#[test]
fn algorithm_wire_names() {
    assert_eq!(
        algorithm_wire_name(Algorithm::HmacMd5),
        b"\x08hmac-md5\x07sig-alg\x03reg\x03int\x00"
    );
    assert_eq!(algorithm_wire_name(Algorithm::HmacSha256), b"\x0bhmac-sha256\x00");
    for a in Algorithm::ALL {
        assert_eq!(algorithm_from_wire(&algorithm_wire_name(a)), Some(a));
        let upper = algorithm_wire_name(a).to_ascii_uppercase();
        assert_eq!(algorithm_from_wire(&upper), Some(a));
    }
    assert_eq!(algorithm_from_wire(b"\x0bhmac-sha999\x00"), None);
    assert_eq!(algorithm_from_wire(b"\x08hmac-md5\x00"), None);
}

#[test]
fn request_round_trip_all_algorithms() {
    for a in Algorithm::ALL {
        let k = key(a);
        let mut q = message(0x1234, 0, b"");
        let plain = q.clone();
        let mac = sign_request(&mut q, &k, NOW, 300);
        assert_eq!(mac.len(), a.mac_len(), "{a}");
        assert_eq!(&q[10..12], &[0, 1]);
        assert_eq!(&q[..10], &plain[..10]);
        let keys = |n: &[u8]| (n == k.name.as_slice()).then_some(&k);
        let r = verify_request(&q, &keys, NOW + 10).unwrap();
        assert_eq!(r.mac, mac);
        assert_eq!(r.algorithm, a);
        assert_eq!(r.key_name, k.name);
        assert_eq!(r.time_signed, NOW);
        assert_eq!(r.original_id, 0x1234);

        let mut resp = message(0x1234, 3, b"answer");
        sign_response(&mut resp, &k, &r.mac, NOW + 1, 300);
        let mut v = ResponseVerifier::new(&k, &mac);
        assert_eq!(v.verify(&resp, NOW + 2), Ok(Verified::Signed));
        v.finish().unwrap();
        // the same response does not verify against another request MAC
        let mut v = ResponseVerifier::new(&k, &mac[1..]);
        assert!(matches!(v.verify(&resp, NOW + 2), Err(TsigError::BadSig { .. })));
    }
}

#[test]
fn request_errors() {
    let k = key(Algorithm::HmacSha256);
    let keys = |n: &[u8]| (n == k.name.as_slice()).then_some(&k);
    let mut q = message(7, 0, b"");
    sign_request(&mut q, &k, NOW, 300);

    let none = |_: &[u8]| None;
    let e = verify_request(&q, &none, NOW).unwrap_err();
    assert_eq!(e.rcode(), BADKEY);
    assert_eq!(e.header_rcode(), RCODE_NOTAUTH);
    assert_eq!(e.to_string(), "TSIG BADKEY from key xfr-key.: no such key here");

    let other_alg = key(Algorithm::HmacSha1);
    let keys_sha1 = |_: &[u8]| Some(&other_alg);
    assert_eq!(verify_request(&q, &keys_sha1, NOW).unwrap_err().rcode(), BADKEY);

    let wrong = Key::new("xfr-key", Algorithm::HmacSha256, b"another secret").unwrap();
    let keys_wrong = |_: &[u8]| Some(&wrong);
    let e = verify_request(&q, &keys_wrong, NOW).unwrap_err();
    assert_eq!(e, TsigError::BadSig { key: "xfr-key.".into() });
    assert_eq!(e.to_string(), "TSIG BADSIG from key xfr-key.: the MAC does not verify");

    let e = verify_request(&q, &keys, NOW + 301).unwrap_err();
    assert_eq!(e.rcode(), BADTIME);
    assert!(verify_request(&q, &keys, NOW - 300).is_ok());

    let plain = message(7, 0, b"");
    assert_eq!(verify_request(&plain, &keys, NOW), Err(TsigError::Unsigned));

    // the message ID is not covered (the original ID is digested), so
    // a forwarder may change it
    let mut other_id = q.clone();
    other_id[0] ^= 0xff;
    assert_eq!(verify_request(&other_id, &keys, NOW).unwrap().original_id, 7);
    // every other single-byte change before the TSIG is caught
    let t_start = find_tsig(&q).unwrap().unwrap().start;
    for i in 2..t_start {
        let mut bad = q.clone();
        bad[i] ^= 0x20;
        let r = verify_request(&bad, &keys, NOW);
        assert!(r.is_err(), "byte {i} changed and still verified");
    }
}

#[test]
fn truncated_macs() {
    let k = key(Algorithm::HmacSha256);
    let keys = |_: &[u8]| Some(&k);
    let mut q = message(9, 0, b"");
    let mac = sign_request(&mut q, &k, NOW, 300);
    // 16 octets (half of SHA-256) is the minimum
    let ok = replace_mac(&q, &mac[..16]);
    assert!(verify_request(&ok, &keys, NOW).is_ok());
    let short = replace_mac(&q, &mac[..15]);
    let e = verify_request(&short, &keys, NOW).unwrap_err();
    assert!(
        matches!(
            e,
            TsigError::MacSize {
                len: 15,
                min: 16,
                max: 32,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.header_rcode(), RCODE_FORMERR);
    let mut long = mac.clone();
    long.push(0);
    assert!(matches!(
        verify_request(&replace_mac(&q, &long), &keys, NOW),
        Err(TsigError::MacSize { len: 33, .. })
    ));
    // a wrong truncated MAC is BADSIG
    let mut bad = mac[..16].to_vec();
    bad[15] ^= 1;
    assert!(matches!(
        verify_request(&replace_mac(&q, &bad), &keys, NOW),
        Err(TsigError::BadSig { .. })
    ));
    // MD5 (16 octets): the minimum is 10, not 8
    let k5 = key(Algorithm::HmacMd5);
    let keys5 = |_: &[u8]| Some(&k5);
    let mut q5 = message(9, 0, b"");
    let mac5 = sign_request(&mut q5, &k5, NOW, 300);
    assert!(verify_request(&replace_mac(&q5, &mac5[..10]), &keys5, NOW).is_ok());
    assert!(verify_request(&replace_mac(&q5, &mac5[..9]), &keys5, NOW).is_err());

    // truncated MACs in a response stream: the prior MAC is the truncated one
    let mut signer = ResponseSigner::new(&k, &mac);
    let mut m1 = message(9, 2, b"one");
    let full1 = signer.sign(&mut m1, NOW, 300);
    let m1t = replace_mac(&m1, &full1[..20]);
    let mut v = ResponseVerifier::new(&k, &mac);
    assert_eq!(v.verify(&m1t, NOW), Ok(Verified::Signed));
    // the next message chained on the full MAC fails against the truncated prior MAC
    let mut m2 = message(9, 2, b"two");
    signer.sign(&mut m2, NOW, 300);
    assert!(matches!(v.verify(&m2, NOW), Err(TsigError::BadSig { .. })));
}

#[test]
fn compressed_owner_and_case() {
    // the key is named like the question, the TSIG owner is a pointer
    let k = Key::new("Example.COM", Algorithm::HmacSha1, b"secret").unwrap();
    assert_eq!(k.name, b"\x07example\x03com\x00");
    let mut q = message(3, 0, b"");
    sign_request(&mut q, &k, NOW, 300);
    let qlen = message(3, 0, b"").len();
    let mut c = q[..qlen].to_vec();
    c.extend_from_slice(&[0xc0, 12]);
    c.extend_from_slice(&q[qlen + k.name.len()..]);
    let keys = |n: &[u8]| (n == k.name.as_slice()).then_some(&k);
    let r = verify_request(&c, &keys, NOW).unwrap();
    assert_eq!(r.key_name, k.name);
    // upper-case key and algorithm names on the wire digest in lower case
    let mut upper = q.clone();
    let off = qlen;
    upper[off..]
        .iter_mut()
        .take(30)
        .for_each(|b| *b = b.to_ascii_uppercase());
    assert!(verify_request(&upper, &keys, NOW).is_ok());
}

#[test]
fn misplaced_tsig_is_malformed() {
    let k = key(Algorithm::HmacSha256);
    let keys = |_: &[u8]| Some(&k);
    let mut q = message(5, 0, b"");
    sign_request(&mut q, &k, NOW, 300);
    // trailing data after the TSIG
    let mut t = q.clone();
    t.push(0);
    assert!(matches!(verify_request(&t, &keys, NOW), Err(TsigError::Malformed(_))));
    // TSIG counted in the answer section
    let mut a = q.clone();
    a[7] = 1;
    a[11] = 0;
    assert!(matches!(verify_request(&a, &keys, NOW), Err(TsigError::Malformed(_))));
    // TSIG followed by another additional record
    let mut b = q.clone();
    b[11] = 2;
    b.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(verify_request(&b, &keys, NOW), Err(TsigError::Malformed(_))));
}

/// A stream of `pattern.len()` messages; `true` = signed.
fn stream(k: &Key, request_mac: &[u8], pattern: &[bool]) -> Vec<Vec<u8>> {
    let mut signer = ResponseSigner::new(k, request_mac);
    pattern
        .iter()
        .enumerate()
        .map(|(i, &signed)| {
            let mut m = message(0x4242, 3, format!("message {i}").as_bytes());
            if signed {
                signer.sign(&mut m, NOW + i as u64, 300);
            } else {
                signer.skip(&m);
            }
            m
        })
        .collect()
}

fn run(k: &Key, request_mac: &[u8], msgs: &[Vec<u8>]) -> Result<Vec<Verified>, TsigError> {
    let mut v = ResponseVerifier::new(k, request_mac);
    let out = msgs.iter().map(|m| v.verify(m, NOW)).collect::<Result<Vec<_>, _>>()?;
    v.finish()?;
    Ok(out)
}

#[test]
fn multi_message_streams() {
    let k = key(Algorithm::HmacSha384);
    let req_mac = vec![7u8; 48];
    use Verified::{Signed as S, Unsigned as U};

    let all = stream(&k, &req_mac, &[true; 6]);
    assert_eq!(run(&k, &req_mac, &all), Ok(vec![S; 6]));

    let mixed = stream(&k, &req_mac, &[true, false, false, true, false, true]);
    assert_eq!(run(&k, &req_mac, &mixed), Ok(vec![S, U, U, S, U, S]));

    // 99 unsigned in a row are fine
    let mut p = vec![true];
    p.extend([false; 99]);
    p.push(true);
    assert!(run(&k, &req_mac, &stream(&k, &req_mac, &p)).is_ok());
    // 100 are not
    let mut p = vec![true];
    p.extend([false; 100]);
    p.push(true);
    assert_eq!(
        run(&k, &req_mac, &stream(&k, &req_mac, &p)),
        Err(TsigError::TooManyUnsigned)
    );

    // the last message unsigned
    let tail = stream(&k, &req_mac, &[true, true, false]);
    let mut v = ResponseVerifier::new(&k, &req_mac);
    for m in &tail {
        v.verify(m, NOW).unwrap();
    }
    assert_eq!(v.finish(), Err(TsigError::UnsignedLast { count: 1 }));

    // the first message unsigned
    let head = stream(&k, &req_mac, &[false, true]);
    assert_eq!(run(&k, &req_mac, &head), Err(TsigError::Unsigned));
    assert_eq!(run(&k, &req_mac, &[]), Err(TsigError::Unsigned));

    // reordered or dropped messages
    let mut swapped = all.clone();
    swapped.swap(2, 3);
    assert!(matches!(run(&k, &req_mac, &swapped), Err(TsigError::BadSig { .. })));
    let mut dropped = mixed.clone();
    dropped.remove(1);
    assert!(matches!(run(&k, &req_mac, &dropped), Err(TsigError::BadSig { .. })));
}

#[test]
fn tampered_message_in_the_middle() {
    let k = key(Algorithm::HmacSha256);
    let req_mac = vec![1u8; 32];
    for pattern in [&[true, true, true, true][..], &[true, false, false, true]] {
        let msgs = stream(&k, &req_mac, pattern);
        let mut bad = msgs.clone();
        let n = bad[2].len();
        bad[2][n / 2] ^= 0x01;
        let mut v = ResponseVerifier::new(&k, &req_mac);
        assert_eq!(v.verify(&bad[0], NOW), Ok(Verified::Signed));
        assert!(v.verify(&bad[1], NOW).is_ok());
        let r2 = v.verify(&bad[2], NOW);
        let r3 = v.verify(&bad[3], NOW);
        if pattern[2] {
            assert!(matches!(r2, Err(TsigError::BadSig { .. })), "{r2:?}");
        } else {
            // unsigned: caught by the next signed message
            assert_eq!(r2, Ok(Verified::Unsigned));
        }
        assert!(matches!(r3, Err(TsigError::BadSig { .. })), "{r3:?}");
        assert!(v.finish().is_err());
        // once failed, always failed
        assert!(v.verify(&msgs[3], NOW).is_err());
    }
}

#[test]
fn response_time_and_key_checks() {
    let k = key(Algorithm::HmacSha512);
    let req_mac = vec![3u8; 64];
    let mut m = message(1, 1, b"x");
    ResponseSigner::new(&k, &req_mac).sign(&mut m, NOW, 300);
    let mut v = ResponseVerifier::new(&k, &req_mac);
    let e = v.verify(&m, NOW + 301).unwrap_err();
    assert_eq!(
        e.to_string(),
        "TSIG BADTIME from key xfr-key.: signed at 1700000000, local time 1700000301, fudge 300s"
    );
    let other = Key::new("other-key", Algorithm::HmacSha512, &k.secret).unwrap();
    let mut v = ResponseVerifier::new(&other, &req_mac);
    assert!(matches!(v.verify(&m, NOW), Err(TsigError::BadKey { .. })));
    let sha256 = Key::new("xfr-key", Algorithm::HmacSha256, &k.secret).unwrap();
    let mut v = ResponseVerifier::new(&sha256, &req_mac);
    assert!(matches!(v.verify(&m, NOW), Err(TsigError::BadKey { .. })));
}

#[test]
fn error_answers_round_trip() {
    let k = key(Algorithm::HmacSha256);
    let keys = |n: &[u8]| (n == k.name.as_slice()).then_some(&k);
    let mut q = message(0x77, 0, b"");
    let req_mac = sign_request(&mut q, &k, NOW, 300);

    // BADTIME: the server's clock is 1000 s ahead
    let server_now = NOW + 1000;
    let e = verify_request(&q, &keys, server_now).unwrap_err();
    assert_eq!(e.rcode(), BADTIME);
    let mut resp = message(0x77, 0, b"");
    assert!(error_response_tsig(&mut resp, &q, &e, &keys, server_now));
    assert_eq!(resp[3] & 0x0f, 9);
    let mut v = ResponseVerifier::new(&k, &req_mac);
    let got = v.verify(&resp, NOW).unwrap_err();
    assert_eq!(
        got,
        TsigError::Peer {
            key: "xfr-key.".into(),
            code: BADTIME,
            server_time: Some(server_now)
        }
    );
    assert_eq!(got.rcode(), BADTIME);
    assert_eq!(
        got.to_string(),
        "TSIG BADTIME from key xfr-key.: the server rejected our signature (server time 1700001000)"
    );

    // BADSIG and BADKEY: unsigned
    for (e, code) in [
        (TsigError::BadSig { key: "xfr-key.".into() }, BADSIG),
        (
            TsigError::BadKey {
                key: "xfr-key.".into(),
                detail: String::new(),
            },
            BADKEY,
        ),
    ] {
        let mut resp = message(0x77, 0, b"");
        assert!(error_response_tsig(&mut resp, &q, &e, &keys, NOW));
        let t = find_tsig(&resp).unwrap().unwrap();
        assert!(t.mac.is_empty());
        assert_eq!(t.error, code);
        assert_eq!(t.original_id, 0x77);
        let mut v = ResponseVerifier::new(&k, &req_mac);
        let got = v.verify(&resp, NOW).unwrap_err();
        assert_eq!(got.rcode(), code);
        assert!(matches!(got, TsigError::Peer { .. }));
    }

    // no TSIG error code: nothing appended
    let mut resp = message(0x77, 0, b"");
    let before = resp.clone();
    assert!(!error_response_tsig(&mut resp, &q, &TsigError::Unsigned, &keys, NOW));
    assert_eq!(resp, before);
}

/// xorshift64*, deterministic
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let k = key(Algorithm::HmacSha256);
    let keys = |_: &[u8]| Some(&k);
    let mut q = message(1, 2, b"seed");
    let mac = sign_request(&mut q, &k, NOW, 300);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..20_000 {
        let mut m = if round % 4 == 0 {
            (0..rng.below(80)).map(|_| rng.next() as u8).collect::<Vec<u8>>()
        } else {
            q.clone()
        };
        for _ in 0..rng.below(4) {
            if m.is_empty() {
                break;
            }
            let i = rng.below(m.len());
            match rng.below(3) {
                0 => m[i] = rng.next() as u8,
                1 => m.truncate(i),
                _ => m.insert(i, rng.next() as u8),
            }
        }
        let _ = verify_request(&m, &keys, NOW);
        let mut v = ResponseVerifier::new(&k, &mac);
        let _ = v.verify(&m, NOW);
        let _ = v.verify(&m, NOW);
        let _ = v.finish();
        let mut resp = m.clone();
        let _ = error_response_tsig(&mut resp, &m, &TsigError::BadSig { key: String::new() }, &keys, NOW);
    }
    // forward pointers, pointer loops and overlong names
    let mut q2 = message(1, 0, b"");
    sign_request(&mut q2, &k, NOW, 300);
    let qlen = message(1, 0, b"").len();
    let mut forward = q2[..qlen].to_vec();
    forward.extend_from_slice(&[0xc0, (qlen + 2) as u8]);
    forward.extend_from_slice(&q2[qlen + k.name.len()..]);
    assert_eq!(
        verify_request(&forward, &keys, NOW),
        Err(TsigError::Malformed(
            "compression pointer does not point backwards".into()
        ))
    );
    let mut looped = message(1, 0, b"");
    looped[11] = 1;
    looped.extend_from_slice(&[0xc0, 0x1d]);
    looped.extend_from_slice(&[0xc0, 0x1d]);
    assert!(verify_request(&looped, &keys, NOW).is_err());
    let mut long = message(1, 0, b"");
    long[11] = 1;
    for _ in 0..200 {
        long.extend_from_slice(b"\x03abc");
    }
    long.push(0);
    long.extend_from_slice(&[0, 250, 0, 255, 0, 0, 0, 0, 0, 0]);
    assert!(verify_request(&long, &keys, NOW).is_err());
}

#[test]
fn key_from_config_and_debug() {
    let cfg = TsigKey {
        name: "xfr-key".into(),
        algorithm: Algorithm::HmacSha224,
        secret: vec![1, 2, 3],
    };
    let k = Key::try_from(&cfg).unwrap();
    assert_eq!(k.name, b"\x07xfr-key\x00");
    assert_eq!(k.name_text(), "xfr-key.");
    let d = format!("{k:?}");
    assert!(d.contains("<3 bytes>") && !d.contains("[1, 2, 3]"), "{d}");
}

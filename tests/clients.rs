//! Real DNS clients (kdig from Debian `knot-dnsutils`, dig from `dnsutils`)
//! against the real pharos binary serving the bundled zones
//! (tests/dnsdiff/zones/*.zone and zones/example.com.zone).
//!
//! Assertions are on what the clients print: status, header flags, section
//! counts and records.  `PHAROS_TEST_AGAINST=knot cargo test --test clients`
//! runs the same tests against Knot DNS (a check of the tests themselves).

mod common;

use common::{
    DigHeader, Pharos, PharosOpts, Zone, answer_section, authority_section, client_text, dig, dnsdiff_zones,
    have_ipv6_loopback, kdig, pharos_cmd, repo_root,
};

const NODE_ID: &str = "clients-node-1";
const VERSION: &str = "pharos-clients-test";

/// The bundled zones: the dnsdiff zones plus zones/example.com.zone.
fn bundled_zones() -> Vec<Zone> {
    let mut zones = dnsdiff_zones();
    zones.push(Zone::new("example.com", &repo_root().join("zones/example.com.zone")));
    zones
}

fn start() -> Pharos {
    Pharos::start(PharosOpts {
        zones: bundled_zones(),
        node_id: NODE_ID.into(),
        nsid: true,
        version: Some(VERSION.into()),
        udp_payload: 1232,
        ipv6: have_ipv6_loopback(),
        ready_zone: Some("example.test".into()),
        ..Default::default()
    })
}

fn args(server: &[String], rest: &[&str]) -> Vec<String> {
    server
        .iter()
        .cloned()
        .chain(rest.iter().map(|s| s.to_string()))
        .collect()
}

fn assert_header(h: &DigHeader, text: &str, status: &str, flags: &[&str], not_flags: &[&str]) {
    assert_eq!(h.status, status, "status; output:\n{text}");
    for f in flags {
        assert!(h.has_flag(f), "flag {f} missing in {:?}; output:\n{text}", h.flags);
    }
    for f in not_flags {
        assert!(
            !h.has_flag(f),
            "flag {f} must not be set in {:?}; output:\n{text}",
            h.flags
        );
    }
}

/// Lines of an answer section whose type column is `rtype`.
fn records_of(section: &[String], rtype: &str) -> Vec<String> {
    section
        .iter()
        .filter(|l| l.split_whitespace().nth(3) == Some(rtype))
        .cloned()
        .collect()
}

#[test]
fn kdig_udp_soa() {
    let p = start();
    let out = kdig(&args(&p.at(), &["+norec", "example.test", "SOA"]));
    let (text, h) = client_text(&out);
    assert_header(&h, &text, "NOERROR", &["qr", "aa"], &["tc", "ra", "rd"]);
    assert_eq!((h.query, h.answer, h.authority), (1, 1, 0), "counts; output:\n{text}");
    let ans = answer_section(&text);
    assert_eq!(
        ans,
        vec!["example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300"],
        "output:\n{text}"
    );
    assert!(text.contains(&format!("@{}(UDP)", p.port)), "not over UDP:\n{text}");
}

#[test]
fn kdig_tcp() {
    let p = start();
    let out = kdig(&args(&p.at(), &["+tcp", "+norec", "www.example.test", "A"]));
    let (text, h) = client_text(&out);
    assert_header(&h, &text, "NOERROR", &["qr", "aa"], &["tc"]);
    assert_eq!(h.answer, 1, "output:\n{text}");
    assert_eq!(
        answer_section(&text),
        vec!["www.example.test. 3600 IN A 192.0.2.80"],
        "output:\n{text}"
    );
    assert!(text.contains(&format!("@{}(TCP)", p.port)), "not over TCP:\n{text}");
}

#[test]
fn dig_tcp_and_udp_agree() {
    let p = start();
    for transport in ["+notcp", "+tcp"] {
        let out = dig(&args(&p.at(), &[transport, "+norec", "example.test", "MX"]));
        let (text, h) = client_text(&out);
        assert_header(&h, &text, "NOERROR", &["qr", "aa"], &["tc"]);
        let mut mx = records_of(&answer_section(&text), "MX");
        mx.sort();
        assert_eq!(
            mx,
            vec![
                "example.test. 3600 IN MX 10 mail.example.test.",
                "example.test. 3600 IN MX 20 mail.outside.invalid.",
            ],
            "{transport}; output:\n{text}"
        );
    }
}

#[test]
fn ipv6_listener() {
    assert!(
        have_ipv6_loopback(),
        "this machine has no IPv6 loopback (::1): the IPv6 listener cannot be tested"
    );
    let p = start();
    let out = kdig(&args(&p.at6(), &["+norec", "www.example.test", "AAAA"]));
    let (text, h) = client_text(&out);
    assert_header(&h, &text, "NOERROR", &["qr", "aa"], &[]);
    assert_eq!(
        answer_section(&text),
        vec!["www.example.test. 3600 IN AAAA 2001:db8::80"],
        "output:\n{text}"
    );
    assert!(text.contains(&format!("::1@{}(UDP)", p.port)), "not from ::1:\n{text}");

    let out = dig(&args(&p.at6(), &["+tcp", "+norec", "example.test", "SOA"]));
    let (text, h) = client_text(&out);
    assert_header(&h, &text, "NOERROR", &["qr", "aa"], &[]);
    assert_eq!(h.answer, 1, "output:\n{text}");
    assert!(
        text.contains(&format!("SERVER: ::1#{}(::1) (TCP)", p.port)),
        "dig over ::1/TCP:\n{text}"
    );
}

/// 40 A records do not fit in 512 octets: without EDNS the UDP answer is
/// truncated (TC=1) ...
#[test]
fn large_answer_without_edns_is_truncated() {
    let p = start();
    let out = dig(&args(
        &p.at(),
        &["+noedns", "+ignore", "+norec", "big.example.test", "A"],
    ));
    let (text, h) = client_text(&out);
    assert_header(&h, &text, "NOERROR", &["qr", "aa", "tc"], &[]);
    assert!(h.answer < 40, "a truncated answer cannot hold all 40 records:\n{text}");
    let received: usize = text
        .lines()
        .find_map(|l| l.strip_prefix(";; MSG SIZE  rcvd: "))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no MSG SIZE line:\n{text}"));
    assert!(
        received <= 512,
        "UDP response without EDNS larger than 512 octets: {received}"
    );

    // kdig the same way
    let out = kdig(&args(
        &p.at(),
        &["+noedns", "+ignore", "+norec", "big.example.test", "A"],
    ));
    let (text, h) = client_text(&out);
    assert_header(&h, &text, "NOERROR", &["qr", "aa", "tc"], &[]);
}

/// ... and dig's automatic retry over TCP gets all 40.
#[test]
fn truncated_answer_retried_over_tcp_is_complete() {
    let p = start();
    let out = dig(&args(&p.at(), &["+noedns", "+norec", "big.example.test", "A"]));
    let (text, h) = client_text(&out);
    assert!(
        text.contains(";; Truncated, retrying in TCP mode."),
        "dig did not see TC=1 over UDP:\n{text}"
    );
    assert_header(&h, &text, "NOERROR", &["qr", "aa"], &["tc"]);
    assert_eq!(h.answer, 40, "output:\n{text}");
    let a = records_of(&answer_section(&text), "A");
    assert_eq!(a.len(), 40, "output:\n{text}");
    for i in 1..=40 {
        let want = format!("big.example.test. 3600 IN A 198.51.100.{i}");
        assert!(a.contains(&want), "missing {want}:\n{text}");
    }
    assert!(text.contains("(TCP)"), "final answer not over TCP:\n{text}");
}

/// With EDNS the answer fits (1232 octets), so no truncation.
#[test]
fn large_answer_with_edns_fits() {
    let p = start();
    let out = kdig(&args(
        &p.at(),
        &["+bufsize=1232", "+ignore", "+norec", "big.example.test", "A"],
    ));
    let (text, h) = client_text(&out);
    assert_header(&h, &text, "NOERROR", &["qr", "aa"], &["tc"]);
    assert_eq!(h.answer, 40, "output:\n{text}");
}

/// udp-payload = 1232 caps UDP responses even when the client offers 4096:
/// the 1.5 KB TXT RRset is truncated over UDP and complete over TCP.
#[test]
fn udp_payload_caps_responses() {
    let p = start();
    let out = dig(&args(
        &p.at(),
        &["+bufsize=4096", "+ignore", "+norec", "bigtxt.example.test", "TXT"],
    ));
    let (text, h) = client_text(&out);
    assert_header(&h, &text, "NOERROR", &["qr", "aa", "tc"], &[]);
    let out = dig(&args(&p.at(), &["+tcp", "+norec", "bigtxt.example.test", "TXT"]));
    let (text, h) = client_text(&out);
    assert_header(&h, &text, "NOERROR", &["qr", "aa"], &["tc"]);
    assert_eq!(h.answer, 6, "output:\n{text}");
}

#[test]
fn nsid_is_the_node_id() {
    let p = start();
    let out = kdig(&args(&p.at(), &["+nsid", "+norec", "example.test", "SOA"]));
    let (text, h) = client_text(&out);
    assert_header(&h, &text, "NOERROR", &["qr", "aa"], &[]);
    let hex: String = NODE_ID.bytes().map(|b| format!("{b:02X}")).collect();
    let nsid = text
        .lines()
        .find(|l| l.starts_with(";; NSID:"))
        .unwrap_or_else(|| panic!("no NSID in the response:\n{text}"));
    assert!(
        nsid.to_ascii_uppercase().contains(&hex) && nsid.contains(&format!("\"{NODE_ID}\"")),
        "NSID is not {NODE_ID:?}: {nsid}"
    );

    // without +nsid there is no NSID option in the answer
    let out = kdig(&args(&p.at(), &["+norec", "example.test", "SOA"]));
    let (text, _) = client_text(&out);
    assert!(!text.contains(";; NSID:"), "NSID sent unasked:\n{text}");

    // dig shows it too
    let out = dig(&args(&p.at(), &["+nsid", "+norec", "example.test", "SOA"]));
    let (text, _) = client_text(&out);
    assert!(
        text.contains("; NSID: ") && text.contains(NODE_ID),
        "dig +nsid:\n{text}"
    );
}

#[test]
fn chaos_identity_and_version() {
    let p = start();
    for (name, transport) in [
        ("id.server", "+notcp"),
        ("hostname.bind", "+notcp"),
        ("ID.SERVER", "+tcp"),
    ] {
        let out = kdig(&args(&p.at(), &[transport, "-c", "CH", "-t", "TXT", name]));
        let (text, h) = client_text(&out);
        assert_header(&h, &text, "NOERROR", &["qr"], &[]);
        assert_eq!(h.answer, 1, "{name}; output:\n{text}");
        let ans = answer_section(&text);
        assert!(
            ans[0].ends_with(&format!("CH TXT \"{NODE_ID}\"")),
            "{name} must answer the node id: {ans:?}"
        );
    }
    let out = dig(&args(&p.at(), &["-c", "CH", "-t", "TXT", "version.bind"]));
    let (text, h) = client_text(&out);
    assert_header(&h, &text, "NOERROR", &["qr"], &[]);
    assert_eq!(answer_section(&text).len(), 1, "output:\n{text}");
    assert!(
        answer_section(&text)[0].ends_with(&format!("CH TXT \"{VERSION}\"")),
        "version.bind: {text}"
    );
}

/// A name in no served zone gets REFUSED: no answer, no referral, no AA.
#[test]
fn name_outside_every_zone_is_refused() {
    let p = start();
    for (client, name) in [("kdig", "www.example.org"), ("dig", "."), ("dig", "example.net")] {
        let a = args(&p.at(), &["+norec", name, "A"]);
        let out = if client == "kdig" { kdig(&a) } else { dig(&a) };
        let (text, h) = client_text(&out);
        assert_header(&h, &text, "REFUSED", &["qr"], &["aa", "tc"]);
        assert_eq!((h.answer, h.authority), (0, 0), "{client} {name}; output:\n{text}");
    }
}

#[test]
fn nxdomain_and_nodata_carry_the_soa() {
    let p = start();
    let out = dig(&args(&p.at(), &["+norec", "nothere.example.test", "A"]));
    let (text, h) = client_text(&out);
    assert_header(&h, &text, "NXDOMAIN", &["qr", "aa"], &[]);
    assert_eq!((h.answer, h.authority), (0, 1), "output:\n{text}");
    assert!(
        authority_section(&text)[0].starts_with("example.test. 300 IN SOA"),
        "negative TTL = SOA minimum:\n{text}"
    );

    let out = dig(&args(&p.at(), &["+norec", "v4only.example.test", "AAAA"]));
    let (text, h) = client_text(&out);
    assert_header(&h, &text, "NOERROR", &["qr", "aa"], &[]);
    assert_eq!((h.answer, h.authority), (0, 1), "output:\n{text}");
}

/// The example zone that config.example.toml serves.
#[test]
fn example_com_zone() {
    let p = start();
    let q = |rest: &[&str]| {
        let out = dig(&args(&p.at(), rest));
        client_text(&out)
    };
    let (text, h) = q(&["+norec", "example.com", "SOA"]);
    assert_header(&h, &text, "NOERROR", &["qr", "aa"], &[]);
    assert_eq!(h.answer, 1, "output:\n{text}");

    let (text, h) = q(&["+norec", "www.example.com", "AAAA"]);
    assert_header(&h, &text, "NOERROR", &["qr", "aa"], &[]);
    assert_eq!(
        answer_section(&text),
        vec!["www.example.com. 3600 IN AAAA 2001:db8::80"]
    );

    // CNAME followed inside the zone
    let (text, h) = q(&["+norec", "blog.example.com", "A"]);
    assert_header(&h, &text, "NOERROR", &["qr", "aa"], &[]);
    assert_eq!(
        answer_section(&text),
        vec![
            "blog.example.com. 3600 IN CNAME www.example.com.",
            "www.example.com. 3600 IN A 192.0.2.80"
        ],
        "output:\n{text}"
    );

    // wildcard
    let (text, h) = q(&["+norec", "anything.apps.example.com", "TXT"]);
    assert_header(&h, &text, "NOERROR", &["qr", "aa"], &[]);
    assert_eq!(
        answer_section(&text),
        vec!["anything.apps.example.com. 3600 IN TXT \"served by the wildcard\""],
        "output:\n{text}"
    );

    // delegation: a referral with glue, not authoritative
    let (text, h) = q(&["+norec", "host.sub.example.com", "A"]);
    assert_header(&h, &text, "NOERROR", &["qr"], &["aa"]);
    assert_eq!((h.answer, h.authority), (0, 2), "output:\n{text}");
    assert!(h.additional >= 3, "glue (2 A + 1 AAAA) missing:\n{text}");
    assert!(
        text.contains("ns2.sub.example.com. 3600 IN AAAA 2001:db8:1::153")
            || text.contains("ns2.sub.example.com.\t3600\tIN\tAAAA\t2001:db8:1::153"),
        "glue:\n{text}"
    );
}

/// config.example.toml (what the README tells a new user to run) is valid,
/// and so is every bundled zone file.
#[test]
fn config_example_is_valid() {
    let path = repo_root().join("config.example.toml");
    assert!(path.is_file(), "config.example.toml is missing at the repository root");
    let out = pharos_cmd(&["check-config", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "pharos check-config config.example.toml failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("zones/example.com.zone"),
        "config.example.toml should serve the bundled zones/example.com.zone"
    );
}

//! The query path: any bytes in, a response or a drop, never a panic.
//!
//! One `Server` (built once) serves the four dnsdiff test zones. Every input
//! is answered over UDP and over TCP; each nonzero response must be a
//! well-formed DNS message (checked by the strict walker below) that echoes
//! the request ID and opcode, has QR set, and over UDP stays within
//! max(512, min(EDNS payload, 1232)) octets (512 without EDNS).
//!
//! Response rate limiting is on at 5 a second (slip 2) and the requests
//! come from four addresses of two netblocks, so limited responses
//! (truncated, BADCOOKIE to a request with a cookie, dropped) and DNS
//! cookies are fuzzed too.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use pharos::dns::{Server, ServerOptions, Transport, query};
use pharos::zone::file::load_zone_text;
use pharos::zone::{Store, ZoneSet};

/// The server's configured UDP payload (`ServerOptions::udp_payload`).
const UDP_PAYLOAD: usize = 1232;
const MAX_MESSAGE: usize = 65535;

const ZONES: [(&str, &str); 4] = [
    (
        "example.test",
        include_str!("../../tests/dnsdiff/zones/example.test.zone"),
    ),
    (
        "child.example.test",
        include_str!("../../tests/dnsdiff/zones/child.example.test.zone"),
    ),
    (
        "signed.test",
        include_str!("../../tests/dnsdiff/zones/signed.test.zone"),
    ),
    ("nsec3.test", include_str!("../../tests/dnsdiff/zones/nsec3.test.zone")),
];

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let zones = ZONES.iter().map(|(apex, text)| match load_zone_text(apex, text) {
            Ok(z) => Arc::new(z.zone),
            Err(e) => panic!("test zone {apex} does not load: {e}"),
        });
        let store = Store::new(ZoneSet::from_zones(zones.collect::<Vec<_>>()));
        let server = Server::new(
            store,
            ServerOptions {
                node_id: "fuzz".into(),
                nsid: true,
                version: Some("pharos".into()),
                udp_payload: UDP_PAYLOAD as u16,
            },
        );
        server.set_rrl(pharos::dns::rrl::Limiter::new(&pharos::config::RrlConfig {
            responses_per_second: 5,
            slip: 2,
            ..Default::default()
        }));
        server
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fuzz_target!(|data: &[u8]| {
    let server = server();
    let mut out = vec![0u8; MAX_MESSAGE];
    let last = data.last().copied().unwrap_or(0);
    let peer = std::net::SocketAddr::from(([192, 0, 2 + (last & 1), last & 2], 5300));
    for transport in [Transport::Udp, Transport::Tcp] {
        let n = server.handle_from(data, transport, Some(peer), &mut out);
        if n == 0 {
            continue;
        }
        let resp = &out[..n.min(out.len())];
        let fail = |why: String| -> ! {
            panic!(
                "{transport:?} response invalid: {why}\n request  ({} octets): {}\n response ({n} octets): {}",
                data.len(),
                hex(data),
                hex(resp)
            )
        };
        if n > MAX_MESSAGE {
            fail(format!("length {n} > {MAX_MESSAGE}"));
        }
        if n < 12 {
            fail(format!("length {n} < 12"));
        }
        if data.len() < 12 {
            fail("answered a request shorter than a header".into());
        }
        if resp[..2] != data[..2] {
            fail("ID not echoed".into());
        }
        let rflags = u16::from_be_bytes([resp[2], resp[3]]);
        let qflags = u16::from_be_bytes([data[2], data[3]]);
        if rflags & 0x8000 == 0 {
            fail("QR not set".into());
        }
        if qflags & 0x8000 != 0 {
            fail("answered a response (QR set in the request)".into());
        }
        if (rflags ^ qflags) & 0x7800 != 0 {
            fail("opcode not echoed".into());
        }
        if transport == Transport::Udp {
            // Independent of the parser: no additional records, no EDNS.
            let arcount = u16::from_be_bytes([data[10], data[11]]);
            if arcount == 0 && n > 512 {
                fail(format!("UDP response of {n} octets > 512 to a request without ARCOUNT"));
            }
            let limit = match query::parse(data) {
                Ok(q) => match q.edns {
                    Some(e) => (e.payload as usize).min(UDP_PAYLOAD).max(512),
                    None => 512,
                },
                // FORMERR: no EDNS honoured.
                Err(_) => 512,
            };
            if n > limit {
                fail(format!("UDP response of {n} octets > limit {limit}"));
            }
        }
        if let Err(why) = check_message(resp) {
            fail(why);
        }
    }
});

// ---------------------------------------------------------------------------
// A strict message walker.

const NS: u16 = 2;
const MD: u16 = 3;
const MF: u16 = 4;
const CNAME: u16 = 5;
const SOA: u16 = 6;
const MB: u16 = 7;
const MG: u16 = 8;
const MR: u16 = 9;
const PTR: u16 = 12;
const MINFO: u16 = 14;
const MX: u16 = 15;
const OPT: u16 = 41;
const TSIG: u16 = 250;

fn be16(m: &[u8], at: usize) -> Result<u16, String> {
    m.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| format!("truncated at offset {at} (need 2 octets)"))
}

/// Reads a (possibly compressed) name at `pos`. Pointers must point strictly
/// backwards and past the header; the expanded name must be at most 255
/// octets. Returns the offset just after the name as it sits at `pos`.
fn read_name(m: &[u8], start: usize, allow_ptr: bool) -> Result<usize, String> {
    let mut pos = start;
    let mut end = None;
    let mut total = 0usize;
    loop {
        let &len = m
            .get(pos)
            .ok_or_else(|| format!("name at {start}: runs past the end (offset {pos})"))?;
        match len & 0xc0 {
            0x00 => {
                let l = len as usize;
                total += 1 + l;
                if total > 255 {
                    return Err(format!("name at {start}: longer than 255 octets"));
                }
                if pos + 1 + l > m.len() {
                    return Err(format!("name at {start}: label at {pos} runs past the end"));
                }
                pos += 1 + l;
                if l == 0 {
                    return Ok(end.unwrap_or(pos));
                }
            }
            0xc0 => {
                if !allow_ptr {
                    return Err(format!(
                        "name at {start}: compression pointer at {pos} where none is allowed"
                    ));
                }
                let lo = *m
                    .get(pos + 1)
                    .ok_or_else(|| format!("name at {start}: pointer at {pos} cut off"))?;
                let target = (((len & 0x3f) as usize) << 8) | lo as usize;
                if target >= pos {
                    return Err(format!(
                        "name at {start}: pointer at {pos} to {target} does not point backwards"
                    ));
                }
                if target < 12 {
                    return Err(format!("name at {start}: pointer at {pos} into the header ({target})"));
                }
                if end.is_none() {
                    end = Some(pos + 2);
                }
                pos = target;
            }
            _ => return Err(format!("name at {start}: reserved label type {len:#04x} at {pos}")),
        }
    }
}

/// Checks rdata whose layout is known; `rd` is `start..end` of the message.
fn check_rdata(m: &[u8], rtype: u16, start: usize, end: usize) -> Result<(), String> {
    let rd = &m[..end];
    let whole_name = |at: usize| -> Result<(), String> {
        let e = read_name(rd, at, true)?;
        if e != end {
            return Err(format!(
                "type {rtype} rdata at {start}: name ends at {e}, rdata at {end}"
            ));
        }
        Ok(())
    };
    match rtype {
        NS | MD | MF | CNAME | MB | MG | MR | PTR => whole_name(start),
        MX => {
            if end - start < 3 {
                return Err(format!("MX rdata at {start} too short"));
            }
            whole_name(start + 2)
        }
        SOA | MINFO => {
            let a = read_name(rd, start, true)?;
            let b = read_name(rd, a, true)?;
            let want = if rtype == SOA { b + 20 } else { b };
            if want != end {
                return Err(format!(
                    "type {rtype} rdata at {start}: fields end at {want}, rdata at {end}"
                ));
            }
            Ok(())
        }
        OPT => {
            let mut p = start;
            while p < end {
                if p + 4 > end {
                    return Err(format!("OPT option at {p} cut off"));
                }
                let olen = be16(m, p + 2)? as usize;
                p += 4 + olen;
            }
            if p != end {
                return Err(format!("OPT options end at {p}, rdata at {end}"));
            }
            Ok(())
        }
        TSIG => {
            // Algorithm name (uncompressed), time 6, fudge 2, MAC size 2, MAC,
            // original ID 2, error 2, other len 2, other data.
            let a = read_name(rd, start, false)?;
            if a + 10 > end {
                return Err(format!("TSIG rdata at {start} cut off"));
            }
            let mac = be16(m, a + 8)? as usize;
            let p = a + 10 + mac;
            if p + 6 > end {
                return Err(format!("TSIG rdata at {start} cut off after the MAC"));
            }
            let other = be16(m, p + 4)? as usize;
            if p + 6 + other != end {
                return Err(format!(
                    "TSIG rdata at {start}: fields end at {}, rdata at {end}",
                    p + 6 + other
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Walks the whole message: header counts, the question, every record.
fn check_message(m: &[u8]) -> Result<(), String> {
    if m.len() < 12 {
        return Err("shorter than a header".into());
    }
    let qd = be16(m, 4)?;
    let counts = [be16(m, 6)?, be16(m, 8)?, be16(m, 10)?];
    if qd > 1 {
        return Err(format!("QDCOUNT {qd}"));
    }
    let mut pos = 12;
    for _ in 0..qd {
        pos = read_name(m, pos, true)?;
        if pos + 4 > m.len() {
            return Err(format!("question cut off at {pos}"));
        }
        pos += 4;
    }
    let mut opts = 0;
    let total: usize = counts.iter().map(|&c| c as usize).sum();
    let mut index = 0;
    for (section, &count) in counts.iter().enumerate() {
        for _ in 0..count {
            index += 1;
            let owner = pos;
            pos = read_name(m, pos, true)?;
            if pos + 10 > m.len() {
                return Err(format!("record {index} (section {}) cut off at {pos}", section + 1));
            }
            let rtype = be16(m, pos)?;
            let rdlen = be16(m, pos + 8)? as usize;
            let start = pos + 10;
            let end = start + rdlen;
            if end > m.len() {
                return Err(format!(
                    "record {index} at {owner}: rdlength {rdlen} runs past the end ({end} > {})",
                    m.len()
                ));
            }
            match rtype {
                OPT => {
                    opts += 1;
                    if section != 2 || opts > 1 || m[owner] != 0 {
                        return Err(format!("misplaced or repeated OPT at {owner}"));
                    }
                }
                TSIG if section != 2 || index != total => {
                    return Err(format!("TSIG at {owner} is not the last record"));
                }
                _ => {}
            }
            check_rdata(m, rtype, start, end)?;
            pos = end;
        }
    }
    if pos != m.len() {
        return Err(format!("message parses to {pos} but is {} octets long", m.len()));
    }
    Ok(())
}

//! Decoding the records of DNS messages received from primaries (SOA
//! answers, AXFR and IXFR streams) into uncompressed wire format, ready for
//! a [`super::ZoneBuilder`].
//!
//! Name decompression inside rdata is type-specific (RFC 3597 section 4);
//! the `domain` crate knows every type's layout, so this module lets it do
//! the parsing. Together with `file.rs` it is the only user of `domain`.

use domain::base::iana::Class;
use domain::base::message::Message;
use domain::base::name::ToName;
use domain::base::rdata::ComposeRecordData;
use domain::rdata::AllRecordData;

/// The header fields a transfer client looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub qr: bool,
    pub opcode: u8,
    pub aa: bool,
    pub tc: bool,
    pub rcode: u8,
    pub qdcount: u16,
    pub ancount: u16,
}

/// A malformed message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed message: {0}")]
pub struct WireError(pub String);

/// Reads the header of a message.
pub fn header(msg: &[u8]) -> Result<Header, WireError> {
    if msg.len() < 12 {
        return Err(WireError(format!("{} octets, shorter than a header", msg.len())));
    }
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    Ok(Header {
        id: u16::from_be_bytes([msg[0], msg[1]]),
        qr: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0xf) as u8,
        aa: flags & 0x0400 != 0,
        tc: flags & 0x0200 != 0,
        rcode: (flags & 0xf) as u8,
        qdcount: u16::from_be_bytes([msg[4], msg[5]]),
        ancount: u16::from_be_bytes([msg[6], msg[7]]),
    })
}

/// One decoded record: owner and rdata uncompressed; the owner lowercase.
pub struct RecordRef<'a> {
    pub owner: &'a [u8],
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: &'a [u8],
}

/// Calls `f` for each record of the answer section, in order, with
/// decompressed owner and rdata. Stops at the first error `f` returns.
pub fn for_each_answer<E>(
    msg: &[u8],
    mut f: impl FnMut(RecordRef<'_>) -> Result<(), E>,
) -> Result<Result<(), E>, WireError> {
    let message = Message::from_octets(msg).map_err(|e| WireError(e.to_string()))?;
    let answer = message.answer().map_err(|e| WireError(e.to_string()))?;
    let mut owner = Vec::with_capacity(256);
    let mut rdata = Vec::with_capacity(512);
    for rec in answer {
        let rec = rec.map_err(|e| WireError(e.to_string()))?;
        let parsed = rec
            .to_record::<AllRecordData<_, _>>()
            .map_err(|e| WireError(format!("record {}: {e}", rec.rtype())))?;
        let Some(parsed) = parsed else {
            return Err(WireError(format!("record of type {} cannot be parsed", rec.rtype())));
        };
        owner.clear();
        rdata.clear();
        parsed
            .owner()
            .compose(&mut owner)
            .map_err(|_| WireError("owner name too long".into()))?;
        parsed
            .data()
            .compose_rdata(&mut rdata)
            .map_err(|_| WireError("rdata too long".into()))?;
        super::name::lowercase_in_place(&mut owner);
        let r = RecordRef {
            owner: &owner,
            rtype: rec.rtype().to_int(),
            class: rec.class().to_int(),
            ttl: rec.ttl().as_secs(),
            rdata: &rdata,
        };
        if let Err(e) = f(r) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(()))
}

/// The IN class code.
pub const CLASS_IN: u16 = Class::IN.to_int();

/// Builds a query message (no EDNS) for `qname` (wire) and `qtype`, with
/// an optional authority-section SOA (IXFR, RFC 1995 section 3): the rdata
/// of the SOA we hold.
pub fn build_query(id: u16, qname: &[u8], qtype: u16, ixfr_soa: Option<&[u8]>) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + qname.len() * 2 + ixfr_soa.map_or(0, |s| s.len()));
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(&(ixfr_soa.is_some() as u16).to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(qname);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    if let Some(soa) = ixfr_soa {
        m.extend_from_slice(&[0xc0, 0x0c]);
        m.extend_from_slice(&super::rtype::SOA.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        m.extend_from_slice(&0u32.to_be_bytes());
        m.extend_from_slice(&(soa.len() as u16).to_be_bytes());
        m.extend_from_slice(soa);
    }
    m
}

/// The serial of SOA rdata (uncompressed).
pub fn soa_serial(rdata: &[u8]) -> Option<u32> {
    let a = super::name::skip_name(rdata)?;
    let b = super::name::skip_name(rdata.get(a..)?)?;
    let s = rdata.get(a + b..a + b + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_compressed_answers() {
        // example. SOA, then www.example. MX 10 mail.example. (compressed).
        let mut m = vec![0, 1, 0x84, 0, 0, 1, 0, 2, 0, 0, 0, 0];
        m.extend_from_slice(b"\x07Example\x00\x00\x06\x00\x01");
        // SOA: owner ptr 12, rdata ns.example. host.example. + 20 bytes
        m.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 60]);
        let soa: Vec<u8> = [
            b"\x02ns\xc0\x0c".as_slice(),
            b"\x04host\xc0\x0c",
            &[0, 0, 0, 7],
            &[0; 16],
        ]
        .concat();
        m.extend_from_slice(&(soa.len() as u16).to_be_bytes());
        m.extend_from_slice(&soa);
        m.extend_from_slice(b"\x03www\xc0\x0c\x00\x0f\x00\x01\x00\x00\x00\x3c");
        let mx = b"\x00\x0a\x04mail\xc0\x0c";
        m.extend_from_slice(&(mx.len() as u16).to_be_bytes());
        m.extend_from_slice(mx);
        let mut seen = Vec::new();
        let r: Result<(), ()> = for_each_answer(&m, |r| {
            seen.push((r.owner.to_vec(), r.rtype, r.rdata.to_vec()));
            Ok(())
        })
        .unwrap();
        assert!(r.is_ok());
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, b"\x07example\x00");
        assert_eq!(soa_serial(&seen[0].2), Some(7));
        assert_eq!(seen[1].2, b"\x00\x0a\x04mail\x07Example\x00");
    }

    #[test]
    fn garbage_is_an_error() {
        let r: Result<Result<(), ()>, _> = for_each_answer(&[0, 1, 0x84, 0, 0, 0, 0, 5, 0, 0, 0, 0, 9], |_| Ok(()));
        assert!(r.is_err());
        assert!(header(&[1, 2]).is_err());
    }
}

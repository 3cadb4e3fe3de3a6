//! Reading the TSIG record of a message: find it (it must be the last
//! record and end the message), decode its fields, defensively: any bytes
//! give `Ok` or `Err`, never a panic.

use super::*;

/// The TSIG record of a message.
pub(super) struct Tsig<'a> {
    /// Offset of the record's owner name.
    pub(super) start: usize,
    pub(super) header: [u8; HEADER_LEN],
    /// Lowercase, uncompressed.
    pub(super) key_name: Vec<u8>,
    /// Lowercase, uncompressed.
    pub(super) algorithm_name: Vec<u8>,
    pub(super) time: u64,
    pub(super) fudge: u16,
    pub(super) mac: &'a [u8],
    pub(super) original_id: u16,
    pub(super) error: u16,
    pub(super) other: &'a [u8],
}

impl<'a> Tsig<'a> {
    /// The TSIG variables as this record carries them.
    pub(super) fn fields(&self) -> Fields<'a> {
        Fields {
            time: self.time,
            fudge: self.fudge,
            error: self.error,
            other: self.other,
        }
    }

    pub(super) fn key_text(&self) -> String {
        name::to_text(&self.key_name)
    }

    /// The server time of a BADTIME answer (6-octet Other Data).
    pub(super) fn other_time(&self) -> Option<u64> {
        let o: [u8; 6] = self.other.try_into().ok()?;
        Some(o.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

/// The variable part of a TSIG record we write.
pub(super) struct Fields<'a> {
    pub(super) time: u64,
    pub(super) fudge: u16,
    pub(super) error: u16,
    pub(super) other: &'a [u8],
}

pub(super) fn be16(msg: &[u8], pos: usize) -> Result<u16, TsigError> {
    match msg.get(pos..pos.saturating_add(2)) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(malformed("message truncated")),
    }
}

/// Position after the (possibly compressed) name at `pos`.
pub(super) fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, TsigError> {
    loop {
        let len = *msg.get(pos).ok_or_else(|| malformed("name runs past the end"))? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(pos + 1),
            0x00 => {
                pos += 1 + len;
                if pos > msg.len() {
                    return Err(malformed("name runs past the end"));
                }
            }
            0xc0 => {
                return if pos + 2 <= msg.len() {
                    Ok(pos + 2)
                } else {
                    Err(malformed("name runs past the end"))
                };
            }
            _ => return Err(malformed("unknown label type")),
        }
    }
}

/// The name at `pos`, decompressed and lowercased, and the position after
/// it in the message.
pub(super) fn read_name(msg: &[u8], mut pos: usize) -> Result<(Vec<u8>, usize), TsigError> {
    let mut out = Vec::with_capacity(32);
    let mut after = None;
    let mut pointers = 0;
    loop {
        let len = *msg.get(pos).ok_or_else(|| malformed("name runs past the end"))? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => {
                out.push(0);
                return Ok((out, after.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label = msg
                    .get(pos + 1..pos + 1 + len)
                    .ok_or_else(|| malformed("name runs past the end"))?;
                if out.len() + 1 + len + 1 > MAX_NAME_LEN {
                    return Err(malformed("name longer than 255 octets"));
                }
                out.push(len as u8);
                out.extend(label.iter().map(u8::to_ascii_lowercase));
                pos += 1 + len;
            }
            0xc0 => {
                let low = *msg.get(pos + 1).ok_or_else(|| malformed("name runs past the end"))? as usize;
                after.get_or_insert(pos + 2);
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return Err(malformed("compression pointer loop"));
                }
                let target = ((len & 0x3f) << 8) | low;
                if target >= pos {
                    return Err(malformed("compression pointer does not point backwards"));
                }
                pos = target;
            }
            _ => return Err(malformed("unknown label type")),
        }
    }
}

/// Finds and parses the message's TSIG record. `Ok(None)`: no TSIG. A TSIG
/// record anywhere but last in the additional section, or one that does
/// not end the message, is malformed.
pub(super) fn find_tsig(msg: &[u8]) -> Result<Option<Tsig<'_>>, TsigError> {
    let header: [u8; HEADER_LEN] = msg
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| malformed("shorter than a DNS header"))?;
    let count = |i: usize| usize::from(u16::from_be_bytes([header[i], header[i + 1]]));
    let (qdcount, ancount, nscount, arcount) = (count(4), count(6), count(8), count(10));
    let mut pos = HEADER_LEN;
    for _ in 0..qdcount {
        pos = skip_name(msg, pos)? + 4;
        if pos > msg.len() {
            return Err(malformed("question runs past the end"));
        }
    }
    let total = ancount + nscount + arcount;
    for i in 0..total {
        let start = pos;
        pos = skip_name(msg, pos)?;
        let rtype = be16(msg, pos)?;
        let class = be16(msg, pos + 2)?;
        let rdlen = usize::from(be16(msg, pos + 8)?);
        let rdata = pos + 10;
        let end = rdata + rdlen;
        if end > msg.len() {
            return Err(malformed("record runs past the end"));
        }
        if rtype == TYPE_TSIG {
            if i + 1 != total || arcount == 0 {
                return Err(malformed("TSIG is not the last record of the additional section"));
            }
            if class != CLASS_ANY {
                return Err(malformed("TSIG class is not ANY"));
            }
            if end != msg.len() {
                return Err(malformed("data after the TSIG record"));
            }
            return parse_tsig(msg, header, start, rdata, end).map(Some);
        }
        pos = end;
    }
    Ok(None)
}

pub(super) fn parse_tsig(
    msg: &[u8],
    header: [u8; HEADER_LEN],
    start: usize,
    rdata: usize,
    end: usize,
) -> Result<Tsig<'_>, TsigError> {
    let (key_name, _) = read_name(msg, start)?;
    let (algorithm_name, mut p) = read_name(msg, rdata)?;
    let rd = msg.get(..end).ok_or_else(|| malformed("TSIG runs past the end"))?;
    let short = || malformed("TSIG rdata too short");
    let time_bytes = rd.get(p..p + 6).ok_or_else(short)?;
    let time = time_bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let fudge = be16(rd, p + 6).map_err(|_| short())?;
    let mac_len = usize::from(be16(rd, p + 8).map_err(|_| short())?);
    p += 10;
    let mac = rd.get(p..p + mac_len).ok_or_else(short)?;
    p += mac_len;
    let original_id = be16(rd, p).map_err(|_| short())?;
    let error = be16(rd, p + 2).map_err(|_| short())?;
    let other_len = usize::from(be16(rd, p + 4).map_err(|_| short())?);
    p += 6;
    let other = rd.get(p..p + other_len).ok_or_else(short)?;
    if p + other_len != end {
        return Err(malformed("TSIG rdata length does not match its fields"));
    }
    Ok(Tsig {
        start,
        header,
        key_name,
        algorithm_name,
        time,
        fudge,
        mac,
        original_id,
        error,
        other,
    })
}

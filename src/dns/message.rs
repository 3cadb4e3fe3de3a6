//! Response encoding: a writer that appends whole RRsets to a message,
//! compresses names and rolls back an RRset that does not fit.
//!
//! Names are compressed against names already in the message, matching
//! case-insensitively (as Knot DNS does: a name that shares a suffix with the
//! question takes the question's letter case). Only the RFC 1035 types whose
//! rdata names may be compressed (RFC 3597 section 4) get compressed rdata.

use crate::zone::rtype;

/// Header size.
pub const HEADER_LEN: usize = 12;
/// Offset of the question name.
pub const QNAME_OFFSET: u16 = 12;
/// Most compression targets remembered per message.
const MAX_TARGETS: usize = 96;

/// Message sections, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Answer = 1,
    Authority = 2,
    Additional = 3,
}

/// The owner of an RRset being written.
#[derive(Clone, Copy)]
pub enum Owner<'a> {
    /// Exactly the question name: written as a pointer to it.
    Qname,
    /// Another name (lowercase wire format).
    Name(&'a [u8]),
}

/// The message did not have room for an RRset; nothing of it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Writes a response into a caller-provided buffer.
pub struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
    limit: usize,
    counts: [u16; 4],
    targets: [u16; MAX_TARGETS],
    ntargets: usize,
}

/// State to roll back to.
#[derive(Clone, Copy)]
pub struct Mark {
    len: usize,
    counts: [u16; 4],
    ntargets: usize,
}

impl<'b> Writer<'b> {
    /// A writer over `buf` that will not write past `limit` octets.
    pub fn new(buf: &'b mut [u8], limit: usize) -> Writer<'b> {
        let limit = limit.min(buf.len());
        Writer {
            buf,
            len: HEADER_LEN,
            limit,
            counts: [0; 4],
            targets: [0; MAX_TARGETS],
            ntargets: 0,
        }
    }

    /// Writes the header fields that do not change afterwards.
    pub fn header(&mut self, id: u16, flags: u16) {
        self.buf[0..2].copy_from_slice(&id.to_be_bytes());
        self.buf[2..4].copy_from_slice(&flags.to_be_bytes());
    }

    pub fn flags(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    pub fn set_flags(&mut self, flags: u16) {
        self.buf[2..4].copy_from_slice(&flags.to_be_bytes());
    }

    /// Sets the 4-bit header rcode.
    pub fn set_rcode(&mut self, rcode: u8) {
        let f = (self.flags() & !0x000f) | (rcode as u16 & 0x0f);
        self.set_flags(f);
    }

    pub fn set_tc(&mut self) {
        let f = self.flags() | 0x0200;
        self.set_flags(f);
    }

    pub fn set_aa(&mut self, on: bool) {
        let f = if on {
            self.flags() | 0x0400
        } else {
            self.flags() & !0x0400
        };
        self.set_flags(f);
    }

    /// Copies the question (wire name in the query's case, type, class).
    pub fn question(&mut self, qname: &[u8], qtype: u16, qclass: u16) -> Result<(), Full> {
        let need = qname.len() + 4;
        if self.len + need > self.limit {
            return Err(Full);
        }
        self.buf[self.len..self.len + qname.len()].copy_from_slice(qname);
        let mut pos = self.len;
        while self.buf[pos] != 0 && self.ntargets < MAX_TARGETS {
            self.targets[self.ntargets] = pos as u16;
            self.ntargets += 1;
            pos += 1 + self.buf[pos] as usize;
        }
        self.len += qname.len();
        self.put_u16(qtype);
        self.put_u16(qclass);
        self.counts[0] = 1;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len <= HEADER_LEN
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Lowers or raises the size limit (never beyond the buffer).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.min(self.buf.len());
    }

    pub fn count(&self, section: Section) -> u16 {
        self.counts[section as usize]
    }

    pub fn mark(&self) -> Mark {
        Mark {
            len: self.len,
            counts: self.counts,
            ntargets: self.ntargets,
        }
    }

    pub fn rollback(&mut self, m: Mark) {
        self.len = m.len;
        self.counts = m.counts;
        self.ntargets = m.ntargets;
    }

    #[inline]
    fn put_u16(&mut self, v: u16) {
        self.buf[self.len..self.len + 2].copy_from_slice(&v.to_be_bytes());
        self.len += 2;
    }

    #[inline]
    fn put_u32(&mut self, v: u32) {
        self.buf[self.len..self.len + 4].copy_from_slice(&v.to_be_bytes());
        self.len += 4;
    }

    /// Appends one RRset; all of it or, if it does not fit, none of it.
    /// `rdata` yields uncompressed wire rdata.
    #[inline]
    pub fn rrset<'r>(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        rtype: u16,
        ttl: u32,
        rdata: impl Iterator<Item = &'r [u8]>,
    ) -> Result<(), Full> {
        let mark = self.mark();
        match self.rrset_inner(section, owner, rtype, ttl, rdata) {
            Ok(()) => Ok(()),
            Err(Full) => {
                self.rollback(mark);
                Err(Full)
            }
        }
    }

    fn rrset_inner<'r>(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        rtype: u16,
        ttl: u32,
        rdata: impl Iterator<Item = &'r [u8]>,
    ) -> Result<(), Full> {
        let mut owner_ptr: Option<u16> = match owner {
            Owner::Qname => Some(QNAME_OFFSET),
            Owner::Name(_) => None,
        };
        for rd in rdata {
            // The first record writes the owner, later ones point at it.
            match (owner_ptr, owner) {
                (Some(p), _) => {
                    self.room(2)?;
                    self.put_u16(0xc000 | p);
                }
                (None, Owner::Name(name)) => {
                    let start = self.len;
                    self.name(name)?;
                    if start < 0x3fff {
                        owner_ptr = Some(start as u16);
                    }
                }
                (None, Owner::Qname) => {}
            }
            self.room(10)?;
            self.put_u16(rtype);
            self.put_u16(1);
            self.put_u32(ttl);
            let rdlen_at = self.len;
            self.len += 2;
            self.rdata(rtype, rd)?;
            let rdlen = (self.len - rdlen_at - 2) as u16;
            self.buf[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
            self.counts[section as usize] += 1;
        }
        Ok(())
    }

    /// Appends a raw record (OPT, TSIG): owner, type, class, ttl and rdata
    /// given as they are, uncompressed.
    pub fn raw_record(
        &mut self,
        section: Section,
        owner: &[u8],
        rtype: u16,
        class: u16,
        ttl: u32,
        rdata: &[u8],
    ) -> Result<(), Full> {
        let need = owner.len() + 10 + rdata.len();
        if self.len + need > self.buf.len() {
            return Err(Full);
        }
        self.buf[self.len..self.len + owner.len()].copy_from_slice(owner);
        self.len += owner.len();
        self.put_u16(rtype);
        self.put_u16(class);
        self.put_u32(ttl);
        self.put_u16(rdata.len() as u16);
        self.buf[self.len..self.len + rdata.len()].copy_from_slice(rdata);
        self.len += rdata.len();
        self.counts[section as usize] += 1;
        Ok(())
    }

    /// Appends one complete, already encoded record.
    pub fn raw_bytes(&mut self, section: Section, record: &[u8]) -> Result<(), Full> {
        self.room(record.len())?;
        self.buf[self.len..self.len + record.len()].copy_from_slice(record);
        self.len += record.len();
        self.counts[section as usize] += 1;
        Ok(())
    }

    #[inline]
    fn room(&self, n: usize) -> Result<(), Full> {
        if self.len + n > self.limit { Err(Full) } else { Ok(()) }
    }

    fn rdata(&mut self, rt: u16, rd: &[u8]) -> Result<(), Full> {
        match rt {
            rtype::NS | rtype::CNAME | rtype::PTR | rtype::MD | rtype::MF | rtype::MB | rtype::MG | rtype::MR => {
                self.name_or_raw(rd, 0)
            }
            rtype::MX if rd.len() > 2 => {
                self.room(2)?;
                self.buf[self.len..self.len + 2].copy_from_slice(&rd[..2]);
                self.len += 2;
                self.name_or_raw(&rd[2..], 0)
            }
            rtype::SOA | rtype::MINFO => {
                let Some(a) = crate::zone::name::skip_name(rd) else {
                    return self.raw(rd);
                };
                let Some(b) = crate::zone::name::skip_name(&rd[a..]) else {
                    return self.raw(rd);
                };
                self.name(&rd[..a])?;
                self.name(&rd[a..a + b])?;
                self.raw(&rd[a + b..])
            }
            _ => self.raw(rd),
        }
    }

    fn name_or_raw(&mut self, rd: &[u8], _off: usize) -> Result<(), Full> {
        match crate::zone::name::skip_name(rd) {
            Some(n) if n == rd.len() => self.name(rd),
            _ => self.raw(rd),
        }
    }

    #[inline]
    fn raw(&mut self, data: &[u8]) -> Result<(), Full> {
        self.room(data.len())?;
        self.buf[self.len..self.len + data.len()].copy_from_slice(data);
        self.len += data.len();
        Ok(())
    }

    /// Writes a name, compressed against earlier names.
    pub fn name(&mut self, name: &[u8]) -> Result<(), Full> {
        // Find the longest suffix already in the message.
        let mut i = 0usize;
        let mut found: Option<(usize, u16)> = None;
        while i < name.len() && name[i] != 0 {
            let suffix = &name[i..];
            if let Some(off) = self.find_target(suffix) {
                found = Some((i, off));
                break;
            }
            i += 1 + name[i] as usize;
        }
        let literal = match found {
            Some((i, _)) => i,
            None => name.len(),
        };
        let need = literal + if found.is_some() { 2 } else { 0 };
        self.room(need)?;
        // Remember the literal labels as targets.
        let mut j = 0usize;
        while j < literal && name[j] != 0 {
            let at = self.len + j;
            if at < 0x3fff && self.ntargets < MAX_TARGETS {
                self.targets[self.ntargets] = at as u16;
                self.ntargets += 1;
            }
            j += 1 + name[j] as usize;
        }
        self.buf[self.len..self.len + literal].copy_from_slice(&name[..literal]);
        self.len += literal;
        if let Some((_, off)) = found {
            self.put_u16(0xc000 | off);
        }
        Ok(())
    }

    fn find_target(&self, suffix: &[u8]) -> Option<u16> {
        self.targets[..self.ntargets]
            .iter()
            .copied()
            .find(|&t| self.name_at_equals(t as usize, suffix))
    }

    /// Compares the (possibly compressed) name at `pos` with `want`.
    fn name_at_equals(&self, mut pos: usize, want: &[u8]) -> bool {
        let mut w = 0usize;
        let mut hops = 0;
        loop {
            let Some(&len) = self.buf.get(pos) else {
                return false;
            };
            if len & 0xc0 == 0xc0 {
                hops += 1;
                if hops > 16 {
                    return false;
                }
                let Some(&lo) = self.buf.get(pos + 1) else {
                    return false;
                };
                pos = (((len & 0x3f) as usize) << 8) | lo as usize;
                continue;
            }
            let Some(&wlen) = want.get(w) else {
                return false;
            };
            if len != wlen {
                return false;
            }
            if len == 0 {
                return true;
            }
            let l = len as usize;
            let (a, b) = (&self.buf[pos + 1..pos + 1 + l], &want[w + 1..w + 1 + l]);
            if !a.eq_ignore_ascii_case(b) {
                return false;
            }
            pos += 1 + l;
            w += 1 + l;
        }
    }

    /// Finishes the message: writes the section counts, returns its length.
    pub fn finish(&mut self) -> usize {
        for (i, c) in self.counts.iter().enumerate() {
            self.buf[4 + 2 * i..6 + 2 * i].copy_from_slice(&c.to_be_bytes());
        }
        self.len
    }
}

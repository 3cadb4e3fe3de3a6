//! The messages of a transfer answer: records appended one by one to a
//! message of at most 64 KiB, a record that does not fit starting the next
//! message; names compressed against the previous owner (zone order keeps
//! neighbours close, so the apex and the parent are almost always found
//! there) in O(labels) per name; the question only in the first message
//! (RFC 5936 section 2.2.1).
//!
//! [`Axfr`] walks a zone snapshot (SOA, every other record, SOA) without
//! copying it; [`ixfr_records`] lists the records of an incremental answer
//! (RFC 1995 section 4: new SOA, per change old SOA, removed, new SOA,
//! added, new SOA).

use super::request::XfrRequest;
use crate::zone::journal::{Entry, Record};
use crate::zone::{RRset, Zone, rtype};

/// Largest message (RFC 1035 4.2.2: TCP length prefix).
pub const MAX_MESSAGE: usize = 65535;
/// Room kept at the end of a message for its TSIG record.
pub const TSIG_ROOM: usize = 512;
/// Most labels in a name.
const MAX_LABELS: usize = 128;

/// The record does not fit in the current message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// A name written to the message: its wire form and, per label, the offset
/// of the suffix starting there (0: not addressable).
struct RefName {
    name: Vec<u8>,
    starts: Vec<u8>,
    pos: Vec<u16>,
}

impl RefName {
    fn new() -> RefName {
        RefName {
            name: Vec::with_capacity(256),
            starts: Vec::with_capacity(MAX_LABELS),
            pos: Vec::with_capacity(MAX_LABELS),
        }
    }

    fn clear(&mut self) {
        self.name.clear();
        self.starts.clear();
        self.pos.clear();
    }
}

/// Builds the messages of one answer.
pub struct Encoder {
    /// The message being built (header first).
    pub msg: Vec<u8>,
    limit: usize,
    count: u16,
    header: [u8; 4],
    /// The last owner written in this message.
    prev: RefName,
    /// Where the suffixes of the name being written are.
    scratch_pos: Vec<u16>,
    /// Messages finished so far.
    pub messages: u64,
}

impl Encoder {
    /// An encoder answering `req` whose messages stay within `limit`
    /// octets; the first message carries the question.
    pub fn new(req: &XfrRequest<'_>, limit: usize) -> Encoder {
        // No AA: Knot sets none on transfer answers.
        let flags: u16 = 0x8000 | (req.flags & 0x0100);
        let mut header = [0u8; 4];
        header[..2].copy_from_slice(&req.id.to_be_bytes());
        header[2..].copy_from_slice(&flags.to_be_bytes());
        let mut e = Encoder {
            msg: Vec::with_capacity(limit.min(MAX_MESSAGE)),
            limit: limit.min(MAX_MESSAGE),
            count: 0,
            header,
            prev: RefName::new(),
            scratch_pos: Vec::with_capacity(MAX_LABELS),
            messages: 0,
        };
        e.start();
        e.msg[5] = 1; // QDCOUNT
        e.msg.extend_from_slice(req.qname);
        e.msg.extend_from_slice(&req.qtype.to_be_bytes());
        e.msg.extend_from_slice(&1u16.to_be_bytes());
        e
    }

    /// Starts the next message (no question).
    pub fn start(&mut self) {
        self.msg.clear();
        self.msg.extend_from_slice(&self.header);
        self.msg.extend_from_slice(&[0; 8]);
        self.count = 0;
        self.prev.clear();
    }

    /// Records in the current message.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Writes ANCOUNT: the message in `msg` is complete.
    pub fn finish(&mut self) {
        let c = self.count.to_be_bytes();
        self.msg[6] = c[0];
        self.msg[7] = c[1];
        self.messages += 1;
    }

    /// Appends one record (owner and rdata uncompressed wire format), or
    /// nothing if it does not fit.
    pub fn record(&mut self, owner: &[u8], rt: u16, ttl: u32, rdata: &[u8]) -> Result<(), Full> {
        // Upper bound: nothing compressed.
        if self.msg.len() + owner.len() + 10 + rdata.len() > self.limit || self.count == u16::MAX {
            return Err(Full);
        }
        self.owner(owner);
        self.msg.extend_from_slice(&rt.to_be_bytes());
        self.msg.extend_from_slice(&1u16.to_be_bytes());
        self.msg.extend_from_slice(&ttl.to_be_bytes());
        let rdlen_at = self.msg.len();
        self.msg.extend_from_slice(&[0, 0]);
        self.rdata(rt, rdata);
        let rdlen = (self.msg.len() - rdlen_at - 2) as u16;
        self.msg[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
        self.count += 1;
        Ok(())
    }

    /// Label starts of `name` into `starts`; their number, or
    /// `None` for a malformed name.
    fn label_starts(name: &[u8], starts: &mut [u8; MAX_LABELS]) -> Option<usize> {
        let mut i = 0usize;
        let mut n = 0usize;
        loop {
            let len = *name.get(i)? as usize;
            if len == 0 {
                return (i + 1 == name.len()).then_some(n);
            }
            if len > 63 || n >= MAX_LABELS || i > 255 {
                return None;
            }
            starts[n] = i as u8;
            n += 1;
            i += 1 + len;
        }
    }

    /// The longest suffix of `name` (labels from `starts`) written before
    /// in `prev`: (label index in `name`, message offset).
    fn find_suffix(prev: &RefName, name: &[u8], starts: &[u8]) -> Option<(usize, u16)> {
        let (nl, rl) = (starts.len(), prev.starts.len());
        let mut best = None;
        for t in 1..=nl.min(rl) {
            let (i, j) = (nl - t, rl - t);
            if name[starts[i] as usize..] != prev.name[prev.starts[j] as usize..] {
                break;
            }
            if prev.pos[j] != 0 {
                best = Some((i, prev.pos[j]));
            }
        }
        best
    }

    /// Writes a name compressed against the previous owner; with `track`,
    /// notes in `scratch_pos` where each of its suffixes now is.
    fn write_name(&mut self, name: &[u8], starts: &[u8], track: bool) {
        let found = Self::find_suffix(&self.prev, name, starts);
        let literal_labels = found.map_or(starts.len(), |(i, _)| i);
        let at = self.msg.len();
        let literal_end = if literal_labels < starts.len() {
            starts[literal_labels] as usize
        } else {
            name.len()
        };
        match found {
            Some((_, ptr)) => {
                self.msg.extend_from_slice(&name[..literal_end]);
                self.msg.extend_from_slice(&(0xc000 | ptr).to_be_bytes());
            }
            None => self.msg.extend_from_slice(name),
        }
        if track {
            let pos = &mut self.scratch_pos;
            pos.clear();
            for &s in &starts[..literal_labels] {
                let p = at + s as usize;
                pos.push(if p < 0x4000 { p as u16 } else { 0 });
            }
            if let Some((_, _)) = found {
                let rl = self.prev.starts.len();
                let tail = starts.len() - literal_labels;
                pos.extend_from_slice(&self.prev.pos[rl - tail..]);
            }
        }
    }

    fn owner(&mut self, owner: &[u8]) {
        let mut starts = [0u8; MAX_LABELS];
        let Some(n) = Self::label_starts(owner, &mut starts) else {
            self.msg.extend_from_slice(owner);
            self.prev.clear();
            return;
        };
        self.write_name(owner, &starts[..n], true);
        std::mem::swap(&mut self.prev.pos, &mut self.scratch_pos);
        self.prev.name.clear();
        self.prev.name.extend_from_slice(owner);
        self.prev.starts.clear();
        self.prev.starts.extend_from_slice(&starts[..n]);
    }

    /// A name in rdata, compressed when it is the whole rest of `rd`.
    fn rdata_name(&mut self, rd: &[u8]) -> usize {
        let mut starts = [0u8; MAX_LABELS];
        let end = crate::zone::name::skip_name(rd);
        match end.and_then(|e| Self::label_starts(&rd[..e], &mut starts).map(|n| (e, n))) {
            Some((e, n)) => {
                self.write_name(&rd[..e], &starts[..n], false);
                e
            }
            None => {
                self.msg.extend_from_slice(rd);
                rd.len()
            }
        }
    }

    fn rdata(&mut self, rt: u16, rd: &[u8]) {
        match rt {
            rtype::NS | rtype::CNAME | rtype::PTR | rtype::MD | rtype::MF | rtype::MB | rtype::MG | rtype::MR => {
                let n = self.rdata_name(rd);
                self.msg.extend_from_slice(&rd[n.min(rd.len())..]);
            }
            rtype::MX if rd.len() > 2 => {
                self.msg.extend_from_slice(&rd[..2]);
                let n = self.rdata_name(&rd[2..]);
                self.msg.extend_from_slice(&rd[(2 + n).min(rd.len())..]);
            }
            rtype::SOA | rtype::MINFO => {
                let a = self.rdata_name(rd);
                let b = a + self.rdata_name(&rd[a.min(rd.len())..]);
                self.msg.extend_from_slice(&rd[b.min(rd.len())..]);
            }
            _ => self.msg.extend_from_slice(rd),
        }
    }
}

/// Where an AXFR walk of a zone is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    FirstSoa,
    Nodes,
    LastSoa,
    Done,
}

/// The records of an AXFR answer from one zone snapshot, in zone order,
/// without copying the zone: SOA, every record but the apex SOA, SOA.
pub struct Axfr<'z> {
    zone: &'z Zone,
    ids: Box<dyn Iterator<Item = u32> + Send + 'z>,
    phase: Phase,
    node: u32,
    set: usize,
    rec: usize,
    /// Records handed out.
    pub records: u64,
}

/// The apex SOA of a zone: (ttl, rdata).
pub fn apex_soa(zone: &Zone) -> Option<(u32, &[u8])> {
    let set = zone.get(crate::zone::APEX, rtype::SOA)?;
    let rd = zone.records(set).next()?;
    Some((set.ttl, rd))
}

impl<'z> Axfr<'z> {
    pub fn new(zone: &'z Zone) -> Axfr<'z> {
        // Zone order for a zone built in one go; for a patched zone the
        // base's nodes, then the patch's (RFC 5936 section 2.2 leaves the
        // order to the server), so that no list of a million ids is built
        // per transfer.
        let ids: Box<dyn Iterator<Item = u32> + Send + 'z> = if zone.patch_len() == 0 {
            Box::new(0..zone.node_count() as u32)
        } else {
            Box::new(zone.node_ids())
        };
        Axfr {
            zone,
            ids,
            phase: Phase::FirstSoa,
            node: 0,
            set: usize::MAX,
            rec: 0,
            records: 0,
        }
    }

    /// Writes records into `enc` until the message is full (`Err(Full)`,
    /// the record not written stays next) or the zone is done (`Ok`).
    pub fn fill(&mut self, enc: &mut Encoder) -> Result<(), Full> {
        let zone = self.zone;
        let apex = zone.apex();
        loop {
            match self.phase {
                Phase::FirstSoa | Phase::LastSoa => {
                    if let Some((ttl, rd)) = apex_soa(zone) {
                        enc.record(apex, rtype::SOA, ttl, rd)?;
                        self.records += 1;
                    }
                    self.phase = if self.phase == Phase::FirstSoa {
                        Phase::Nodes
                    } else {
                        Phase::Done
                    };
                }
                Phase::Done => return Ok(()),
                Phase::Nodes => {
                    if self.set == usize::MAX {
                        match self.ids.next() {
                            Some(id) => {
                                self.node = id;
                                self.set = 0;
                                self.rec = 0;
                            }
                            None => {
                                self.phase = Phase::LastSoa;
                                continue;
                            }
                        }
                    }
                    let sets = zone.rrsets(self.node);
                    let Some(set) = sets.get(self.set) else {
                        self.set = usize::MAX;
                        continue;
                    };
                    if self.node == crate::zone::APEX && set.rtype == rtype::SOA {
                        self.set += 1;
                        continue;
                    }
                    self.write_set(enc, set)?;
                    self.set += 1;
                    self.rec = 0;
                }
            }
        }
    }

    fn write_set(&mut self, enc: &mut Encoder, set: &RRset) -> Result<(), Full> {
        let owner = self.zone.name(self.node);
        for rd in self.zone.records(set).skip(self.rec) {
            enc.record(owner, set.rtype, set.ttl, rd)?;
            self.rec += 1;
            self.records += 1;
        }
        Ok(())
    }
}

/// The records of an incremental IXFR answer, in order: the served SOA,
/// per change the old SOA, the removed records, the new SOA and the added
/// records, then the served SOA again. Each change carries the SOA of the
/// version it starts from (`Entry::from_soa`), as received or as served.
pub fn ixfr_records(apex: &[u8], served_soa: (u32, &[u8]), entries: &[Entry]) -> Vec<Record> {
    let soa = |ttl: u32, rdata: &[u8]| Record {
        owner: apex.to_vec(),
        rtype: rtype::SOA,
        ttl,
        rdata: rdata.to_vec(),
    };
    let mut out = vec![soa(served_soa.0, served_soa.1)];
    let mut old: Option<Record> = None;
    for e in entries {
        let old_soa = old.take().unwrap_or_else(|| e.from_soa.clone());
        out.push(old_soa);
        out.extend(e.removed.iter().cloned());
        out.push(e.soa.clone());
        out.extend(e.added.iter().cloned());
        old = Some(e.soa.clone());
    }
    out.push(soa(served_soa.0, served_soa.1));
    out
}

/// The serial of SOA rdata.
pub fn soa_serial(rd: &[u8]) -> Option<u32> {
    let a = crate::zone::name::skip_name(rd)?;
    let b = crate::zone::name::skip_name(rd.get(a..)?)?;
    let s = rd.get(a + b..a + b + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// RFC 1982: `a` is at or after `b`.
pub fn serial_ge(a: u32, b: u32) -> bool {
    a == b || (a.wrapping_sub(b) as i32) > 0
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;

//! The transfer interpreter: reads the messages of an AXFR (RFC 5936) or
//! IXFR (RFC 1995) response stream, without I/O, and turns them into a new
//! zone version or a list of differences.
//!
//! Feed every message to [`Interpreter::message`] in order; it says when the
//! stream is complete. Nothing it builds is served until the caller has the
//! whole result: a stream that breaks off leaves the old version in place.

use crate::zone::build::{SourcePos, ZoneBuilder};
use crate::zone::patch::{self, Change, PatchError};
use crate::zone::wire::{self, CLASS_IN, RecordRef};
use crate::zone::{Zone, name, rtype};

use super::refresh::{SoaTimers, TransferKind, serial_gt};

/// Why a transfer was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// The primary refused or does not implement the request (RCODE).
    #[error("primary answered {0}")]
    Refused(&'static str),
    /// The stream broke the protocol or carried bad data.
    #[error("{0}")]
    Malformed(String),
    /// The IXFR differences do not apply to the version we hold.
    #[error("IXFR does not apply: {0}")]
    DoesNotApply(String),
    /// The new version failed validation.
    #[error("invalid zone: {0}")]
    Invalid(String),
    /// A message failed TSIG verification (or the primary rejected ours).
    #[error("{0}")]
    Tsig(String),
    /// The transfer passed one of the zone's bounds (max-zone-records,
    /// max-zone-bytes, transfer-timeout) and was aborted.
    #[error("aborted: {1}")]
    Limit(Bound, String),
    /// An IXFR answered with only the primary's SOA, newer than ours: the
    /// primary has no IXFR (PowerDNS answers so), and an AXFR will work.
    #[error("answered IXFR with only its SOA, serial {0} (it has no IXFR)")]
    NoIxfr(u32),
    /// The transfer brought serial `delivered`, not newer than the `held`
    /// one served.
    #[error("serial {delivered} is not newer than the {held} we serve")]
    NotNewer { delivered: u32, held: u32 },
}

/// Which bound a transfer passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Records,
    Bytes,
    Time,
}

impl Bound {
    pub const ALL: [Bound; 3] = [Bound::Records, Bound::Bytes, Bound::Time];

    /// The config key that sets it.
    pub fn key(self) -> &'static str {
        match self {
            Bound::Records => "max-zone-records",
            Bound::Bytes => "max-zone-bytes",
            Bound::Time => "transfer-timeout",
        }
    }
}

/// One IXFR difference sequence: the records removed, then those added.
#[derive(Debug, Default, Clone)]
pub struct Diff {
    pub from_serial: u32,
    pub to_serial: u32,
    pub removed: Vec<Rec>,
    pub added: Vec<Rec>,
}

/// A record as transferred (owner lowercase, rdata uncompressed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rec {
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

/// The result of a complete transfer.
pub enum Outcome {
    /// The primary has nothing newer than `serial` (IXFR with one SOA).
    UpToDate(SoaTimers),
    /// A whole zone (AXFR, or an IXFR answered with a whole zone).
    Full(ZoneBuilder, SoaTimers),
    /// Differences to apply to the version held.
    Incremental(Vec<Diff>, SoaTimers),
}

/// Where the interpreter is in the stream.
enum State {
    /// Waiting for the first record (the new SOA).
    Start,
    /// After the first SOA: the second record decides the format.
    Second,
    /// Whole-zone body, until the first SOA comes again.
    Full,
    /// IXFR: in the removals of the current diff.
    Removing,
    /// IXFR: in the additions of the current diff.
    Adding,
    Done,
}

/// Reads one transfer response stream.
pub struct Interpreter {
    apex: Vec<u8>,
    id: u16,
    kind: TransferKind,
    state: State,
    first: Option<(SoaTimers, Rec)>,
    builder: Option<ZoneBuilder>,
    diffs: Vec<Diff>,
    messages: usize,
    records: usize,
    bytes: usize,
}

impl Interpreter {
    /// An interpreter for the answer to query `id` for zone `apex` (wire).
    pub fn new(apex: &[u8], id: u16, kind: TransferKind) -> Interpreter {
        let mut apex = apex.to_vec();
        name::lowercase_in_place(&mut apex);
        Interpreter {
            apex,
            id,
            kind,
            state: State::Start,
            first: None,
            builder: None,
            diffs: Vec::new(),
            messages: 0,
            records: 0,
            bytes: 0,
        }
    }

    /// Messages, records and octets read so far.
    pub fn stats(&self) -> (usize, usize, usize) {
        (self.messages, self.records, self.bytes)
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Reads one message. Returns `Ok(true)` once the stream is complete.
    pub fn message(&mut self, msg: &[u8]) -> Result<bool, TransferError> {
        if self.is_done() {
            return Err(TransferError::Malformed("message after the end of the transfer".into()));
        }
        let h = wire::header(msg).map_err(|e| TransferError::Malformed(e.to_string()))?;
        if !h.qr || h.id != self.id {
            return Err(TransferError::Malformed(format!(
                "response ID {} or QR does not match the query",
                h.id
            )));
        }
        match h.rcode {
            0 => {}
            1 => return Err(TransferError::Refused("FORMERR")),
            4 => return Err(TransferError::Refused("NOTIMP")),
            5 => return Err(TransferError::Refused("REFUSED")),
            9 => return Err(TransferError::Refused("NOTAUTH")),
            r => return Err(TransferError::Malformed(format!("RCODE {r}"))),
        }
        if h.tc {
            return Err(TransferError::Malformed("truncated response".into()));
        }
        if self.messages == 0 && h.ancount == 0 {
            return Err(TransferError::Malformed("first message has no answer records".into()));
        }
        self.messages += 1;
        self.bytes += msg.len();
        let r = wire::for_each_answer(msg, |r| {
            if self.is_done() {
                return Err(TransferError::Malformed("records after the final SOA".into()));
            }
            if r.class != CLASS_IN {
                return Err(TransferError::Malformed(format!(
                    "record of class {} in an IN transfer",
                    r.class
                )));
            }
            self.records += 1;
            self.record(&r)
        })
        .map_err(|e| TransferError::Malformed(e.to_string()))?;
        r?;
        Ok(self.is_done())
    }

    /// Ends the stream (the connection closed or the caller stops reading)
    /// and returns the result, or an error if it was incomplete.
    pub fn finish(mut self) -> Result<Outcome, TransferError> {
        let first = match (&self.state, self.first.take()) {
            (State::Second, Some((soa, _))) => {
                // Only the SOA: nothing newer (RFC 1995 section 4).
                return Ok(Outcome::UpToDate(soa));
            }
            (State::Done, Some(first)) => first,
            _ => return Err(TransferError::Malformed("transfer ended before its final SOA".into())),
        };
        let soa = first.0;
        match self.builder.take() {
            Some(b) => Ok(Outcome::Full(b, soa)),
            None => Ok(Outcome::Incremental(self.diffs, soa)),
        }
    }

    /// Takes one record. A whole zone's records go straight into the
    /// builder, borrowed; only the SOA and IXFR differences are kept owned.
    fn record(&mut self, rec: &RecordRef<'_>) -> Result<(), TransferError> {
        let is_apex_soa = rec.rtype == rtype::SOA && rec.owner == self.apex;
        match self.state {
            State::Start => {
                if !is_apex_soa {
                    return Err(TransferError::Malformed(
                        "transfer does not start with the zone's SOA".into(),
                    ));
                }
                let soa = soa_timers(rec.rdata)?;
                self.first = Some((soa, owned(rec)));
                self.state = State::Second;
            }
            State::Second => {
                let ixfr_from = match self.kind {
                    TransferKind::Ixfr { from } => Some(from),
                    TransferKind::Axfr => None,
                };
                match ixfr_from {
                    Some(from) if is_apex_soa && soa_timers(rec.rdata)?.serial == from => {
                        self.diffs.push(Diff {
                            from_serial: from,
                            ..Diff::default()
                        });
                        self.state = State::Removing;
                    }
                    _ if is_apex_soa => {
                        // AXFR of an empty zone is impossible (NS at least);
                        // a second SOA right away ends an IXFR-style reply.
                        return Err(TransferError::Malformed(
                            "SOA twice at the start of the transfer".into(),
                        ));
                    }
                    _ => {
                        let mut b = ZoneBuilder::new(&self.apex);
                        if let Some((_, soa)) = &self.first {
                            b.add(&soa.owner, rtype::SOA, soa.ttl, &soa.rdata, pos(1));
                        }
                        self.builder = Some(b);
                        self.state = State::Full;
                        self.add_full(rec)?;
                    }
                }
            }
            State::Full => {
                if is_apex_soa {
                    let serial = soa_timers(rec.rdata)?.serial;
                    if self.first.as_ref().is_some_and(|(f, _)| f.serial == serial) {
                        self.state = State::Done;
                        return Ok(());
                    }
                    return Err(TransferError::Malformed(format!(
                        "unexpected SOA with serial {serial} in the zone"
                    )));
                }
                self.add_full(rec)?;
            }
            State::Removing => {
                if is_apex_soa {
                    let serial = soa_timers(rec.rdata)?.serial;
                    let diff = self
                        .diffs
                        .last_mut()
                        .ok_or_else(|| TransferError::Malformed("no diff".into()))?;
                    if !serial_gt(serial, diff.from_serial) {
                        return Err(TransferError::Malformed(format!(
                            "IXFR sequence goes from serial {} to {serial}, not forward",
                            diff.from_serial
                        )));
                    }
                    diff.to_serial = serial;
                    diff.added.push(owned(rec));
                    self.state = State::Adding;
                } else {
                    self.check_inside(rec.owner)?;
                    if let Some(d) = self.diffs.last_mut() {
                        d.removed.push(owned(rec));
                    }
                }
            }
            State::Adding => {
                if is_apex_soa {
                    // The newest serial ends the stream (nothing can follow
                    // it); any other SOA starts the next difference.
                    let serial = soa_timers(rec.rdata)?.serial;
                    if self.first.as_ref().is_some_and(|(f, _)| f.serial == serial) {
                        self.state = State::Done;
                        return Ok(());
                    }
                    let prev_to = self.diffs.last().map_or(0, |d| d.to_serial);
                    if serial != prev_to {
                        return Err(TransferError::Malformed(format!(
                            "IXFR sequence starts at serial {serial}, previous one ended at {prev_to}"
                        )));
                    }
                    self.diffs.push(Diff {
                        from_serial: serial,
                        ..Diff::default()
                    });
                    self.state = State::Removing;
                } else {
                    self.check_inside(rec.owner)?;
                    if let Some(d) = self.diffs.last_mut() {
                        d.added.push(owned(rec));
                    }
                }
            }
            State::Done => return Err(TransferError::Malformed("records after the final SOA".into())),
        }
        Ok(())
    }

    fn add_full(&mut self, rec: &RecordRef<'_>) -> Result<(), TransferError> {
        self.check_inside(rec.owner)?;
        let n = self.records as u32;
        if let Some(b) = self.builder.as_mut() {
            b.add(rec.owner, rec.rtype, rec.ttl, rec.rdata, pos(n));
        }
        Ok(())
    }

    fn check_inside(&self, owner: &[u8]) -> Result<(), TransferError> {
        if name::is_subdomain(owner, &self.apex) {
            Ok(())
        } else {
            Err(TransferError::Malformed(format!(
                "record {} outside the zone {}",
                name::to_text(owner),
                name::to_text(&self.apex)
            )))
        }
    }
}

fn owned(r: &RecordRef<'_>) -> Rec {
    Rec {
        owner: r.owner.to_vec(),
        rtype: r.rtype,
        ttl: r.ttl,
        rdata: r.rdata.to_vec(),
    }
}

fn pos(n: u32) -> SourcePos {
    SourcePos { file: 0, line: n }
}

/// Serial and timers of SOA rdata.
pub fn soa_timers(rdata: &[u8]) -> Result<SoaTimers, TransferError> {
    let bad = || TransferError::Malformed("malformed SOA rdata".into());
    let a = crate::zone::name::skip_name(rdata).ok_or_else(bad)?;
    let b = crate::zone::name::skip_name(rdata.get(a..).ok_or_else(bad)?).ok_or_else(bad)?;
    let f = rdata.get(a + b..a + b + 20).ok_or_else(bad)?;
    let u = |i: usize| u32::from_be_bytes([f[i], f[i + 1], f[i + 2], f[i + 3]]);
    Ok(SoaTimers {
        serial: u(0),
        refresh: u(4),
        retry: u(8),
        expire: u(12),
    })
}

/// The net effect of a sequence of differences: records removed from the
/// version held, records added, and the final SOA.
struct Net<'a> {
    removed: Vec<&'a Rec>,
    added: Vec<&'a Rec>,
    soa: &'a Rec,
}

fn net<'a>(zone: &Zone, diffs: &'a [Diff]) -> Result<Net<'a>, TransferError> {
    let mut serial = zone.info.serial;
    let mut removed: Vec<&Rec> = Vec::new();
    let mut added: Vec<&Rec> = Vec::new();
    let is_soa = |r: &Rec| r.rtype == rtype::SOA && r.owner == zone.apex();
    for d in diffs {
        if d.from_serial != serial {
            return Err(TransferError::DoesNotApply(format!(
                "difference from serial {} but we hold {serial}",
                d.from_serial
            )));
        }
        serial = d.to_serial;
        for r in d.removed.iter().filter(|r| !is_soa(r)) {
            // A record added by an earlier diff and removed by a later one.
            if let Some(i) = added
                .iter()
                .position(|a| a.owner == r.owner && a.rtype == r.rtype && a.rdata == r.rdata)
            {
                added.remove(i);
            } else {
                removed.push(r);
            }
        }
        for r in d.added.iter().filter(|r| !is_soa(r)) {
            // Removed by an earlier diff and added back: no change.
            if let Some(i) = removed
                .iter()
                .position(|x| x.owner == r.owner && x.rtype == r.rtype && x.rdata == r.rdata)
            {
                let was = removed.remove(i);
                if was.ttl != r.ttl {
                    removed.push(was);
                    added.push(r);
                }
            } else {
                added.push(r);
            }
        }
    }
    let soa = diffs
        .last()
        .and_then(|d| d.added.iter().find(|r| is_soa(r)))
        .ok_or_else(|| TransferError::DoesNotApply("no new SOA".into()))?;
    Ok(Net { removed, added, soa })
}

fn change(r: &Rec) -> Change<'_> {
    Change {
        owner: &r.owner,
        rtype: r.rtype,
        ttl: r.ttl,
        rdata: &r.rdata,
    }
}

/// Applies IXFR differences to the version held: as a patch on top of it
/// when that is possible (milliseconds, whatever the zone's size), else by
/// rebuilding the zone with the differences applied.
pub fn apply(zone: &Zone, diffs: &[Diff]) -> Result<Zone, TransferError> {
    let n = net(zone, diffs)?;
    let removed: Vec<Change<'_>> = n.removed.iter().map(|r| change(r)).collect();
    let added: Vec<Change<'_>> = n.added.iter().map(|r| change(r)).collect();
    patch::apply_or_rebuild(zone, &removed, &added, change(n.soa)).map_err(patch_error)
}

/// The version held with the differences applied, as records for a
/// [`ZoneBuilder`] (the path [`apply`] falls back to).
pub fn rebuild(zone: &Zone, diffs: &[Diff]) -> Result<ZoneBuilder, TransferError> {
    let n = net(zone, diffs)?;
    let removed: Vec<Change<'_>> = n.removed.iter().map(|r| change(r)).collect();
    let added: Vec<Change<'_>> = n.added.iter().map(|r| change(r)).collect();
    patch::rebuild(zone, &removed, &added, change(n.soa)).map_err(patch_error)
}

/// The net changes of a sequence of differences, as the journal stores them.
pub fn net_changes(zone: &Zone, diffs: &[Diff]) -> Result<(Vec<Rec>, Vec<Rec>, Rec), TransferError> {
    let n = net(zone, diffs)?;
    Ok((
        n.removed.into_iter().cloned().collect(),
        n.added.into_iter().cloned().collect(),
        n.soa.clone(),
    ))
}

fn patch_error(e: PatchError) -> TransferError {
    match e {
        PatchError::DoesNotApply(e) => TransferError::DoesNotApply(e),
        PatchError::Invalid(e) => TransferError::Invalid(e),
        PatchError::Rebuild(why) => TransferError::Invalid(why.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::file::load_zone_text;
    use crate::zone::name::from_text;

    const ID: u16 = 0x4242;

    fn soa(serial: u32) -> Vec<u8> {
        let mut rd = from_text("ns1.example.test").unwrap();
        rd.extend(from_text("host.example.test").unwrap());
        for v in [serial, 3600, 600, 86400, 300] {
            rd.extend_from_slice(&v.to_be_bytes());
        }
        rd
    }

    fn rec(owner: &str, t: u16, rdata: Vec<u8>) -> (Vec<u8>, u16, Vec<u8>) {
        (from_text(owner).unwrap(), t, rdata)
    }

    fn a(owner: &str, last: u8) -> (Vec<u8>, u16, Vec<u8>) {
        rec(owner, rtype::A, vec![192, 0, 2, last])
    }

    fn msg(records: &[(Vec<u8>, u16, Vec<u8>)]) -> Vec<u8> {
        let mut m = vec![
            (ID >> 8) as u8,
            ID as u8,
            0x84,
            0,
            0,
            0,
            0,
            records.len() as u8,
            0,
            0,
            0,
            0,
        ];
        for (owner, t, rd) in records {
            m.extend_from_slice(owner);
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&1u16.to_be_bytes());
            m.extend_from_slice(&300u32.to_be_bytes());
            m.extend_from_slice(&(rd.len() as u16).to_be_bytes());
            m.extend_from_slice(rd);
        }
        m
    }

    fn apex() -> Vec<u8> {
        from_text("example.test").unwrap()
    }

    fn ns() -> (Vec<u8>, u16, Vec<u8>) {
        rec("example.test", rtype::NS, from_text("ns1.example.test").unwrap())
    }

    #[test]
    fn axfr_over_several_messages() {
        let mut it = Interpreter::new(&apex(), ID, TransferKind::Axfr);
        assert!(
            !it.message(&msg(&[rec("example.test", rtype::SOA, soa(7)), ns()]))
                .unwrap()
        );
        assert!(
            !it.message(&msg(&[a("ns1.example.test", 1), a("www.example.test", 2)]))
                .unwrap()
        );
        assert!(it.message(&msg(&[rec("example.test", rtype::SOA, soa(7))])).unwrap());
        match it.finish().unwrap() {
            Outcome::Full(b, soa) => {
                assert_eq!(soa.serial, 7);
                let z = b.build().map_err(|e| format!("{e:?}")).unwrap().zone;
                assert_eq!(z.info.serial, 7);
                assert!(z.find(&from_text("www.example.test").unwrap()).is_some());
            }
            _ => panic!("expected a full zone"),
        }
    }

    #[test]
    fn broken_off_or_foreign_streams_are_rejected() {
        let mut it = Interpreter::new(&apex(), ID, TransferKind::Axfr);
        it.message(&msg(&[rec("example.test", rtype::SOA, soa(7)), ns()]))
            .unwrap();
        assert!(it.finish().is_err(), "no final SOA");
        let mut it = Interpreter::new(&apex(), ID, TransferKind::Axfr);
        it.message(&msg(&[rec("example.test", rtype::SOA, soa(7)), ns()]))
            .unwrap();
        assert!(
            it.message(&msg(&[a("www.example.org", 1)])).is_err(),
            "outside the zone"
        );
        let mut it = Interpreter::new(&apex(), ID + 1, TransferKind::Axfr);
        assert!(
            it.message(&msg(&[rec("example.test", rtype::SOA, soa(7))])).is_err(),
            "wrong ID"
        );
        let mut it = Interpreter::new(&apex(), ID, TransferKind::Axfr);
        assert!(it.message(&msg(&[a("www.example.test", 1)])).is_err(), "no SOA first");
    }

    #[test]
    fn ixfr_diffs_apply() {
        let base = "$ORIGIN example.test.\n@ 300 SOA ns1 host 5 3600 600 86400 300\n@ 300 NS ns1\nns1 300 A 192.0.2.1\nold 300 A 192.0.2.9\n";
        let zone = load_zone_text("example.test", base).unwrap().zone;
        let mut it = Interpreter::new(&apex(), ID, TransferKind::Ixfr { from: 5 });
        let stream = [
            rec("example.test", rtype::SOA, soa(7)),
            rec("example.test", rtype::SOA, soa(5)),
            a("old.example.test", 9),
            rec("example.test", rtype::SOA, soa(6)),
            a("new.example.test", 6),
            rec("example.test", rtype::SOA, soa(6)),
            rec("example.test", rtype::SOA, soa(7)),
            a("newer.example.test", 7),
            rec("example.test", rtype::SOA, soa(7)),
        ];
        assert!(!it.message(&msg(&stream[..4])).unwrap());
        assert!(it.message(&msg(&stream[4..])).unwrap());
        let Outcome::Incremental(diffs, soa7) = it.finish().unwrap() else {
            panic!("expected diffs")
        };
        assert_eq!((diffs.len(), soa7.serial), (2, 7));
        let z = apply(&zone, &diffs).unwrap();
        assert_eq!(z.info.serial, 7);
        assert!(z.find(&from_text("old.example.test").unwrap()).is_none());
        assert!(z.find(&from_text("new.example.test").unwrap()).is_some());
        assert!(z.find(&from_text("newer.example.test").unwrap()).is_some());
        // A diff that removes what the zone lacks does not apply.
        let bad = vec![Diff {
            from_serial: 5,
            to_serial: 6,
            removed: vec![Rec {
                owner: from_text("nope.example.test").unwrap(),
                rtype: 1,
                ttl: 300,
                rdata: vec![1, 2, 3, 4],
            }],
            added: vec![Rec {
                owner: apex(),
                rtype: rtype::SOA,
                ttl: 300,
                rdata: soa(6),
            }],
        }];
        assert!(matches!(apply(&zone, &bad), Err(TransferError::DoesNotApply(_))));
        let wrong_base = vec![Diff {
            from_serial: 4,
            ..bad[0].clone()
        }];
        assert!(matches!(apply(&zone, &wrong_base), Err(TransferError::DoesNotApply(_))));
    }

    #[test]
    fn ixfr_single_soa_means_up_to_date_and_refusal_is_reported() {
        let mut it = Interpreter::new(&apex(), ID, TransferKind::Ixfr { from: 5 });
        it.message(&msg(&[rec("example.test", rtype::SOA, soa(5))])).unwrap();
        assert!(matches!(it.finish(), Ok(Outcome::UpToDate(s)) if s.serial == 5));
        let mut it = Interpreter::new(&apex(), ID, TransferKind::Ixfr { from: 5 });
        let mut m = msg(&[]);
        m[3] = 4; // NOTIMP
        assert_eq!(it.message(&m), Err(TransferError::Refused("NOTIMP")));
    }
}

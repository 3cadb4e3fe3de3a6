//! The answer algorithm (RFC 1034 section 4.3.2 with RFC 4592 wildcards,
//! RFC 6672 DNAME, RFC 2308 negative answers and RFC 4035 proofs) against
//! one zone snapshot.
//!
//! A lookup is a hash probe for the name and, when it is missing, one probe
//! per label on the way up to the closest encloser: its cost does not depend
//! on the size of the zone. Negative proofs use binary search.

mod proof;

use super::message::{Full, Owner, Section, Writer};
use crate::zone::name::{self, is_subdomain, parent};
use crate::zone::{APEX, RRset, Zone, flag, rtype};

/// Longest CNAME chain followed inside a zone (as Knot DNS).
pub const MAX_CNAME_HOPS: usize = 5;

/// RCODEs.
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
    pub const NOTIMP: u8 = 4;
    pub const REFUSED: u8 = 5;
    pub const YXDOMAIN: u8 = 6;
    pub const NOTAUTH: u8 = 9;
    /// Extended (16): needs the OPT record's upper bits.
    pub const BADVERS: u16 = 16;
}

/// How the lookup of one name ended.
#[derive(Clone, Copy, Debug)]
enum Lookup {
    /// The name exists (and is not occluded).
    Found(u32),
    /// The name is at or below a delegation: answer with a referral.
    Referral(u32),
    /// The name is below a DNAME owner.
    Dname(u32),
    /// No such name; the wildcard at the closest encloser matches.
    Wildcard { ce: u32, wc: u32 },
    /// No such name and no wildcard.
    NxDomain { ce: u32 },
}

/// A name being resolved, lowercase wire format.
#[derive(Clone, Copy)]
struct NameBuf {
    buf: [u8; 255],
    len: usize,
}

impl NameBuf {
    fn from(name: &[u8]) -> NameBuf {
        let mut buf = [0u8; 255];
        let len = name.len().min(255);
        buf[..len].copy_from_slice(&name[..len]);
        name::lowercase_in_place(&mut buf[..len]);
        NameBuf { buf, len }
    }

    fn get(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Answer state shared by the steps of one answer.
struct Answerer<'z, 'w, 'b> {
    zone: &'z Zone,
    w: &'w mut Writer<'b>,
    qtype: u16,
    dnssec: bool,
    /// The message ran out of room in a section that must be complete.
    truncated: bool,
    /// Names whose addresses go into the additional section.
    additional: [(u32, bool); 16],
    nadditional: usize,
    /// Wildcard expansions met in the answer chain, proven in the
    /// authority section once the answer section is complete.
    pending: [(u32, NameBuf); MAX_CNAME_HOPS],
    npending: usize,
    /// DNAME owners already in the answer.
    dnames: [u32; MAX_CNAME_HOPS],
    ndnames: usize,
    /// The zone cut of a referral in the response.
    cut: Option<u32>,
}

/// What [`answer_with`] tells besides the RCODE.
#[derive(Clone, Copy, Debug, Default)]
pub struct Answered {
    pub rcode: u8,
    /// The delegation a referral points to (lowercase wire name), as a
    /// hash for rate limiting (`dns::rrl::name_hash`).
    pub referral: Option<u64>,
}

/// Writes the answer to `qname`/`qtype` from `zone` into `w` (question and
/// header already written). Returns the RCODE.
pub fn answer(zone: &Zone, qname: &[u8], qtype: u16, dnssec_ok: bool, w: &mut Writer<'_>) -> u8 {
    answer_with(zone, qname, qtype, dnssec_ok, w).rcode
}

/// [`answer`], also telling which delegation a referral points to.
pub fn answer_with(zone: &Zone, qname: &[u8], qtype: u16, dnssec_ok: bool, w: &mut Writer<'_>) -> Answered {
    let mut a = Answerer {
        zone,
        w,
        qtype,
        dnssec: dnssec_ok && zone.info.signed,
        truncated: false,
        additional: [(0, false); 16],
        nadditional: 0,
        pending: [(0, NameBuf { buf: [0; 255], len: 0 }); MAX_CNAME_HOPS],
        npending: 0,
        dnames: [0; MAX_CNAME_HOPS],
        ndnames: 0,
        cut: None,
    };
    let rc = a.run(qname);
    if !a.truncated {
        a.flush_proofs();
    }
    if a.truncated {
        a.w.set_tc();
    } else {
        a.fill_additional();
        if a.truncated {
            a.w.set_tc();
        }
    }
    Answered {
        rcode: rc,
        referral: a.cut.map(|c| super::rrl::name_hash(zone.name(c), 0)),
    }
}

impl Answerer<'_, '_, '_> {
    fn run(&mut self, qname: &[u8]) -> u8 {
        self.w.set_aa(true);
        let mut cur = NameBuf::from(qname);
        let mut seen: [NameBuf; MAX_CNAME_HOPS] = [NameBuf { buf: [0; 255], len: 0 }; MAX_CNAME_HOPS];
        for hop in 0..MAX_CNAME_HOPS {
            let owner = if hop == 0 {
                Owner::Qname
            } else {
                Owner::Name(&cur.buf[..cur.len])
            };
            let next = match self.lookup(cur.get()) {
                Lookup::Found(id) => self.found(id, owner, hop),
                Lookup::Referral(cut) => {
                    self.referral(cut, hop == 0);
                    return rcode::NOERROR;
                }
                Lookup::Dname(id) => match self.dname(id, cur.get(), owner) {
                    Ok(Some(target)) => Step::Follow(target),
                    Ok(None) => return rcode::YXDOMAIN,
                    Err(Full) => {
                        self.truncated = true;
                        return rcode::NOERROR;
                    }
                },
                Lookup::Wildcard { ce, wc } => self.wildcard(ce, wc, cur.get(), owner),
                Lookup::NxDomain { ce } => {
                    self.nxdomain(ce, cur.get());
                    return rcode::NXDOMAIN;
                }
            };
            match next {
                Step::Done => return rcode::NOERROR,
                Step::Follow(target) => {
                    if hop + 1 >= MAX_CNAME_HOPS
                        || self.qtype == rtype::CNAME
                        || !is_subdomain(target.get(), self.zone.apex())
                        || seen[..hop].iter().any(|s| s.get() == target.get())
                        || target.get() == cur.get()
                    {
                        return rcode::NOERROR;
                    }
                    seen[hop] = cur;
                    cur = target;
                }
            }
        }
        rcode::NOERROR
    }

    fn lookup(&self, qname: &[u8]) -> Lookup {
        let zone = self.zone;
        if let Some(id) = zone.find(qname) {
            if zone.node(id).flags & flag::OCCLUDED != 0 {
                return self.occluder(id);
            }
            return Lookup::Found(id);
        }
        let mut cur = parent(qname);
        loop {
            if let Some(id) = zone.find(cur) {
                let f = zone.node(id).flags;
                if f & flag::OCCLUDED != 0 {
                    return self.occluder(id);
                }
                if f & flag::CUT != 0 {
                    return Lookup::Referral(id);
                }
                if f & flag::DNAME != 0 {
                    return Lookup::Dname(id);
                }
                if f & flag::WILDCARD_CHILD != 0 {
                    let mut wild = [0u8; 257];
                    wild[0] = 1;
                    wild[1] = b'*';
                    let n = cur.len().min(255);
                    wild[2..2 + n].copy_from_slice(&cur[..n]);
                    if let Some(wc) = zone.find(&wild[..2 + n]) {
                        return Lookup::Wildcard { ce: id, wc };
                    }
                }
                return Lookup::NxDomain { ce: id };
            }
            if cur.len() <= zone.apex().len() {
                // Cannot happen for names inside the zone: the apex exists.
                return Lookup::NxDomain { ce: APEX };
            }
            cur = parent(cur);
        }
    }

    /// The highest cut or DNAME above an occluded node.
    fn occluder(&self, mut id: u32) -> Lookup {
        let zone = self.zone;
        while id != APEX {
            id = zone.parent(id);
            let f = zone.node(id).flags;
            if f & flag::OCCLUDED == 0 {
                if f & flag::CUT != 0 {
                    return Lookup::Referral(id);
                }
                if f & flag::DNAME != 0 {
                    return Lookup::Dname(id);
                }
            }
        }
        Lookup::NxDomain { ce: APEX }
    }

    /// Answer from an existing node. `hop` > 0 inside a CNAME chain.
    fn found(&mut self, id: u32, owner: Owner<'_>, hop: usize) -> Step {
        let zone = self.zone;
        let node = *zone.node(id);
        if node.flags & flag::CUT != 0 && self.qtype != rtype::DS {
            self.referral(id, hop == 0);
            return Step::Done;
        }
        self.answer_from(id, id, owner, None)
    }

    /// Answers at `data_id` (the node or the wildcard that supplies the data)
    /// for the name `owner`. `wild` carries the closest encloser and the
    /// query name for wildcard proofs.
    fn answer_from(&mut self, name_id: u32, data_id: u32, owner: Owner<'_>, wild: Option<(u32, &[u8])>) -> Step {
        let zone = self.zone;
        let qtype = self.qtype;
        if qtype == rtype::ANY {
            let first = zone.rrsets(data_id).iter().find(|s| s.rtype != rtype::RRSIG).copied();
            return match first {
                Some(set) => {
                    if self.put(Section::Answer, owner, &set, data_id).is_ok() {
                        self.wildcard_proof(wild);
                    }
                    Step::Done
                }
                None => {
                    self.nodata(name_id, data_id, wild);
                    Step::Done
                }
            };
        }
        if qtype == rtype::RRSIG {
            // Minimal answer (RFC 8482 spirit, as Knot DNS): the signatures
            // of one RRset, the one with the lowest type.
            match zone.rrsets(data_id).iter().find(|s| s.rtype == rtype::RRSIG).copied() {
                Some(set) => {
                    if self
                        .w
                        .rrset(Section::Answer, owner, set.rtype, set.ttl, zone.records(&set))
                        .is_err()
                    {
                        self.truncated = true;
                    } else {
                        // Synthesized from a wildcard: prove that no closer
                        // name exists, as for any other type (Knot does).
                        self.wildcard_proof(wild);
                    }
                }
                None => self.nodata(name_id, data_id, wild),
            }
            return Step::Done;
        }
        if let Some(set) = zone.get(data_id, qtype) {
            let set = *set;
            if self.put(Section::Answer, owner, &set, data_id).is_ok() {
                self.note_additional(&set);
                self.wildcard_proof(wild);
            }
            return Step::Done;
        }
        if let Some(set) = zone.get(data_id, rtype::CNAME) {
            let set = *set;
            if self.put(Section::Answer, owner, &set, data_id).is_err() {
                return Step::Done;
            }
            self.wildcard_proof(wild);
            return match zone.records(&set).next() {
                Some(target) => Step::Follow(NameBuf::from(target)),
                None => Step::Done,
            };
        }
        self.nodata(name_id, data_id, wild);
        Step::Done
    }

    /// Writes an RRset (and its signatures when DNSSEC is on). Sets the
    /// truncation flag when it does not fit.
    fn put(&mut self, section: Section, owner: Owner<'_>, set: &RRset, id: u32) -> Result<(), Full> {
        let zone = self.zone;
        let r = self
            .w
            .rrset(section, owner, set.rtype, set.ttl, zone.records(set))
            .and_then(|()| {
                if self.dnssec
                    && let Some(sig) = zone.sigs(id, set.rtype)
                {
                    self.w.rrset(section, owner, rtype::RRSIG, sig.ttl, zone.records(sig))
                } else {
                    Ok(())
                }
            });
        if r.is_err() {
            self.truncated = true;
        }
        r
    }

    /// Writes a whole node's RRset of a type with a name owner, if present.
    fn put_type(&mut self, section: Section, id: u32, t: u16) -> Result<(), Full> {
        let zone = self.zone;
        match zone.get(id, t) {
            Some(set) => {
                let set = *set;
                self.put(section, Owner::Name(zone.name(id)), &set, id)
            }
            None => Ok(()),
        }
    }

    fn soa(&mut self) -> Result<(), Full> {
        let zone = self.zone;
        let Some(set) = zone.get(APEX, rtype::SOA).copied() else {
            return Ok(());
        };
        let neg = zone.info.neg_ttl;
        let owner = Owner::Name(zone.apex());
        let r = self
            .w
            .rrset(Section::Authority, owner, rtype::SOA, neg, zone.records(&set))
            .and_then(|()| {
                if self.dnssec
                    && let Some(sig) = zone.sigs(APEX, rtype::SOA)
                {
                    self.w.rrset(
                        Section::Authority,
                        owner,
                        rtype::RRSIG,
                        neg.min(sig.ttl),
                        zone.records(sig),
                    )
                } else {
                    Ok(())
                }
            });
        if r.is_err() {
            self.truncated = true;
        }
        r
    }

    fn wildcard(&mut self, ce: u32, wc: u32, qname: &[u8], owner: Owner<'_>) -> Step {
        let zone = self.zone;
        if zone.node(wc).flags & flag::CUT != 0 {
            // A wildcard delegation is not synthesised (RFC 4592 section 4.2).
            self.referral(wc, true);
            return Step::Done;
        }
        let owner = match owner {
            Owner::Qname => Owner::Qname,
            Owner::Name(_) => Owner::Name(qname),
        };
        self.answer_from(wc, wc, owner, Some((ce, qname)))
    }

    fn referral(&mut self, cut: u32, clear_aa: bool) {
        let zone = self.zone;
        self.cut = Some(cut);
        if clear_aa {
            self.w.set_aa(false);
        }
        let Some(ns) = zone.get(cut, rtype::NS).copied() else {
            return;
        };
        let cut_name = zone.name(cut);
        if self
            .w
            .rrset(
                Section::Authority,
                Owner::Name(cut_name),
                rtype::NS,
                ns.ttl,
                zone.records(&ns),
            )
            .is_err()
        {
            self.truncated = true;
            return;
        }
        if self.dnssec {
            if zone.get(cut, rtype::DS).is_some() {
                let _ = self.put_type(Section::Authority, cut, rtype::DS);
            } else if let Some(chain) = zone.nsec3() {
                match chain.matching(cut_name) {
                    Some(m) => {
                        let _ = self.put_type(Section::Authority, m, rtype::NSEC3);
                    }
                    None => self.nsec3_closest_encloser(cut_name),
                }
            } else if zone.get(cut, rtype::NSEC).is_some() {
                let _ = self.put_type(Section::Authority, cut, rtype::NSEC);
            }
        }
        if self.truncated {
            return;
        }
        // Glue: addresses of name servers inside the zone. In-domain glue
        // (below the cut) must fit or the answer is truncated (RFC 9471).
        for target in zone.records(&ns) {
            if !is_subdomain(target, zone.apex()) {
                continue;
            }
            let Some(t) = zone.find(target) else { continue };
            let required = is_subdomain(target, cut_name);
            for ty in [rtype::A, rtype::AAAA] {
                if let Some(set) = zone.get(t, ty).copied()
                    && self
                        .w
                        .rrset(
                            Section::Additional,
                            Owner::Name(zone.name(t)),
                            ty,
                            set.ttl,
                            zone.records(&set),
                        )
                        .is_err()
                    && required
                {
                    self.truncated = true;
                    return;
                }
            }
        }
    }

    fn dname(&mut self, id: u32, qname: &[u8], owner: Owner<'_>) -> Result<Option<NameBuf>, Full> {
        let zone = self.zone;
        let Some(set) = zone.get(id, rtype::DNAME).copied() else {
            return Ok(None);
        };
        if !self.dnames[..self.ndnames].contains(&id) {
            self.put(Section::Answer, Owner::Name(zone.name(id)), &set, id)?;
            if self.ndnames < self.dnames.len() {
                self.dnames[self.ndnames] = id;
                self.ndnames += 1;
            }
        }
        let Some(target) = zone.records(&set).next() else {
            return Ok(None);
        };
        let owner_name = zone.name(id);
        let prefix = &qname[..qname.len() - owner_name.len()];
        if prefix.len() + target.len() > 255 {
            return Ok(None);
        }
        let mut out = [0u8; 255];
        out[..prefix.len()].copy_from_slice(prefix);
        out[prefix.len()..prefix.len() + target.len()].copy_from_slice(target);
        let new = NameBuf::from(&out[..prefix.len() + target.len()]);
        let one = [new.get()];
        if self
            .w
            .rrset(Section::Answer, owner, rtype::CNAME, set.ttl, one.into_iter())
            .is_err()
        {
            self.truncated = true;
            return Err(Full);
        }
        Ok(Some(new))
    }

    fn note_additional(&mut self, set: &RRset) {
        let zone = self.zone;
        let skip = match set.rtype {
            rtype::NS => 0,
            rtype::MX => 2,
            rtype::SRV => 6,
            rtype::SVCB | rtype::HTTPS => 2,
            _ => return,
        };
        for rd in zone.records(set) {
            let Some(target) = rd.get(skip..) else {
                continue;
            };
            let Some(n) = crate::zone::name::skip_name(target) else {
                continue;
            };
            let target = NameBuf::from(&target[..n]);
            let target = target.get();
            if !is_subdomain(target, zone.apex()) {
                continue;
            }
            if let Some(t) = zone.find(target)
                && self.nadditional < self.additional.len()
                && !self.additional[..self.nadditional].iter().any(|a| a.0 == t)
            {
                self.additional[self.nadditional] = (t, false);
                self.nadditional += 1;
            }
        }
    }

    /// Adds the addresses noted for the additional section, as far as they fit.
    fn fill_additional(&mut self) {
        let zone = self.zone;
        for i in 0..self.nadditional {
            let (t, _) = self.additional[i];
            if zone.node(t).flags & flag::OCCLUDED != 0 && zone.node(zone.parent(t)).flags & flag::CUT == 0 {
                continue;
            }
            for ty in [rtype::A, rtype::AAAA] {
                if let Some(set) = zone.get(t, ty).copied() {
                    let owner = Owner::Name(zone.name(t));
                    let mark = self.w.mark();
                    let ok = self
                        .w
                        .rrset(Section::Additional, owner, ty, set.ttl, zone.records(&set))
                        .is_ok()
                        && (!self.dnssec
                            || zone.sigs(t, ty).is_none_or(|sig| {
                                self.w
                                    .rrset(Section::Additional, owner, rtype::RRSIG, sig.ttl, zone.records(sig))
                                    .is_ok()
                            }));
                    if !ok {
                        self.w.rollback(mark);
                    }
                }
            }
        }
    }
}

/// What to do after one step of the chain.
// The name lives on the stack on purpose: no allocation per query.
#[allow(clippy::large_enum_variant)]
enum Step {
    Done,
    Follow(NameBuf),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::file::load_zone_text;

    const ZONE: &str = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n\
svc SVCB 1 svc-target alpn=h2\nsvc-target A 192.0.2.95\nmx MX 10 ns1\n*.w A 192.0.2.7\nsub NS ns.sub\nns.sub A 192.0.2.9\n";

    /// Answers and returns (rcode, flags, [an, ns, ar] counts).
    fn ask(qname: &str, qtype: u16) -> (u8, u16, [u16; 3]) {
        let zone = load_zone_text("example.test", ZONE).unwrap().zone;
        let mut buf = vec![0u8; 65535];
        let mut w = Writer::new(&mut buf, 1232);
        w.header(1, 0x8000);
        let q = name::from_text(qname).unwrap();
        w.question(&q, qtype, 1).unwrap();
        let rc = answer(&zone, &q, qtype, false, &mut w);
        let flags = w.flags();
        let counts = [
            w.count(Section::Answer),
            w.count(Section::Authority),
            w.count(Section::Additional),
        ];
        (rc, flags, counts)
    }

    #[test]
    fn additional_addresses_for_targets() {
        assert_eq!(ask("svc.example.test", rtype::SVCB).2, [1, 0, 1]);
        assert_eq!(ask("mx.example.test", rtype::MX).2, [1, 0, 1]);
    }

    #[test]
    fn wildcard_referral_and_nxdomain() {
        assert_eq!(ask("a.b.w.example.test", rtype::A).2, [1, 0, 0]);
        let (rc, flags, counts) = ask("x.sub.example.test", rtype::A);
        assert_eq!((rc, flags & 0x0400, counts), (rcode::NOERROR, 0, [0, 1, 1]));
        let (rc, _, counts) = ask("nope.example.test", rtype::A);
        assert_eq!((rc, counts), (rcode::NXDOMAIN, [0, 1, 0]));
    }
}

//! DNSSEC denial-of-existence proofs for presigned zones (RFC 4035 section
//! 3.1.3, RFC 5155 section 7.2): which NSEC or NSEC3 records go into the
//! authority section of NODATA, NXDOMAIN and wildcard answers.

use super::{Answerer, NameBuf};
use crate::dns::message::Section;
use crate::zone::name::parent;
use crate::zone::rtype;

impl Answerer<'_, '_, '_> {
    pub(super) fn nodata(&mut self, name_id: u32, data_id: u32, wild: Option<(u32, &[u8])>) {
        self.flush_proofs();
        if self.soa().is_err() || !self.dnssec {
            return;
        }
        let zone = self.zone;
        match (wild, zone.nsec3()) {
            (None, None) => {
                if let Some(n) = zone.nsec_covering(zone.name(name_id)) {
                    let _ = self.put_type(Section::Authority, n, rtype::NSEC);
                }
            }
            (Some((_, qname)), None) => {
                let cover = zone.nsec_covering(qname);
                if let Some(n) = cover {
                    let _ = self.put_type(Section::Authority, n, rtype::NSEC);
                }
                if cover != Some(data_id) && zone.get(data_id, rtype::NSEC).is_some() {
                    let _ = self.put_type(Section::Authority, data_id, rtype::NSEC);
                }
            }
            (None, Some(chain)) => {
                let nm = zone.name(name_id);
                if let Some(m) = chain.matching(nm) {
                    let _ = self.put_type(Section::Authority, m, rtype::NSEC3);
                } else {
                    // DS NODATA below an opt-out span: closest provable encloser.
                    self.nsec3_closest_encloser(nm);
                }
            }
            (Some((ce, qname)), Some(chain)) => {
                let ce_name = zone.name(ce);
                let mut done = [u32::MAX; 3];
                if let Some(m) = chain.matching(ce_name) {
                    done[0] = m;
                }
                if let Some(c) = chain.covering(next_closer(qname, ce_name)) {
                    done[1] = c;
                }
                if let Some(m) = chain.matching(zone.name(data_id)) {
                    done[2] = m;
                }
                self.put_nsec3_set(&done);
            }
        }
    }

    fn put_nsec3_set(&mut self, ids: &[u32]) {
        for (i, &id) in ids.iter().enumerate() {
            if id != u32::MAX && !ids[..i].contains(&id) && self.put_type(Section::Authority, id, rtype::NSEC3).is_err()
            {
                return;
            }
        }
    }

    /// NSEC3 closest provable encloser proof for `name` (RFC 5155 7.2.1).
    pub(super) fn nsec3_closest_encloser(&mut self, qname: &[u8]) {
        let zone = self.zone;
        let Some(chain) = zone.nsec3() else { return };
        let mut ce = parent(qname);
        let mut next = qname;
        loop {
            if let Some(m) = chain.matching(ce) {
                let c = chain.covering(next).unwrap_or(u32::MAX);
                self.put_nsec3_set(&[m, c]);
                return;
            }
            if ce.len() <= zone.apex().len() {
                return;
            }
            next = ce;
            ce = parent(ce);
        }
    }

    /// Notes a wildcard expansion to prove once the answer section is done.
    pub(super) fn wildcard_proof(&mut self, wild: Option<(u32, &[u8])>) {
        let Some((ce, qname)) = wild else { return };
        if self.dnssec && self.npending < self.pending.len() {
            self.pending[self.npending] = (ce, NameBuf::from(qname));
            self.npending += 1;
        }
    }

    /// Writes the proofs noted by [`Self::wildcard_proof`].
    pub(super) fn flush_proofs(&mut self) {
        for i in 0..self.npending {
            let (ce, qname) = self.pending[i];
            self.prove_wildcard_answer(ce, qname.get());
        }
        self.npending = 0;
    }

    /// Proof that the query name does not exist, for a wildcard answer.
    fn prove_wildcard_answer(&mut self, ce: u32, qname: &[u8]) {
        let zone = self.zone;
        match zone.nsec3() {
            None => {
                if let Some(n) = zone.nsec_covering(qname) {
                    let _ = self.put_type(Section::Authority, n, rtype::NSEC);
                }
            }
            Some(chain) => {
                if let Some(c) = chain.covering(next_closer(qname, zone.name(ce))) {
                    let _ = self.put_type(Section::Authority, c, rtype::NSEC3);
                }
            }
        }
    }

    pub(super) fn nxdomain(&mut self, ce: u32, qname: &[u8]) {
        self.flush_proofs();
        if self.soa().is_err() || !self.dnssec {
            return;
        }
        let zone = self.zone;
        let ce_name = zone.name(ce);
        let mut wild = [0u8; 257];
        wild[0] = 1;
        wild[1] = b'*';
        let n = ce_name.len().min(255);
        wild[2..2 + n].copy_from_slice(&ce_name[..n]);
        let wild = &wild[..2 + n];
        match zone.nsec3() {
            None => {
                let a = zone.nsec_covering(qname);
                let b = zone.nsec_covering(wild);
                if let Some(a) = a {
                    let _ = self.put_type(Section::Authority, a, rtype::NSEC);
                }
                if let Some(b) = b
                    && Some(b) != a
                {
                    let _ = self.put_type(Section::Authority, b, rtype::NSEC);
                }
            }
            Some(chain) => {
                let m = chain.matching(ce_name).unwrap_or(u32::MAX);
                let c = chain.covering(next_closer(qname, ce_name)).unwrap_or(u32::MAX);
                let wc = chain.covering(wild).unwrap_or(u32::MAX);
                self.put_nsec3_set(&[m, c, wc]);
            }
        }
    }
}

/// The name one label longer than `ce` on the way to `qname`.
fn next_closer<'a>(qname: &'a [u8], ce: &[u8]) -> &'a [u8] {
    let mut n = qname;
    while n.len() > ce.len() {
        let p = parent(n);
        if p.len() == ce.len() {
            return n;
        }
        n = p;
    }
    qname
}

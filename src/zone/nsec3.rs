//! The NSEC3 chain of a presigned zone (RFC 5155): hashed owner names in
//! order, searched by binary search to find matching and covering records.

use sha1::{Digest, Sha1};

use super::{Zone, name, rtype};

/// Hashed owners of the zone's NSEC3 records with the NSEC3PARAM values.
pub struct Chain {
    pub iterations: u16,
    pub salt: Box<[u8]>,
    /// (raw hash, node id), sorted by hash.
    entries: Vec<([u8; 20], u32)>,
}

impl Chain {
    /// Builds the chain from the apex NSEC3PARAM (SHA-1 only; other
    /// algorithms are not defined).
    pub fn build(zone: &Zone) -> Option<Chain> {
        let param = zone.get(super::APEX, rtype::NSEC3PARAM)?;
        let rd = zone.records(param).find(|rd| rd.len() >= 5 && rd[0] == 1)?;
        let iterations = u16::from_be_bytes([rd[2], rd[3]]);
        let salt_len = rd[4] as usize;
        let salt: Box<[u8]> = rd.get(5..5 + salt_len)?.into();
        let mut entries = Vec::new();
        for id in zone.node_ids() {
            if zone.get(id, rtype::NSEC3).is_none() {
                continue;
            }
            let owner = zone.name(id);
            if name::parent(owner) != zone.apex() || owner.first() != Some(&32) {
                continue;
            }
            if let Some(hash) = base32hex_decode(&owner[1..33]) {
                entries.push((hash, id));
            }
        }
        entries.sort_unstable();
        Some(Chain {
            iterations,
            salt,
            entries,
        })
    }

    /// The NSEC3 hash of a lowercase wire name.
    pub fn hash(&self, owner: &[u8]) -> [u8; 20] {
        let mut h = Sha1::new();
        h.update(owner);
        h.update(&self.salt);
        let mut digest: [u8; 20] = h.finalize().into();
        for _ in 0..self.iterations {
            let mut h = Sha1::new();
            h.update(digest);
            h.update(&self.salt);
            digest = h.finalize().into();
        }
        digest
    }

    /// The node whose NSEC3 matches `owner` exactly.
    pub fn matching(&self, owner: &[u8]) -> Option<u32> {
        let hash = self.hash(owner);
        self.entries
            .binary_search_by(|(h, _)| h.cmp(&hash))
            .ok()
            .map(|i| self.entries[i].1)
    }

    /// The node whose NSEC3 covers `owner` (hash strictly between owner hash
    /// and next hash, wrapping around); `None` if it matches or the chain is empty.
    pub fn covering(&self, owner: &[u8]) -> Option<u32> {
        let hash = self.hash(owner);
        match self.entries.binary_search_by(|(h, _)| h.cmp(&hash)) {
            Ok(_) => None,
            Err(0) => self.entries.last().map(|e| e.1),
            Err(i) => Some(self.entries[i - 1].1),
        }
    }

    /// The node owning the NSEC3 record named `owner` (a hashed name right
    /// below `apex`), by its hash.
    pub fn node_of(&self, owner: &[u8], apex: &[u8]) -> Option<u32> {
        if owner.first() != Some(&32) || name::parent(owner) != apex {
            return None;
        }
        let hash = base32hex_decode(&owner[1..33])?;
        self.entries
            .binary_search_by(|(h, _)| h.cmp(&hash))
            .ok()
            .map(|i| self.entries[i].1)
    }

    pub fn heap_size(&self) -> usize {
        self.entries.capacity() * 24 + self.salt.len()
    }
}

/// Decodes 32 base32hex characters (RFC 4648, case-insensitive) into 20 bytes.
fn base32hex_decode(text: &[u8]) -> Option<[u8; 20]> {
    if text.len() != 32 {
        return None;
    }
    let mut out = [0u8; 20];
    let mut acc: u64 = 0;
    let mut bits = 0;
    let mut o = 0;
    for &c in text {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'v' => c - b'a' + 10,
            b'A'..=b'V' => c - b'A' + 10,
            _ => return None,
        };
        acc = (acc << 5) | v as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out[o] = (acc >> bits) as u8;
            o += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5155_appendix_a_hash() {
        // RFC 5155 appendix A: H(example) = 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom,
        // salt aabbccdd, 12 iterations.
        let chain = Chain {
            iterations: 12,
            salt: vec![0xaa, 0xbb, 0xcc, 0xdd].into(),
            entries: Vec::new(),
        };
        let want = base32hex_decode(b"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom").unwrap();
        assert_eq!(chain.hash(&name::from_text("example").unwrap()), want);
    }
}

//! Domain names in uncompressed wire format (`\x03www\x07example\x00`).
//!
//! Everything stored in a zone is lowercase wire format; these helpers work
//! on byte slices so the query path never allocates for a name.

use std::cmp::Ordering;
use std::fmt::Write as _;

/// Longest name in wire format (RFC 1035 section 2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Most labels a name can have, including the root label.
pub const MAX_LABELS: usize = 128;

/// Length of the uncompressed wire name at the start of `data`; `None`
/// when it is cut short, has a label longer than 63 octets or is longer
/// than [`MAX_NAME_LEN`] (a compression pointer is a label too long).
pub fn skip_name(data: &[u8]) -> Option<usize> {
    let mut pos = 0usize;
    loop {
        let len = *data.get(pos)? as usize;
        if len == 0 {
            return Some(pos + 1);
        }
        if len > 63 || pos + 1 + len >= MAX_NAME_LEN {
            return None;
        }
        pos += 1 + len;
    }
}

/// Offsets of the label starts of a wire name, the root label excluded.
pub struct Labels {
    offsets: [u8; MAX_LABELS],
    count: usize,
}

impl Labels {
    /// Splits a valid wire name. Names built by this crate are always valid;
    /// a malformed name yields the labels up to the first inconsistency.
    pub fn of(name: &[u8]) -> Labels {
        let mut offsets = [0u8; MAX_LABELS];
        let mut count = 0;
        let mut pos = 0usize;
        while pos < name.len() && count < MAX_LABELS {
            let len = name[pos] as usize;
            if len == 0 {
                break;
            }
            offsets[count] = pos as u8;
            count += 1;
            pos += 1 + len;
        }
        Labels { offsets, count }
    }

    /// Number of labels, not counting the root.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Offset of label `i` (0 = leftmost).
    pub fn offset(&self, i: usize) -> usize {
        self.offsets[i] as usize
    }
}

/// Number of labels in a wire name, not counting the root.
pub fn label_count(name: &[u8]) -> usize {
    let mut pos = 0usize;
    let mut count = 0;
    while pos < name.len() && name[pos] != 0 {
        pos += 1 + name[pos] as usize;
        count += 1;
    }
    count
}

/// The parent of a wire name (the name without its leftmost label); the root
/// is its own parent.
pub fn parent(name: &[u8]) -> &[u8] {
    match name.first() {
        Some(&len) if len != 0 && (len as usize) < name.len() => &name[1 + len as usize..],
        _ => name,
    }
}

/// True if `name` equals `apex` or lies below it. Both must be lowercase.
pub fn is_subdomain(name: &[u8], apex: &[u8]) -> bool {
    if name.len() < apex.len() || !name.ends_with(apex) {
        return false;
    }
    // The suffix must start on a label boundary of `name`.
    let want = name.len() - apex.len();
    let mut pos = 0usize;
    while pos < want {
        pos += 1 + name[pos] as usize;
    }
    pos == want
}

/// True if the leftmost label is `*`.
pub fn is_wildcard(name: &[u8]) -> bool {
    name.len() >= 2 && name[0] == 1 && name[1] == b'*'
}

/// Lowercases ASCII letters of a wire name in place.
pub fn lowercase_in_place(name: &mut [u8]) {
    let mut pos = 0usize;
    while pos < name.len() {
        let len = name[pos] as usize;
        if len == 0 {
            break;
        }
        let end = (pos + 1 + len).min(name.len());
        name[pos + 1..end].make_ascii_lowercase();
        pos = end;
    }
}

/// Compares two lowercase wire names in DNSSEC canonical order
/// (RFC 4034 section 6.1): label by label from the right.
pub fn canonical_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let la = Labels::of(a);
    let lb = Labels::of(b);
    let (mut i, mut j) = (la.len(), lb.len());
    while i > 0 && j > 0 {
        i -= 1;
        j -= 1;
        let (oa, ob) = (la.offset(i), lb.offset(j));
        let la_ = &a[oa + 1..oa + 1 + a[oa] as usize];
        let lb_ = &b[ob + 1..ob + 1 + b[ob] as usize];
        match la_.cmp(lb_) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    i.cmp(&j)
}

/// Appends the canonical-order sort key of a lowercase wire name to `out`:
/// labels right to left, each byte escaped so that plain `memcmp` on keys
/// gives canonical order.
pub fn push_sort_key(name: &[u8], out: &mut Vec<u8>) {
    push_sort_key_below(name, 0, out);
}

/// [`push_sort_key`] without the rightmost `skip` labels (those of a zone
/// apex every name shares).
pub fn push_sort_key_below(name: &[u8], skip: usize, out: &mut Vec<u8>) {
    let labels = Labels::of(name);
    for i in (0..labels.len().saturating_sub(skip)).rev() {
        let o = labels.offset(i);
        for &byte in &name[o + 1..o + 1 + name[o] as usize] {
            if byte <= 1 {
                out.push(1);
                out.push(byte + 1);
            } else {
                out.push(byte);
            }
        }
        out.push(0);
    }
}

/// Converts presentation format (`www.example.com`, trailing dot optional,
/// `\.` and `\DDD` escapes) to lowercase wire format.
pub fn from_text(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() + 2);
    if text == "." || text.is_empty() {
        out.push(0);
        return Ok(out);
    }
    let bytes = text.as_bytes();
    let mut label = Vec::with_capacity(63);
    let mut i = 0;
    let finish = |label: &mut Vec<u8>, out: &mut Vec<u8>| -> Result<(), String> {
        if label.is_empty() {
            return Err(format!("empty label in {text:?}"));
        }
        if label.len() > 63 {
            return Err(format!("label longer than 63 octets in {text:?}"));
        }
        out.push(label.len() as u8);
        out.extend(label.iter().map(|b| b.to_ascii_lowercase()));
        label.clear();
        Ok(())
    };
    while i < bytes.len() {
        match bytes[i] {
            b'.' => {
                finish(&mut label, &mut out)?;
                i += 1;
            }
            b'\\' => {
                let digits = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(u8::is_ascii_digit));
                if let Some(d) = digits {
                    let v = (d[0] - b'0') as u32 * 100 + (d[1] - b'0') as u32 * 10 + (d[2] - b'0') as u32;
                    if v > 255 {
                        return Err(format!("bad escape in {text:?}"));
                    }
                    label.push(v as u8);
                    i += 4;
                } else if let Some(&c) = bytes.get(i + 1) {
                    label.push(c);
                    i += 2;
                } else {
                    return Err(format!("dangling backslash in {text:?}"));
                }
            }
            c => {
                label.push(c);
                i += 1;
            }
        }
    }
    if !label.is_empty() {
        finish(&mut label, &mut out)?;
    }
    out.push(0);
    if out.len() > MAX_NAME_LEN {
        return Err(format!("name longer than 255 octets: {text:?}"));
    }
    Ok(out)
}

/// Presentation format of a wire name, with a trailing dot.
pub fn to_text(name: &[u8]) -> String {
    let mut s = String::with_capacity(name.len() + 1);
    let mut pos = 0usize;
    while pos < name.len() {
        let len = name[pos] as usize;
        if len == 0 {
            break;
        }
        let end = (pos + 1 + len).min(name.len());
        for &b in &name[pos + 1..end] {
            match b {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                    s.push('\\');
                    s.push(b as char);
                }
                0x21..=0x7e => s.push(b as char),
                _ => {
                    let _ = write!(s, "\\{b:03}");
                }
            }
        }
        s.push('.');
        pos = end;
    }
    if s.is_empty() {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Vec<u8> {
        from_text(s).unwrap()
    }

    #[test]
    fn skip_name_bounds() {
        let www = n("www.example.");
        let mut data = www.clone();
        data.extend_from_slice(&[0, 1, 0, 1]);
        assert_eq!(skip_name(&data), Some(www.len()));
        assert_eq!(skip_name(&[0]), Some(1));
        assert_eq!(skip_name(&www[..www.len() - 1]), None, "cut short");
        assert_eq!(skip_name(&[0xc0, 12]), None, "a pointer");
        let long: Vec<u8> = std::iter::repeat_n([63u8; 64], 4).flatten().chain([0]).collect();
        assert_eq!(skip_name(&long), None, "longer than 255 octets");
    }

    #[test]
    fn canonical_order_matches_rfc4034_example() {
        // RFC 4034 section 6.1 example, in order.
        let names = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        for w in names.windows(2) {
            let (a, b) = (n(w[0]), n(w[1]));
            assert_eq!(canonical_cmp(&a, &b), Ordering::Less, "{} < {}", w[0], w[1]);
            let (mut ka, mut kb) = (Vec::new(), Vec::new());
            push_sort_key(&a, &mut ka);
            push_sort_key(&b, &mut kb);
            assert!(ka < kb, "key {} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn subdomain_respects_label_boundaries() {
        assert!(is_subdomain(&n("www.example.com"), &n("example.com")));
        assert!(is_subdomain(&n("example.com"), &n("example.com")));
        assert!(!is_subdomain(&n("wwwexample.com"), &n("example.com")));
        assert!(is_subdomain(&n("a.b"), &n(".")));
        assert_eq!(parent(&n("a.b.c")), &n("b.c")[..]);
        assert_eq!(label_count(&n("a.b.c")), 3);
        assert_eq!(to_text(&n("A.b\\.c")), "a.b\\.c.");
    }
}

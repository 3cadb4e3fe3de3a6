//! LOC rdata (RFC 1876) from presentation format to wire format.

/// Parses the rdata tokens of a LOC record; `None` if malformed.
pub fn parse(tokens: &[&str]) -> Option<Vec<u8>> {
    let mut it = tokens.iter().copied().peekable();
    let lat = coordinate(&mut it, 'N', 'S', 90)?;
    let lon = coordinate(&mut it, 'E', 'W', 180)?;
    let alt_m: f64 = it.next()?.trim_end_matches(['m', 'M']).parse().ok()?;
    let alt = ((alt_m * 100.0).round() as i64 + 10_000_000).clamp(0, u32::MAX as i64) as u32;
    let mut sizes = [100u64, 1_000_000, 1_000]; // 1m, 10000m, 10m in cm
    for slot in sizes.iter_mut() {
        match it.next() {
            Some(t) => {
                let m: f64 = t.trim_end_matches(['m', 'M']).parse().ok()?;
                if !(0.0..=90_000_000.0).contains(&m) {
                    return None;
                }
                *slot = (m * 100.0).round() as u64;
            }
            None => break,
        }
    }
    if it.next().is_some() {
        return None;
    }
    let mut out = Vec::with_capacity(16);
    out.push(0);
    for s in sizes {
        out.push(precision(s));
    }
    out.extend_from_slice(&lat.to_be_bytes());
    out.extend_from_slice(&lon.to_be_bytes());
    out.extend_from_slice(&alt.to_be_bytes());
    Some(out)
}

fn coordinate<'a>(
    it: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
    pos: char,
    neg: char,
    max: u32,
) -> Option<u32> {
    let deg: u32 = it.next()?.parse().ok()?;
    let mut min = 0u32;
    let mut sec = 0f64;
    let is_hemi = |t: &str| {
        t.len() == 1 && (t.eq_ignore_ascii_case(&pos.to_string()) || t.eq_ignore_ascii_case(&neg.to_string()))
    };
    if !is_hemi(it.peek()?) {
        min = it.next()?.parse().ok()?;
        if !is_hemi(it.peek()?) {
            sec = it.next()?.parse().ok()?;
        }
    }
    let hemi = it.next()?;
    if deg > max || min >= 60 || !(0.0..60.0).contains(&sec) {
        return None;
    }
    let thousandths = (deg as i64 * 3600 + min as i64 * 60) * 1000 + (sec * 1000.0).round() as i64;
    let base = 1i64 << 31;
    let v = if hemi.eq_ignore_ascii_case(&neg.to_string()) {
        base - thousandths
    } else {
        base + thousandths
    };
    u32::try_from(v).ok()
}

/// Encodes a size in centimetres as mantissa/exponent (RFC 1876 section 2).
fn precision(cm: u64) -> u8 {
    let mut exp = 0u8;
    let mut v = cm;
    while v >= 10 && exp < 9 {
        v /= 10;
        exp += 1;
    }
    ((v.min(9) as u8) << 4) | exp
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc1876_example() {
        // 42 21 54 N 71 06 18 W -24m 30m (cambridge-net.kei.com example)
        let w = super::parse(&["42", "21", "54", "N", "71", "06", "18", "W", "-24m", "30m"]).unwrap();
        assert_eq!(w[0], 0);
        assert_eq!(w[1], 0x33); // 30m = 3e3 cm
        assert_eq!(w[2], 0x16); // default 10000m
        assert_eq!(w[3], 0x13); // default 10m
        assert_eq!(u32::from_be_bytes([w[4], w[5], w[6], w[7]]), 2_299_997_648);
    }
}

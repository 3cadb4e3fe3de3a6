//! Durations and sizes as written in the config file: a duration is a
//! number and a unit, `ms`, `s`, `m`, `h` or `d`, optionally several in a
//! row (`"1m30s"`); a size is a number of bytes with an optional unit
//! (`"64KiB"`, `"256MiB"`, `"1GiB"`, or `"1MB"` for 10^6).

use std::time::Duration;

/// Parses `"500ms"`, `"10s"`, `"2m"`, `"1h"`, `"1d"`, `"1h30m"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err("empty duration (expected e.g. \"10s\")".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "{s:?} is not a duration (expected a number and a unit: ms, s, m, h, d)"
            ));
        }
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let n: u64 = number.parse().map_err(|_| format!("{s:?}: {number} is too large"))?;
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(format!("{s:?} has no unit (use ms, s, m, h or d, e.g. \"{number}s\")"));
            }
            other => {
                return Err(format!("{s:?} has an unknown unit {other:?} (use ms, s, m, h or d)"));
            }
        };
        let millis = n
            .checked_mul(millis_per_unit)
            .ok_or_else(|| format!("{s:?} is too large"))?;
        total = total
            .checked_add(Duration::from_millis(millis))
            .ok_or_else(|| format!("{s:?} is too large"))?;
        rest = tail;
    }
    Ok(total)
}

/// Parses a size in bytes: `"1048576"`, `"512KiB"`, `"64MiB"`, `"1GiB"`,
/// `"1TiB"` (powers of 1024), or `"1kB"`, `"1MB"`, `"1GB"` (powers of 1000).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let text = s.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!(
            "{s:?} is not a size (expected a number of bytes, or a number and a unit: KiB, MiB, GiB, kB, MB, GB)"
        ));
    }
    let (number, unit) = text.split_at(digits);
    let n: u64 = number.parse().map_err(|_| format!("{s:?}: {number} is too large"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "{s:?} has an unknown unit {other:?} (use KiB, MiB, GiB, TiB, kB, MB, GB or TB)"
            ));
        }
    };
    n.checked_mul(scale).ok_or_else(|| format!("{s:?} is too large"))
}

/// Formats a size the way the config file writes it: the largest binary
/// unit that divides it (`"64MiB"`), else bytes.
pub fn format_size(bytes: u64) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if bytes != 0 && bytes % (1u64 << shift) == 0 {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Formats a duration the way the config file writes it (`"1m30s"`,
/// `"500ms"`, `"0s"`); sub-millisecond parts are dropped.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size(" 1GiB "), Ok(1 << 30));
        assert_eq!(parse_size("2 KiB"), Ok(2048));
        assert_eq!(parse_size("3MB"), Ok(3_000_000));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("1 parsec").is_err());
        assert!(parse_size("99999999999TiB").is_err());
        assert_eq!(format_size(256 << 20), "256MiB");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(format_size(0), "0");
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(" 1m30s "), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "10",
            "s",
            "10x",
            "1.5s",
            "-1s",
            "10 s",
            "1s2",
            "ms",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_duration("10").unwrap_err().contains("no unit"));
        assert!(parse_duration("10x").unwrap_err().contains("unknown unit"));
        assert!(
            parse_duration("18446744073709551615d")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn formats_round_trip() {
        for s in ["500ms", "10s", "2m", "1h", "1d", "1m30s", "1s500ms", "0s"] {
            let d = parse_duration(s).unwrap();
            assert_eq!(format_duration(d), s);
        }
    }
}

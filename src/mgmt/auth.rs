//! The bearer token of mutating calls: read from `mgmt.token-file` on every
//! call (so it can be rotated without a restart), surrounding whitespace
//! ignored, compared with the request's `Authorization: Bearer` value in
//! constant time.
//!
//! A refused call is counted ([`refused`]) and summarised (the first of a
//! reason at once, then one line per interval), never logged per call: a
//! caller with a wrong token cannot flood the log.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tracing::warn;

use crate::logging::summary::Summary;

/// Mutating calls refused: [wrong or missing token (401), no usable token
/// file on the node (503)].
static REFUSED: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Mutating calls refused so far: (401 unauthorized, 503 unavailable).
pub fn refused() -> (u64, u64) {
    (REFUSED[0].load(Ordering::Relaxed), REFUSED[1].load(Ordering::Relaxed))
}

fn summary() -> &'static Arc<Summary> {
    static S: OnceLock<Arc<Summary>> = OnceLock::new();
    S.get_or_init(|| Summary::new("mutating management call refused", |t| warn!("{t}")))
}

/// Why a mutating call is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// No usable token in the request, or the wrong one (401).
    Unauthorized(&'static str),
    /// The node has no usable token file (503): mutating calls are off.
    Unavailable(String),
}

/// Checks the `Authorization` header value (if any) against the token file.
pub fn check(authorization: Option<&[u8]>, token_file: &Path) -> Result<(), Denied> {
    let result = check_token(authorization, token_file);
    match &result {
        Ok(()) => {}
        Err(Denied::Unauthorized(why)) => {
            REFUSED[0].fetch_add(1, Ordering::Relaxed);
            summary().record(None, why, || "401".to_string());
        }
        Err(Denied::Unavailable(why)) => {
            REFUSED[1].fetch_add(1, Ordering::Relaxed);
            let why = why.clone();
            summary().record(None, "no usable token file", move || why);
        }
    }
    result
}

fn check_token(authorization: Option<&[u8]>, token_file: &Path) -> Result<(), Denied> {
    let token = read_token(token_file)
        .map_err(|e| Denied::Unavailable(format!("mutating calls are disabled on this node: {e}")))?;
    let Some(value) = authorization else {
        return Err(Denied::Unauthorized("missing Authorization: Bearer header"));
    };
    let given = bearer(value).ok_or(Denied::Unauthorized(
        "the Authorization header is not \"Bearer <token>\"",
    ))?;
    if constant_time_eq(given, &token) {
        Ok(())
    } else {
        Err(Denied::Unauthorized("wrong token"))
    }
}

/// Logs, at start-up, what an operator must fix for mutating calls to work.
pub fn warn_if_unusable(token_file: &Path) {
    if let Err(e) = read_token(token_file) {
        warn!("management API: mutating calls are refused until this is fixed: {e}; read-only calls work");
    }
}

/// The token: `mgmt.token-file`, a regular file of at most
/// [`crate::files::TOKEN_MAX`] (a FIFO or a device is refused at once, so a
/// mutating call never hangs on it).
fn read_token(path: &Path) -> Result<Vec<u8>, String> {
    let raw = crate::files::read(path, crate::files::TOKEN_MAX)
        .map_err(|e| format!("cannot read the token file {} (mgmt.token-file): {e}", path.display()))?;
    let token = raw.trim_ascii();
    if token.is_empty() {
        return Err(format!("the token file {} is empty", path.display()));
    }
    Ok(token.to_vec())
}

/// The token of `Bearer <token>` (scheme case-insensitive, RFC 7235).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || !rest.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Equal bytes, in time that depends only on the lengths: every byte pair
/// is looked at, whatever differs first.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer   abc  "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearerabc"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bear"), None);
    }

    #[test]
    fn token_file_checks() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("token");
        assert!(matches!(check(Some(b"Bearer x"), &file), Err(Denied::Unavailable(m)) if m.contains("token")));
        std::fs::write(&file, "  \n").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(check(Some(b"Bearer x"), &file), Err(Denied::Unavailable(m)) if m.contains("empty")));
        std::fs::write(&file, "s3cret\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check(Some(b"Bearer s3cret"), &file), Ok(()));
        assert_eq!(
            check(Some(b"Bearer s3cre"), &file),
            Err(Denied::Unauthorized("wrong token"))
        );
        assert!(matches!(check(None, &file), Err(Denied::Unauthorized(_))));
    }
}

//! TSIG (RFC 8945): transaction signatures on DNS messages.
//!
//! Sans-IO: every function works on one complete DNS message in wire format
//! (`&[u8]` in, bytes appended to a `Vec<u8>` out) and takes the current
//! time as seconds since the Unix epoch ([`unix_now`]); nothing here touches
//! a socket or a clock, so the transfer client, the NOTIFY handler and the
//! tests drive it the same way.
//!
//! - Outgoing requests (SOA, AXFR, IXFR queries to a primary):
//!   [`sign_request`] appends the TSIG record and returns the request MAC;
//!   [`ResponseVerifier`] then checks every message of the answer, one call
//!   per message, including multi-message transfers where the server may
//!   leave up to 99 messages in a row unsigned (RFC 8945 section 5.3.1), and
//!   [`ResponseVerifier::finish`] refuses a stream whose last message is
//!   unsigned.
//! - Incoming requests (NOTIFY from a primary): [`verify_request`] checks
//!   key, MAC and time in the order of RFC 8945 section 5.2; the answer is
//!   signed with [`sign_response`], or, when verification failed, carries
//!   the error TSIG built by [`error_response_tsig`] (unsigned for BADKEY and
//!   BADSIG, signed with the server time for BADTIME).
//! - Outgoing multi-message answers (transfers out): [`ResponseSigner`].
//!
//! Parsing is defensive: any byte string gives `Ok` or `Err`, never a
//! panic. A TSIG record must be the last record of the additional section
//! and end the message; MACs are compared in constant time, and a truncated
//! MAC is accepted down to the RFC 8945 section 5.2.2.1 minimum (the larger
//! of 10 octets and half the HMAC length).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::Hmac;
use hmac::digest::{KeyInit, Mac};

use crate::config::TsigKey;
use crate::zone::name;

/// The TSIG HMAC algorithms; the config enum is used as is.
pub use crate::config::TsigAlgorithm as Algorithm;

/// RR type TSIG.
pub const TYPE_TSIG: u16 = 250;
/// Class ANY, the class of every TSIG record.
const CLASS_ANY: u16 = 255;
/// Fudge to put in signatures (RFC 8945 section 10 recommends 300 s).
pub const DEFAULT_FUDGE: u16 = 300;
/// How many messages in a row of a multi-message answer may be unsigned
/// (RFC 8945 section 5.3.1: a TSIG at least every 100th message).
pub const MAX_UNSIGNED_IN_A_ROW: usize = 99;

/// TSIG error codes (the TSIG record's Error field).
pub const BADSIG: u16 = 16;
pub const BADKEY: u16 = 17;
pub const BADTIME: u16 = 18;
pub const BADTRUNC: u16 = 22;

/// Message RCODEs used with TSIG failures.
pub const RCODE_FORMERR: u16 = 1;
pub const RCODE_NOTAUTH: u16 = 9;

const HEADER_LEN: usize = 12;
/// Most compression pointers followed while reading one name.
const MAX_POINTERS: usize = 64;
const MAX_NAME_LEN: usize = 255;

/// Seconds since the Unix epoch (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// SHA-256 of `data` (the digest behind hmac-sha256, for other modules
/// that need a stable hash, such as catalog member labels).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}

/// The algorithm's name as an uncompressed, lowercase wire name
/// (`\x08hmac-md5\x07sig-alg\x03reg\x03int\x00`, `\x0bhmac-sha256\x00`).
pub fn algorithm_wire_name(algorithm: Algorithm) -> Vec<u8> {
    let text = algorithm.wire_name();
    let mut out = Vec::with_capacity(text.len() + 2);
    for label in text.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// The algorithm named by an uncompressed wire name, any letter case.
pub fn algorithm_from_wire(wire: &[u8]) -> Option<Algorithm> {
    Algorithm::ALL
        .into_iter()
        .find(|&a| algorithm_wire_name(a).eq_ignore_ascii_case(wire))
}

/// A TSIG key: name, algorithm and the decoded secret. `Debug` does not
/// print the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    /// Key name in lowercase, uncompressed wire format.
    pub name: Vec<u8>,
    pub algorithm: Algorithm,
    pub secret: Vec<u8>,
}

impl Key {
    /// A key from its presentation name (`xfr-key`, trailing dot optional).
    pub fn new(name: &str, algorithm: Algorithm, secret: &[u8]) -> Result<Key, String> {
        Ok(Key {
            name: name::from_text(name)?,
            algorithm,
            secret: secret.to_vec(),
        })
    }

    /// The key name in presentation format, with the trailing dot.
    pub fn name_text(&self) -> String {
        name::to_text(&self.name)
    }
}

impl TryFrom<&TsigKey> for Key {
    type Error = String;
    fn try_from(k: &TsigKey) -> Result<Key, String> {
        Key::new(&k.name, k.algorithm, &k.secret)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name_text())
            .field("algorithm", &self.algorithm)
            .field("secret", &format_args!("<{} bytes>", self.secret.len()))
            .finish()
    }
}

/// Why a message failed TSIG processing. Key names are in presentation
/// format with the trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsigError {
    /// The message (or its TSIG record) cannot be parsed, or the TSIG
    /// record is misplaced: answer FORMERR, without TSIG.
    #[error("malformed TSIG message: {0}")]
    Malformed(String),
    /// A message that must be signed carries no TSIG record.
    #[error("message is not TSIG-signed")]
    Unsigned,
    /// The key name or algorithm is not the expected one / not known here.
    #[error("TSIG BADKEY from key {key}: {detail}")]
    BadKey { key: String, detail: String },
    /// The MAC does not verify.
    #[error("TSIG BADSIG from key {key}: the MAC does not verify")]
    BadSig { key: String },
    /// The time signed is outside the fudge window around our clock.
    #[error("TSIG BADTIME from key {key}: signed at {signed}, local time {now}, fudge {fudge}s")]
    BadTime {
        key: String,
        signed: u64,
        now: u64,
        fudge: u16,
    },
    /// The MAC is longer than the HMAC or truncated below the RFC 8945
    /// section 5.2.2.1 minimum (FORMERR).
    #[error("TSIG MAC from key {key} is {len} octets, allowed {min}..={max}")]
    MacSize {
        key: String,
        len: usize,
        min: usize,
        max: usize,
    },
    /// A multi-message answer left more than 99 messages in a row unsigned.
    #[error("more than {MAX_UNSIGNED_IN_A_ROW} messages in a row without TSIG (RFC 8945 requires every 100th)")]
    TooManyUnsigned,
    /// A multi-message answer ended with unsigned messages.
    #[error("TSIG stream ended with {count} unsigned message(s) after the last signed one")]
    UnsignedLast { count: usize },
    /// The server rejected our request: its answer carries a TSIG error
    /// (BADSIG, BADKEY, BADTIME, BADTRUNC, ...). `server_time` is the
    /// server's clock from a BADTIME answer.
    #[error("TSIG {} from key {key}: the server rejected our signature{}", code_name(.code), server_time_note(.server_time))]
    Peer {
        key: String,
        code: u16,
        server_time: Option<u64>,
    },
}

impl TsigError {
    /// The value for the TSIG record's Error field: 16 BADSIG, 17 BADKEY,
    /// 18 BADTIME, the peer's code for [`TsigError::Peer`] (22 BADTRUNC,
    /// ...); 0 for failures answered without a TSIG error.
    pub fn rcode(&self) -> u16 {
        match self {
            TsigError::BadSig { .. } => BADSIG,
            TsigError::BadKey { .. } => BADKEY,
            TsigError::BadTime { .. } => BADTIME,
            TsigError::Peer { code, .. } => *code,
            _ => 0,
        }
    }

    /// The message RCODE to answer a failed request with: NOTAUTH for TSIG
    /// errors and unsigned requests, FORMERR for malformed ones.
    pub fn header_rcode(&self) -> u16 {
        match self {
            TsigError::Malformed(_) | TsigError::MacSize { .. } => RCODE_FORMERR,
            _ => RCODE_NOTAUTH,
        }
    }
}

/// Mnemonic of a TSIG error code.
fn code_name(code: &u16) -> String {
    match *code {
        0 => "NOERROR".into(),
        16 => "BADSIG".into(),
        17 => "BADKEY".into(),
        18 => "BADTIME".into(),
        19 => "BADMODE".into(),
        20 => "BADNAME".into(),
        21 => "BADALG".into(),
        22 => "BADTRUNC".into(),
        23 => "BADCOOKIE".into(),
        c => format!("error {c}"),
    }
}

fn server_time_note(t: &Option<u64>) -> String {
    t.map(|t| format!(" (server time {t})")).unwrap_or_default()
}

fn malformed(what: &str) -> TsigError {
    TsigError::Malformed(what.to_string())
}

// ---------------------------------------------------------------------------
// HMAC

enum Hasher {
    Md5(Hmac<md5::Md5>),
    Sha1(Hmac<sha1::Sha1>),
    Sha224(Hmac<sha2::Sha224>),
    Sha256(Hmac<sha2::Sha256>),
    Sha384(Hmac<sha2::Sha384>),
    Sha512(Hmac<sha2::Sha512>),
}

macro_rules! each_hasher {
    ($value:expr, $h:ident => $e:expr) => {
        match $value {
            Hasher::Md5($h) => $e,
            Hasher::Sha1($h) => $e,
            Hasher::Sha224($h) => $e,
            Hasher::Sha256($h) => $e,
            Hasher::Sha384($h) => $e,
            Hasher::Sha512($h) => $e,
        }
    };
}

fn hmac<M: KeyInit>(secret: &[u8]) -> M {
    // HMAC takes keys of any length (longer ones are hashed first).
    M::new_from_slice(secret).expect("HMAC accepts keys of any length") // ok: cannot fail for HMAC
}

impl Hasher {
    fn new(key: &Key) -> Hasher {
        let s = &key.secret;
        match key.algorithm {
            Algorithm::HmacMd5 => Hasher::Md5(hmac(s)),
            Algorithm::HmacSha1 => Hasher::Sha1(hmac(s)),
            Algorithm::HmacSha224 => Hasher::Sha224(hmac(s)),
            Algorithm::HmacSha256 => Hasher::Sha256(hmac(s)),
            Algorithm::HmacSha384 => Hasher::Sha384(hmac(s)),
            Algorithm::HmacSha512 => Hasher::Sha512(hmac(s)),
        }
    }

    fn update(&mut self, data: &[u8]) {
        each_hasher!(self, h => h.update(data))
    }

    fn finalize(self) -> Vec<u8> {
        each_hasher!(self, h => h.finalize().into_bytes().to_vec())
    }

    /// Constant-time comparison of `mac` with the leading octets of the
    /// HMAC (a truncated MAC compares its length only).
    fn verify(self, mac: &[u8]) -> bool {
        each_hasher!(self, h => h.verify_truncated_left(mac).is_ok())
    }

    /// Digests a MAC as "MAC Size + MAC" (request MAC / prior MAC).
    fn mac_field(&mut self, mac: &[u8]) {
        self.update(&(mac.len() as u16).to_be_bytes());
        self.update(mac);
    }

    /// Digests the TSIG variables (RFC 8945 section 4.3.3).
    /// Names are digested in lowercase (label lengths are below `A`, so
    /// lowercasing the whole wire name is safe).
    fn variables(&mut self, key_name: &[u8], algorithm_name: &[u8], v: &Fields<'_>) {
        self.update(&key_name.to_ascii_lowercase());
        self.update(&CLASS_ANY.to_be_bytes());
        self.update(&0u32.to_be_bytes());
        self.update(&algorithm_name.to_ascii_lowercase());
        self.timers(v.time, v.fudge);
        self.update(&v.error.to_be_bytes());
        self.update(&(v.other.len() as u16).to_be_bytes());
        self.update(v.other);
    }

    /// Digests the TSIG timers only (later messages of a multi-message
    /// answer, RFC 8945 section 5.3.1).
    fn timers(&mut self, time: u64, fudge: u16) {
        self.update(&u48(time));
        self.update(&fudge.to_be_bytes());
    }

    /// Digests a signed message as it was before signing: without its TSIG
    /// record, ARCOUNT decremented and the original ID restored.
    fn signed_message(&mut self, msg: &[u8], t: &Tsig<'_>) {
        let mut header = t.header;
        header[0..2].copy_from_slice(&t.original_id.to_be_bytes());
        let arcount = u16::from_be_bytes([header[10], header[11]]).saturating_sub(1);
        header[10..12].copy_from_slice(&arcount.to_be_bytes());
        self.update(&header);
        self.update(msg.get(HEADER_LEN..t.start).unwrap_or_default());
    }
}

fn u48(t: u64) -> [u8; 6] {
    let b = t.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

// ---------------------------------------------------------------------------
// Checks shared by requests and responses

fn check_mac_size(algorithm: Algorithm, t: &Tsig<'_>) -> Result<(), TsigError> {
    let max = algorithm.mac_len();
    let min = (max / 2).max(10);
    if t.mac.len() > max || t.mac.len() < min {
        return Err(TsigError::MacSize {
            key: t.key_text(),
            len: t.mac.len(),
            min,
            max,
        });
    }
    Ok(())
}

fn check_time(t: &Tsig<'_>, now: u64) -> Result<(), TsigError> {
    if now.abs_diff(t.time) > u64::from(t.fudge) {
        return Err(TsigError::BadTime {
            key: t.key_text(),
            signed: t.time,
            now,
            fudge: t.fudge,
        });
    }
    Ok(())
}

fn algorithm_text(wire: &[u8]) -> String {
    name::to_text(wire)
}

// ---------------------------------------------------------------------------
// Writing

/// Appends a TSIG record and increments ARCOUNT.
fn append_tsig(
    msg: &mut Vec<u8>,
    key_name: &[u8],
    algorithm_name: &[u8],
    mac: &[u8],
    original_id: u16,
    v: &Fields<'_>,
) {
    if let Some(ar) = msg.get_mut(10..12) {
        let n = u16::from_be_bytes([ar[0], ar[1]]).saturating_add(1);
        ar.copy_from_slice(&n.to_be_bytes());
    }
    let rdlen = algorithm_name.len() + 16 + mac.len() + v.other.len();
    msg.extend_from_slice(key_name);
    msg.extend_from_slice(&TYPE_TSIG.to_be_bytes());
    msg.extend_from_slice(&CLASS_ANY.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    msg.extend_from_slice(&(rdlen as u16).to_be_bytes());
    msg.extend_from_slice(algorithm_name);
    msg.extend_from_slice(&u48(v.time));
    msg.extend_from_slice(&v.fudge.to_be_bytes());
    msg.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    msg.extend_from_slice(mac);
    msg.extend_from_slice(&original_id.to_be_bytes());
    msg.extend_from_slice(&v.error.to_be_bytes());
    msg.extend_from_slice(&(v.other.len() as u16).to_be_bytes());
    msg.extend_from_slice(v.other);
}

fn message_id(msg: &[u8]) -> u16 {
    match msg.get(..2) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

/// Signs `msg` (a complete message without TSIG) with `key`: `prior` is the
/// request MAC for a response, `None` for a request. Returns the MAC.
fn sign_one(msg: &mut Vec<u8>, key: &Key, prior: Option<&[u8]>, v: &Fields<'_>) -> Vec<u8> {
    let algorithm_name = algorithm_wire_name(key.algorithm);
    let mut h = Hasher::new(key);
    if let Some(prior) = prior {
        h.mac_field(prior);
    }
    h.update(msg);
    h.variables(&key.name, &algorithm_name, v);
    let mac = h.finalize();
    let id = message_id(msg);
    append_tsig(msg, &key.name, &algorithm_name, &mac, id, v);
    mac
}

/// Signs a request (SOA/AXFR/IXFR query, NOTIFY): appends a TSIG record
/// (class ANY, TTL 0, original ID = the message ID, no error, no other
/// data) and increments ARCOUNT. `msg` must be a complete message without
/// TSIG. Returns the request MAC, needed to verify the response.
pub fn sign_request(msg: &mut Vec<u8>, key: &Key, now: u64, fudge: u16) -> Vec<u8> {
    let v = Fields {
        time: now,
        fudge,
        error: 0,
        other: &[],
    };
    sign_one(msg, key, None, &v)
}

/// Signs a single-message response to a request that verified with
/// `request_mac` ([`RequestTsig::mac`]). Returns the response MAC.
pub fn sign_response(resp: &mut Vec<u8>, key: &Key, request_mac: &[u8], now: u64, fudge: u16) -> Vec<u8> {
    let v = Fields {
        time: now,
        fudge,
        error: 0,
        other: &[],
    };
    sign_one(resp, key, Some(request_mac), &v)
}

// ---------------------------------------------------------------------------
// Requests we receive (NOTIFY)

/// A request whose TSIG verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTsig {
    /// Lowercase wire name of the key that signed it.
    pub key_name: Vec<u8>,
    pub algorithm: Algorithm,
    /// The request MAC: pass it to [`sign_response`].
    pub mac: Vec<u8>,
    pub time_signed: u64,
    pub fudge: u16,
    pub original_id: u16,
}

/// Verifies a signed request (RFC 8945 section 5.2): the key (looked up by
/// its lowercase wire name through `keys`) and algorithm must be known
/// (else BADKEY), the MAC size allowed (else FORMERR, [`TsigError::MacSize`]),
/// the MAC must verify (else BADSIG) and the time signed be within the
/// fudge of `now` (else BADTIME). A request without TSIG gives
/// [`TsigError::Unsigned`].
///
/// Answer a failure with [`error_response_tsig`] (TSIG errors) or a plain
/// [`TsigError::header_rcode`] answer; answer a success signed with
/// [`sign_response`].
pub fn verify_request<'k>(
    msg: &[u8],
    keys: &dyn Fn(&[u8]) -> Option<&'k Key>,
    now: u64,
) -> Result<RequestTsig, TsigError> {
    let t = find_tsig(msg)?.ok_or(TsigError::Unsigned)?;
    let algorithm = algorithm_from_wire(&t.algorithm_name);
    let key = match (keys(&t.key_name), algorithm) {
        (Some(k), Some(a)) if k.algorithm == a => k,
        (Some(k), _) => {
            return Err(TsigError::BadKey {
                key: t.key_text(),
                detail: format!(
                    "algorithm {} does not match the key's {}",
                    algorithm_text(&t.algorithm_name),
                    k.algorithm
                ),
            });
        }
        (None, _) => {
            return Err(TsigError::BadKey {
                key: t.key_text(),
                detail: "no such key here".into(),
            });
        }
    };
    check_mac_size(key.algorithm, &t)?;
    let mut h = Hasher::new(key);
    h.signed_message(msg, &t);
    h.variables(&t.key_name, &t.algorithm_name, &t.fields());
    if !h.verify(t.mac) {
        return Err(TsigError::BadSig { key: t.key_text() });
    }
    check_time(&t, now)?;
    Ok(RequestTsig {
        key_name: t.key_name,
        algorithm: key.algorithm,
        mac: t.mac.to_vec(),
        time_signed: t.time,
        fudge: t.fudge,
        original_id: t.original_id,
    })
}

/// Completes the answer `resp` to a `request` that failed [`verify_request`]
/// with `error`: sets RCODE NOTAUTH and appends a TSIG record carrying the
/// error code (RFC 8945 section 5.2). BADKEY, BADSIG and BADTRUNC answers
/// are unsigned (MAC size 0, key and algorithm names echoed); a BADTIME
/// answer is signed with the request's key and MAC, keeps the request's
/// time signed and carries `now` in Other Data (section 5.2.3).
///
/// Returns false, and leaves `resp` alone, when `error` has no TSIG error
/// code (malformed or unsigned request: answer [`TsigError::header_rcode`]
/// without TSIG) or the request has no parsable TSIG record.
pub fn error_response_tsig<'k>(
    resp: &mut Vec<u8>,
    request: &[u8],
    error: &TsigError,
    keys: &dyn Fn(&[u8]) -> Option<&'k Key>,
    now: u64,
) -> bool {
    let code = match error {
        TsigError::BadKey { .. } | TsigError::BadSig { .. } | TsigError::BadTime { .. } => error.rcode(),
        _ => return false,
    };
    let Ok(Some(t)) = find_tsig(request) else {
        return false;
    };
    if resp.len() < HEADER_LEN {
        return false;
    }
    resp[3] = (resp[3] & 0xf0) | RCODE_NOTAUTH as u8;
    if code == BADTIME {
        let key = keys(&t.key_name).filter(|k| algorithm_from_wire(&t.algorithm_name) == Some(k.algorithm));
        if let Some(key) = key {
            let server_time = u48(now);
            let v = Fields {
                time: t.time,
                fudge: t.fudge,
                error: BADTIME,
                other: &server_time,
            };
            let algorithm_name = algorithm_wire_name(key.algorithm);
            let mut h = Hasher::new(key);
            h.mac_field(t.mac);
            h.update(resp);
            h.variables(&key.name, &algorithm_name, &v);
            let mac = h.finalize();
            let id = message_id(resp);
            append_tsig(resp, &key.name, &algorithm_name, &mac, id, &v);
            return true;
        }
    }
    let v = Fields {
        time: now,
        fudge: t.fudge,
        error: code,
        other: &[],
    };
    let id = message_id(resp);
    append_tsig(resp, &t.key_name, &t.algorithm_name, &[], id, &v);
    true
}

mod parse;
mod stream;

use parse::*;
pub use stream::{ResponseSigner, ResponseVerifier, Verified};

#[cfg(test)]
mod tests;

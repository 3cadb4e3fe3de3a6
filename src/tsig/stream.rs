//! TSIG over multi-message streams: verifying the answers we receive (SOA,
//! AXFR, IXFR; up to 99 unsigned messages in a row, RFC 8945 section
//! 5.3.1) and signing the multi-message answers we send.

use super::*;

// ---------------------------------------------------------------------------
// Responses we receive (SOA, AXFR, IXFR)

/// What [`ResponseVerifier::verify`] found in one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The message carried a TSIG that verified.
    Signed,
    /// An unsigned message of a multi-message answer; it is covered by the
    /// next signed one.
    Unsigned,
}

/// Verifies the answer to a request signed with [`sign_request`]: call
/// [`verify`](Self::verify) for every message in the order received, then
/// [`finish`](Self::finish) after the last one.
///
/// The first message must be signed; its MAC covers the request MAC, the
/// message and the TSIG variables. Later messages may be unsigned, at most
/// 99 in a row; each signed one's MAC covers the prior MAC, every message
/// since it, and the TSIG timers (RFC 8945 section 5.3.1). After a failure
/// every later call fails with the same error.
pub struct ResponseVerifier {
    key: Key,
    /// Running digest: prior MAC plus the unsigned messages since it.
    hasher: Hasher,
    signed_any: bool,
    unsigned: usize,
    failed: Option<TsigError>,
}

impl ResponseVerifier {
    /// A verifier for the answer to a request signed by `key` whose MAC
    /// (returned by [`sign_request`]) is `request_mac`.
    pub fn new(key: &Key, request_mac: &[u8]) -> ResponseVerifier {
        let mut hasher = Hasher::new(key);
        hasher.mac_field(request_mac);
        ResponseVerifier {
            key: key.clone(),
            hasher,
            signed_any: false,
            unsigned: 0,
            failed: None,
        }
    }

    /// Checks the next message of the answer.
    ///
    /// Errors: [`TsigError::Unsigned`] (first message unsigned),
    /// [`TsigError::TooManyUnsigned`], [`TsigError::Peer`] (the server
    /// answered with a TSIG error such as BADSIG/BADKEY/BADTIME),
    /// [`TsigError::BadKey`] (signed with another key), `MacSize`, `BadSig`,
    /// `BadTime`, `Malformed`.
    pub fn verify(&mut self, msg: &[u8], now: u64) -> Result<Verified, TsigError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.verify_message(msg, now);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn verify_message(&mut self, msg: &[u8], now: u64) -> Result<Verified, TsigError> {
        let Some(t) = find_tsig(msg)? else {
            if !self.signed_any {
                return Err(TsigError::Unsigned);
            }
            if self.unsigned >= MAX_UNSIGNED_IN_A_ROW {
                return Err(TsigError::TooManyUnsigned);
            }
            self.hasher.update(msg);
            self.unsigned += 1;
            return Ok(Verified::Unsigned);
        };
        let peer_error = || TsigError::Peer {
            key: t.key_text(),
            code: t.error,
            server_time: t.other_time(),
        };
        if t.error != 0 && t.mac.is_empty() {
            // An unsigned error answer (BADKEY, BADSIG): nothing to verify.
            return Err(peer_error());
        }
        if !t.key_name.eq_ignore_ascii_case(&self.key.name)
            || algorithm_from_wire(&t.algorithm_name) != Some(self.key.algorithm)
        {
            return Err(TsigError::BadKey {
                key: t.key_text(),
                detail: format!(
                    "answer signed with algorithm {}, expected key {} ({})",
                    algorithm_text(&t.algorithm_name),
                    self.key.name_text(),
                    self.key.algorithm
                ),
            });
        }
        check_mac_size(self.key.algorithm, &t)?;
        let mut h = std::mem::replace(&mut self.hasher, Hasher::new(&self.key));
        h.signed_message(msg, &t);
        if self.signed_any {
            h.timers(t.time, t.fudge);
        } else {
            h.variables(&t.key_name, &t.algorithm_name, &t.fields());
        }
        if !h.verify(t.mac) {
            return Err(TsigError::BadSig { key: t.key_text() });
        }
        if t.error != 0 {
            // A signed error answer (BADTIME): its time signed is our own.
            return Err(peer_error());
        }
        check_time(&t, now)?;
        self.hasher.mac_field(t.mac);
        self.signed_any = true;
        self.unsigned = 0;
        Ok(Verified::Signed)
    }

    /// After the last message: fails if no message was signed, if the
    /// answer ended with unsigned messages, or if a message failed.
    pub fn finish(&self) -> Result<(), TsigError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if !self.signed_any {
            return Err(TsigError::Unsigned);
        }
        if self.unsigned > 0 {
            return Err(TsigError::UnsignedLast { count: self.unsigned });
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Multi-message answers we send (transfers out)

/// Signs the messages of a multi-message answer (RFC 8945 section 5.3.1),
/// the counterpart of [`ResponseVerifier`]: [`sign`](Self::sign) the first
/// message, the last one and at least every 100th ([`must_sign`](Self::must_sign));
/// send the others unsigned after passing them to [`skip`](Self::skip).
pub struct ResponseSigner {
    key: Key,
    hasher: Hasher,
    signed_any: bool,
    unsigned: usize,
}

impl ResponseSigner {
    /// A signer for the answer to a request that verified with `request_mac`.
    pub fn new(key: &Key, request_mac: &[u8]) -> ResponseSigner {
        let mut hasher = Hasher::new(key);
        hasher.mac_field(request_mac);
        ResponseSigner {
            key: key.clone(),
            hasher,
            signed_any: false,
            unsigned: 0,
        }
    }

    /// True if the next message must be signed (the first one, or after
    /// 99 unsigned ones). The last message of an answer must be signed too.
    pub fn must_sign(&self) -> bool {
        !self.signed_any || self.unsigned >= MAX_UNSIGNED_IN_A_ROW
    }

    /// Signs the next message (complete, without TSIG). Returns its MAC.
    pub fn sign(&mut self, msg: &mut Vec<u8>, now: u64, fudge: u16) -> Vec<u8> {
        let v = Fields {
            time: now,
            fudge,
            error: 0,
            other: &[],
        };
        let algorithm_name = algorithm_wire_name(self.key.algorithm);
        let mut h = std::mem::replace(&mut self.hasher, Hasher::new(&self.key));
        h.update(msg);
        if self.signed_any {
            h.timers(now, fudge);
        } else {
            h.variables(&self.key.name, &algorithm_name, &v);
        }
        let mac = h.finalize();
        let id = message_id(msg);
        append_tsig(msg, &self.key.name, &algorithm_name, &mac, id, &v);
        self.hasher.mac_field(&mac);
        self.signed_any = true;
        self.unsigned = 0;
        mac
    }

    /// Records the next message, sent unsigned.
    pub fn skip(&mut self, msg: &[u8]) {
        self.hasher.update(msg);
        self.unsigned += 1;
    }
}

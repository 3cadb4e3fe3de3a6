//! TSIG (RFC 8945) — placeholder while the module is being written.

//! Request parsing: `query::parse` never panics; a parsed query's
//! lowercased name has the length of its name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos::dns::query;

fuzz_target!(|data: &[u8]| {
    if let Ok(q) = query::parse(data) {
        assert_eq!(q.lower().len(), q.qname.len());
        assert!(q.qname.len() <= 255);
        assert!(q.lower().eq_ignore_ascii_case(q.qname));
    }
});

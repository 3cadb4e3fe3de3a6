//! The IXFR history of a zone, as the primary side reads it: the
//! differences that lead from an older serial to the version served, kept
//! on disk beside the zone (the journal, `super::journal`, bounded by
//! `ixfr-history-depth` and `ixfr-history-bytes`).
//!
//! SCAFFOLD (issue 11): the interface the transfers out code against; the
//! history itself is being built (journal kept past snapshots, diffs of
//! AXFR-in and file reloads). Until then no history is ever found and every
//! IXFR out is answered with the whole zone.

use std::io;
use std::path::Path;

use super::journal::Entry;

/// The differences that lead from serial `from` to serial `to` of the zone
/// `apex` (lowercase wire name) whose files live in `dir` (the zones
/// directory of the data dir), oldest first, each entry's `to` the next
/// one's `from`, the last one's `to` equal to `to`.
///
/// `Ok(None)`: the history does not hold that chain (`from` is older than
/// the history, unknown, or from another history; no history at all): the
/// caller sends the whole zone. Cheap when the answer is `None` or a short
/// chain: it reads entry headers, not the whole file. Blocking (file I/O):
/// call it off the reactor.
pub fn changes(dir: &Path, apex: &[u8], from: u32, to: u32) -> io::Result<Option<Vec<Entry>>> {
    let _ = (dir, apex, from, to);
    Ok(None)
}

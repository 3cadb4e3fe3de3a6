//! The threads transfers out are streamed on: a small tokio runtime of its
//! own whose threads run at a lower CPU priority (nice +10) than the rest
//! of the node. Encoding a million-record zone for ten secondaries at once
//! is real work; on a two-core node it must yield the CPU to the UDP
//! workers and the TCP query tasks, so that the queries a node answers are
//! not slowed by the transfers it feeds. The sockets stay registered with
//! the main runtime's reactor; only the encoding and the writes run here.

use std::io;

/// Niceness of the transfer threads: under contention the scheduler gives
/// them about a tenth of the share of a normal thread.
const NICE: libc::c_int = 10;

/// Builds the runtime with `threads` worker threads (at least 1).
pub fn build(threads: usize) -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .max_blocking_threads(threads.max(1) * 2)
        .enable_all()
        .thread_name("pharos-xfr-out")
        .on_thread_start(lower_priority)
        .build()
}

/// Lowers the calling thread's priority (Linux: `setpriority` on a thread
/// id applies to that thread only). Best effort: a failure leaves the
/// thread at normal priority, which is only slower for queries.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take plain integers and touch no memory.
    unsafe {
        let tid = libc::gettid();
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICE);
    }
}

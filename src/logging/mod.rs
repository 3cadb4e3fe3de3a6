//! Logging: the process's one log writer, and [`summary`], which turns
//! events that can come once per packet into a line per source, reason and
//! interval.
//!
//! Lines are formatted by `tracing-subscriber` (filter from `PHAROS_LOG`,
//! default `info`; colours only on a terminal) and handed to a bounded
//! buffer of [`BUFFERED_LINES`] lines that one `log-writer` thread writes
//! to stderr (`tracing-appender`'s non-blocking writer, kept behind this
//! module). A caller never waits for stderr: when stderr (a pipe, journald)
//! stalls and the buffer is full, new lines are dropped and counted
//! ([`dropped_lines`], exported as `pharos_log_lines_dropped_total`). The
//! [`LogGuard`] that [`init`] returns is kept until the process ends;
//! dropping it writes the summaries' last counts and what is still
//! buffered, waiting at most [`EXIT_FLUSH`] for a stalled stderr.
//!
//! Below every other module: `dns`, `axfr` and `mgmt` use it, it uses none
//! of them.

pub mod summary;

use std::sync::OnceLock;
use std::time::Duration;

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};

/// Lines held for a slow stderr before new ones are dropped (about 5 MB
/// of typical lines; start-up with 10,000 zones logs one line per zone).
pub const BUFFERED_LINES: usize = 32_768;
/// The longest the exit waits for buffered lines to reach stderr.
pub const EXIT_FLUSH: Duration = Duration::from_secs(2);

static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Keeps the log writer running; dropping it flushes (see the module doc).
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    worker: Option<WorkerGuard>,
}

/// Installs the log subscriber of `pharos serve`, writing to stderr through
/// the non-blocking writer.
pub fn init() -> LogGuard {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("PHAROS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, worker) = non_blocking(std::io::stderr());
    let _ = DROPPED.set(writer.error_counter());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer)
        .try_init();
    LogGuard { worker: Some(worker) }
}

/// The bounded, lossy writer in front of `out`, and its writer thread.
fn non_blocking<W: std::io::Write + Send + 'static>(out: W) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LINES)
        .lossy(true)
        .thread_name("log-writer")
        .finish(out)
}

/// Log lines dropped because stderr could not keep up (0 before [`init`]).
pub fn dropped_lines() -> u64 {
    DROPPED.get().map_or(0, |c| c.dropped_lines() as u64)
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        summary::flush_all();
        let Some(worker) = self.worker.take() else { return };
        // The writer's own shutdown waits for the buffer to drain (and may
        // print to stdout when it cannot): give it EXIT_FLUSH on a thread
        // of its own, then let the process end either way.
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new().name("log-flush".into()).spawn(move || {
            drop(worker);
            let _ = done_tx.send(());
        });
        if spawned.is_ok() {
            let _ = done_rx.recv_timeout(EXIT_FLUSH);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A stderr nobody reads: every write waits until the test lets go.
    struct Stalled(mpsc::Receiver<()>);

    impl std::io::Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.recv();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_stderr_drops_and_counts_lines_and_never_blocks_the_caller() {
        let (release, stalled) = mpsc::channel::<()>();
        let (writer, guard) = non_blocking(Stalled(stalled));
        let dropped = writer.error_counter();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(writer).finish();
        const N: usize = BUFFERED_LINES + 10_000;
        // Returns although the writer thread is stuck in its first write.
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..N {
                tracing::warn!("line {i}");
            }
        });
        // The buffer holds BUFFERED_LINES; the writer thread holds the
        // line it is stuck on, if it took one before the buffer filled.
        let n = dropped.dropped_lines();
        assert!(
            (N - BUFFERED_LINES - 1..=N - BUFFERED_LINES).contains(&n),
            "{n} lines dropped of {N}"
        );
        drop(release);
        drop(guard);
    }
}

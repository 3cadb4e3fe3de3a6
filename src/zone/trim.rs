//! Gives the memory that replaced zone versions freed back to the system.
//!
//! glibc keeps freed heap memory for later allocations and returns only the
//! top of the heap on its own: after a node took 10,000 zones from its hub
//! (transfer buffers, the catalog's parse, the versions replaced), pages
//! that no live object uses stay resident. Once the zone store has been
//! quiet for [`SETTLE`] after a change (or changes have gone on for
//! [`MAX_DELAY`]), `malloc_trim(0)` hands those pages back (Knot trims after
//! zone updates too). On other C libraries it does nothing.
//!
//! The query path is not involved: the trim runs on the blocking pool.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Quiet time after the last store change before a trim.
pub const SETTLE: Duration = Duration::from_secs(1);
/// A store that keeps changing is trimmed at least this often.
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// Trims done so far (all stores of the process).
static TRIMS: AtomicU64 = AtomicU64::new(0);

/// Trims done so far by [`after_changes`] (for the tests).
#[cfg(test)]
fn count() -> u64 {
    TRIMS.load(Ordering::Relaxed)
}

/// Trims after each burst of changes of the store behind `changes`
/// ([`super::store::Store::subscribe`]); ends when the store is gone.
pub async fn after_changes(mut changes: watch::Receiver<u64>) {
    loop {
        if changes.changed().await.is_err() {
            return;
        }
        let first = Instant::now();
        loop {
            let wait = SETTLE.min(MAX_DELAY.saturating_sub(first.elapsed()));
            match tokio::time::timeout(wait, changes.changed()).await {
                Ok(Ok(())) if first.elapsed() < MAX_DELAY => continue,
                Ok(Ok(())) | Err(_) => break,
                Ok(Err(_)) => return,
            }
        }
        let _ = tokio::task::spawn_blocking(trim).await;
    }
}

fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes an integer and only releases free pages.
    unsafe {
        libc::malloc_trim(0);
    }
    TRIMS.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::store::Store;

    /// A burst of changes is followed by a trim; the task ends with the
    /// store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_trim_follows_changes_and_the_task_ends_with_the_store() {
        let store = Store::default();
        let task = tokio::spawn(after_changes(store.subscribe()));
        let before = count();
        for _ in 0..5 {
            store.update(|s| s.clone());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while count() == before {
            assert!(std::time::Instant::now() < deadline, "no trim after the burst");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(store);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap_or_else(|e| panic!("the task outlived its store: {e}"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

//! Group commit of zone snapshots: many new versions written at once (a
//! thousand zones added in one step, a node's first start) share their
//! fsyncs instead of running one fsync chain each (1,000 new zones: 3,000
//! fsyncs before, about 1,500 now: each file's own, run concurrently, and
//! one directory fsync per round instead of one per zone and a timers
//! file each).
//!
//! A writer encodes its snapshot into a temporary file
//! ([`persist::write_unsynced`]) and hands it to [`Group::commit`], which
//! fsyncs it (writers do that at the same time, and the file system
//! commits their fsyncs together) and queues it. Whoever then finds no
//! round under way leads one: it takes every file queued so far, renames
//! each over its snapshot, fsyncs each directory once (one journal commit
//! for all the renames, where each zone used to wait for its own), tells
//! every writer how its file went, and steps down; a writer whose file
//! came too late for that round leads the next. The others wait.
//!
//! The invariant of [`super::version`] holds for each file: it is renamed
//! only once its data is on disk, and reported written only once the
//! rename is (its directory synced), so a version is served only once it
//! is on disk and `kill -9` at any moment leaves either the old snapshot or
//! the new one, whole.
//!
//! Everything here blocks: call it from the blocking pool.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

use crate::zone::persist::{self, Unsynced};

/// A writer's file's outcome, once its round ran.
#[derive(Default)]
struct Slot {
    result: Mutex<Option<io::Result<()>>>,
}

struct Pending {
    file: Unsynced,
    dir: PathBuf,
    slot: Arc<Slot>,
}

#[derive(Default)]
struct State {
    pending: Vec<Pending>,
    /// A writer is running a round: the files handed in now go with the
    /// next one.
    leading: bool,
}

/// How many commits ran and how many files they held (for the log and
/// tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rounds {
    pub commits: u64,
    pub files: u64,
}

/// The group commit of one engine's data dir (cheap to clone).
#[derive(Clone, Default)]
pub struct Group {
    state: Arc<Mutex<State>>,
    /// Signalled when a round ends (with `state`).
    done: Arc<Condvar>,
    rounds: Arc<Mutex<Rounds>>,
}

impl Group {
    /// Makes `file` the snapshot at `file.path`, durably, together with the
    /// other files handed in at the same time. Ok once it is on disk; on an
    /// error the old snapshot (if any) is in place and the temporary file
    /// removed (or, if only the directory sync failed, the new one may be
    /// in place but is not reported written).
    pub fn commit(&self, dir: PathBuf, file: Unsynced) -> io::Result<()> {
        // Each writer syncs its own file, at the same time as the others:
        // the file system's journal commits concurrent fsyncs together,
        // where one thread's fsyncs in a row would each wait for a commit.
        if let Err(e) = file.file.sync_all() {
            let _ = std::fs::remove_file(&file.tmp);
            return Err(io::Error::new(e.kind(), format!("{}: {e}", file.tmp.display())));
        }
        let slot = Arc::new(Slot::default());
        let mut state = self.lock();
        state.pending.push(Pending {
            file,
            dir,
            slot: slot.clone(),
        });
        // Wait until this file's round has run, leading a round whenever
        // none is under way. A leader runs one round and steps down, so
        // that no writer serves the others for long.
        loop {
            if let Some(r) = slot.result.lock().unwrap_or_else(|e| e.into_inner()).take() {
                return r;
            }
            if !state.leading {
                state.leading = true;
                let batch = std::mem::take(&mut state.pending);
                drop(state);
                self.run(batch);
                state = self.lock();
                state.leading = false;
                self.done.notify_all();
                continue;
            }
            state = self.done.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The commits so far.
    pub fn rounds(&self) -> Rounds {
        *self.rounds.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One round: rename every (synced) file, sync their directories,
    /// report.
    fn run(&self, batch: Vec<Pending>) {
        {
            let mut r = self.rounds.lock().unwrap_or_else(|e| e.into_inner());
            r.commits += 1;
            r.files += batch.len() as u64;
        }
        let mut outcomes: Vec<(Arc<Slot>, io::Result<PathBuf>)> = Vec::with_capacity(batch.len());
        for p in batch {
            let Pending { file, dir, slot } = p;
            let r = std::fs::rename(&file.tmp, &file.path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.path.display())));
            if r.is_err() {
                let _ = std::fs::remove_file(&file.tmp);
            }
            outcomes.push((slot, r.map(|()| dir)));
        }
        let mut dirs: HashMap<PathBuf, io::Result<()>> = HashMap::new();
        for (_, r) in &outcomes {
            if let Ok(dir) = r
                && !dirs.contains_key(dir)
            {
                let synced = persist::sync_dir(dir)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: directory sync: {e}", dir.display())));
                dirs.insert(dir.clone(), synced);
            }
        }
        for (slot, r) in outcomes {
            let r = r.and_then(|dir| match dirs.get(&dir) {
                Some(Err(e)) => Err(io::Error::new(e.kind(), e.to_string())),
                _ => Ok(()),
            });
            *slot.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::file::load_zone_text;
    use crate::zone::persist::{ZoneMeta, read_zone};
    use crate::zone::{Zone, name};

    fn zone(apex: &str, serial: u32) -> Zone {
        let text = format!("$ORIGIN {apex}.\n@ 300 SOA ns host {serial} 1 1 1 1\n@ 300 NS ns\nns 300 A 192.0.2.1\n");
        load_zone_text(apex, &text)
            .unwrap_or_else(|e| panic!("{}", e.summary()))
            .zone
    }

    fn meta() -> ZoneMeta {
        ZoneMeta {
            expire_at_unix: Some(1_800_000_000),
            source: "axfr".into(),
            ..ZoneMeta::default()
        }
    }

    #[test]
    fn many_writers_share_commits_and_every_file_is_there() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let group = Group::default();
        let threads: Vec<_> = (0..32)
            .map(|i| {
                let group = group.clone();
                let dir = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let z = zone(&format!("z{i}.test"), 7);
                    let f = persist::write_unsynced(&dir, &z, &meta())?;
                    group.commit(dir, f)
                })
            })
            .collect();
        for t in threads {
            t.join()
                .unwrap_or_else(|_| panic!("writer panicked"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let rounds = group.rounds();
        assert_eq!(rounds.files, 32);
        assert!(rounds.commits >= 1 && rounds.commits <= 32, "{rounds:?}");
        for i in 0..32 {
            let apex = name::from_text(&format!("z{i}.test")).unwrap_or_else(|e| panic!("{e}"));
            let path = dir.path().join(persist::file_name(&apex));
            let (z, _) = read_zone(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(z.info.serial, 7);
            let head = persist::snapshot_meta(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(head, Some((meta(), 7)), "the header's timers and serial");
        }
        let temps = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            })
            .count();
        assert_eq!(temps, 0, "temporary files left");
    }

    #[test]
    fn a_failed_rename_is_reported_to_its_writer_only() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let group = Group::default();
        let z = zone("a.test", 1);
        let f = persist::write_unsynced(dir.path(), &z, &ZoneMeta::default()).unwrap_or_else(|e| panic!("{e}"));
        // A snapshot path that cannot be renamed onto: a directory.
        std::fs::create_dir(&f.path).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(f.path.join("x"), b"x").unwrap_or_else(|e| panic!("{e}"));
        assert!(group.commit(dir.path().to_path_buf(), f).is_err());
        let g = persist::write_unsynced(dir.path(), &zone("b.test", 1), &ZoneMeta::default())
            .unwrap_or_else(|e| panic!("{e}"));
        group
            .commit(dir.path().to_path_buf(), g)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

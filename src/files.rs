//! Bounded reads of the files the node is pointed at: the config file, zone
//! files and their `$INCLUDE`s, the token file, and its own files under the
//! data dir (snapshots, journals, timers, the list of API zones).
//!
//! A path can name anything: `/dev/zero` would be read until memory runs
//! out, a FIFO would block the reader (at `open`, before any read) until
//! someone writes to it. So every such file is opened with `O_NONBLOCK`
//! (a FIFO cannot block the open), checked with `fstat` on the opened file
//! (no race with a rename in between) to be a regular file no larger than
//! its limit, and read through `take(limit + 1)` (a file that grows while
//! it is read is refused too). Errors say what is wrong without the path;
//! callers name the path and the key or zone.
//!
//! A leaf module: it depends on nothing in the crate.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The config file.
pub const CONFIG_MAX: u64 = 16 << 20;
/// A zone file with all its `$INCLUDE`s together.
pub const ZONE_FILE_MAX: u64 = 1 << 30;
/// The bearer token file of the management API.
pub const TOKEN_MAX: u64 = 4 << 10;
/// A zone snapshot or its journal in the data dir: more than any version a
/// transfer within `max-zone-bytes` can give; a larger file is corrupt.
pub const SNAPSHOT_MAX: u64 = 4 << 30;
/// Small files of the node's own under the data dir (timers, the list of
/// zones added through the API).
pub const STATE_MAX: u64 = 16 << 20;

/// Opens `path` for reading without blocking on a FIFO and checks that it
/// is a regular file of at most `limit` bytes; returns it with its length.
pub fn open_regular(path: &Path, limit: u64) -> io::Result<(File, u64)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    let what = if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        Some("a special file")
    };
    if let Some(what) = what {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("is {what}, not a regular file"),
        ));
    }
    if meta.len() > limit {
        return Err(too_big(meta.len(), limit));
    }
    Ok((file, meta.len()))
}

/// The whole of `path`, a regular file of at most `limit` bytes.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let (file, len) = open_regular(path, limit)?;
    let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(too_big(data.len() as u64, limit));
    }
    Ok(data)
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("is not UTF-8 text: {e}")))
}

fn too_big(len: u64, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("is {} or more, larger than the limit of {}", size(len), size(limit)),
    )
}

/// `1073741824` as "1 GiB", `5000` as "5000 bytes".
pub fn size(n: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if n >= 1 << shift {
            let whole = n >> shift;
            return if whole << shift == n {
                format!("{whole} {unit}")
            } else {
                format!("{:.1} {unit}", n as f64 / (1u64 << shift) as f64)
            };
        }
    }
    format!("{n} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn err(r: io::Result<Vec<u8>>) -> String {
        match r {
            Ok(d) => panic!("read {} bytes, expected an error", d.len()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(read(&p, 5).unwrap(), b"hello");
        assert_eq!(read_to_string(&p, 100).unwrap(), "hello");
        assert!(err(read(&p, 4)).contains("larger than the limit of 4 bytes"));
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(read_to_string(&p, 100).unwrap_err().to_string().contains("UTF-8"));
        let missing = read(&dir.path().join("nothere"), 10).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        assert!(err(read(Path::new("/dev/zero"), 1 << 30)).contains("character device"));
        assert!(err(read(dir.path(), 1 << 30)).contains("directory"));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
        // SAFETY: mkfifo(3) with a NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let started = Instant::now();
        assert!(err(read(&fifo, 1 << 30)).contains("FIFO"));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(4096), "4 KiB");
        assert_eq!(size(1 << 30), "1 GiB");
        assert_eq!(size(16 << 20), "16 MiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(100), "100 bytes");
    }
}

//! Where things are in the repository ([`repo_root`], the dnsdiff zones)
//! and [`Zone`], a zone served from a file.

use std::fs;
use std::path::{Path, PathBuf};

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/dnsdiff` in the repository.
pub fn dnsdiff_dir() -> PathBuf {
    repo_root().join("tests/dnsdiff")
}

/// Every `tests/dnsdiff/zones/*.zone` as (origin, absolute path), sorted.
pub fn dnsdiff_zones() -> Vec<Zone> {
    zones_in(&dnsdiff_dir().join("zones"))
}

/// Every `DIR/*.zone` as a [`Zone`] (origin = file name without `.zone`), sorted.
pub fn zones_in(dir: &Path) -> Vec<Zone> {
    let mut zones: Vec<Zone> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read zone dir {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "zone"))
        .map(|p| Zone::new(p.file_stem().unwrap().to_str().unwrap(), &p))
        .collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!zones.is_empty(), "no *.zone files in {}", dir.display());
    zones
}

/// A zone served from a file.
#[derive(Clone, Debug)]
pub struct Zone {
    pub name: String,
    pub file: PathBuf,
}

impl Zone {
    pub fn new(name: &str, file: &Path) -> Zone {
        let file = if file.is_absolute() {
            file.to_path_buf()
        } else {
            repo_root().join(file)
        };
        assert!(file.is_file(), "zone file {} does not exist", file.display());
        Zone {
            name: name.trim_end_matches('.').to_string(),
            file,
        }
    }

    /// True if the zone file carries the dnsdiff marker `; dnsdiff: allow-axfr`.
    pub fn allows_axfr(&self) -> bool {
        fs::read_to_string(&self.file)
            .map(|t| {
                t.lines().any(|l| {
                    let l = l.trim_start_matches(';').trim();
                    l.starts_with("dnsdiff:") && l.contains("allow-axfr")
                })
            })
            .unwrap_or(false)
    }
}

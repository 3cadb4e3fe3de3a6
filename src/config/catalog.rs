//! The runtime form of the catalog keys of a `[[zone]]` (RFC 9432 catalog
//! zones, "Catalog zones" in CONFIG.md): what part a zone plays in a
//! catalog, and the consumer's guard against mass removal.

use std::fmt;
use std::path::{Path, PathBuf};

/// `catalog` of a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogRole {
    /// `catalog = "producer"`: pharos writes this zone from the zones that
    /// name it (a hub). Its source is [`producer_file`].
    Producer,
    /// `catalog = "consumer"`: its members become secondary zones here.
    Consumer(CatalogConsumer),
    /// `catalog = "NAME"`: a member of the producer catalog `NAME` (a zone
    /// of this config with `catalog = "producer"`), normalized like
    /// [`super::ZoneConfig::name`].
    Member(String),
}

/// The consumer keys of a `catalog = "consumer"` zone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatalogConsumer {
    /// `member-template`: the `[[template]]` of members without a group,
    /// or whose group names no template.
    pub member_template: Option<String>,
    /// `catalog-max-removals`.
    pub max_removals: MaxRemovals,
}

/// `catalog-max-removals`: a catalog update that removes more members than
/// this at once is held until accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxRemovals {
    /// Percent of the members, 0..=100; applies only to catalogs of more
    /// than [`MaxRemovals::SMALL`] members (a small catalog may lose any).
    Percent(u8),
    Count(u64),
}

impl Default for MaxRemovals {
    /// 20 % of the members.
    fn default() -> Self {
        MaxRemovals::Percent(20)
    }
}

impl MaxRemovals {
    /// A percentage limit applies to catalogs of more members than this.
    pub const SMALL: usize = 10;

    /// The most removals allowed at once out of `total` members; `None`:
    /// no limit (a percentage of a small catalog).
    pub fn limit(self, total: usize) -> Option<usize> {
        match self {
            MaxRemovals::Percent(_) if total <= Self::SMALL => None,
            MaxRemovals::Percent(p) => Some(total * usize::from(p) / 100),
            MaxRemovals::Count(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        }
    }

    /// Whether removing `removed` of `total` members at once must be held.
    pub fn exceeded(self, removed: usize, total: usize) -> bool {
        match self {
            MaxRemovals::Percent(p) => total > Self::SMALL && (removed as u128) * 100 > u128::from(p) * (total as u128),
            MaxRemovals::Count(n) => removed as u64 > n,
        }
    }
}

impl fmt::Display for MaxRemovals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxRemovals::Percent(p) => write!(f, "{p}%"),
            MaxRemovals::Count(n) => write!(f, "{n}"),
        }
    }
}

/// The zone file pharos writes for the producer catalog `name` (a zone
/// name as in [`super::ZoneConfig::name`]) under `data_dir`, and serves as
/// a file zone: `<data-dir>/catalog/<name>.zone`.
pub fn producer_file(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("catalog").join(format!("{name}.zone"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_limits() {
        let d = MaxRemovals::default();
        assert!(!d.exceeded(10, 10), "a small catalog may lose every member");
        assert!(!d.exceeded(4, 20));
        assert!(d.exceeded(5, 20));
        assert!(MaxRemovals::Count(3).exceeded(4, 5));
        assert!(!MaxRemovals::Count(3).exceeded(3, 5));
    }
}

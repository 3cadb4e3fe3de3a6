//! The catalog keys of a zone (RFC 9432; "Catalog zones" in CONFIG.md):
//! `catalog`, `catalog-group`, `member-template`, `catalog-max-removals`,
//! checked on each zone, then across zones (a member names a producer
//! catalog of this config).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::super::raw::{RawCountOrShare, RawZone};
use super::super::values::normalize_dns_name;
use super::super::{CatalogConsumer, CatalogRole, MaxRemovals, ZoneConfig, ZoneSource, producer_file};
use super::Check;
use super::template::Named;

/// The longest `catalog-group`: one TXT character-string.
const MAX_GROUP_LEN: usize = 255;

impl Check<'_> {
    /// The zone's `catalog` role and `catalog-group`, each key checked
    /// against the others.
    pub(super) fn catalog(
        &mut self,
        p: &str,
        z: &RawZone,
        templates: &[Named<'_>],
    ) -> (Option<CatalogRole>, Option<String>) {
        let role = match z.catalog.as_deref().map(str::trim) {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("producer") => Some(CatalogRole::Producer),
            Some(s) if s.eq_ignore_ascii_case("consumer") => {
                Some(CatalogRole::Consumer(self.consumer(p, z, templates)))
            }
            Some("") => {
                self.err(
                    format!("{p}.catalog"),
                    "must not be empty: \"producer\", \"consumer\", or the name of a producer catalog",
                );
                None
            }
            Some(s) => match normalize_dns_name(s) {
                Ok(n) => Some(CatalogRole::Member(n)),
                Err(e) => {
                    self.err(
                        format!("{p}.catalog"),
                        format!("{s:?}: expected \"producer\", \"consumer\" or a catalog zone name ({e})"),
                    );
                    None
                }
            },
        };
        let consumer = matches!(role, Some(CatalogRole::Consumer(_)));
        for (key, set) in [
            ("member-template", z.member_template.is_some()),
            ("catalog-max-removals", z.catalog_max_removals.is_some()),
        ] {
            if set && !consumer {
                self.err(
                    format!("{p}.{key}"),
                    "only a consumer catalog (catalog = \"consumer\") takes this key",
                );
            }
        }
        let group = match (&z.catalog_group, &role) {
            (None, _) => None,
            (Some(g), Some(CatalogRole::Member(_))) => {
                let g = g.trim();
                if g.is_empty() || g.len() > MAX_GROUP_LEN || g.chars().any(|c| c.is_control()) {
                    self.err(
                        format!("{p}.catalog-group"),
                        format!("{g:?}: a group is 1 to {MAX_GROUP_LEN} printable characters"),
                    );
                    None
                } else {
                    Some(g.to_string())
                }
            }
            (Some(_), _) => {
                self.err(
                    format!("{p}.catalog-group"),
                    "only a member zone (catalog = \"NAME\" of a producer catalog) has a group",
                );
                None
            }
        };
        (role, group)
    }

    fn consumer(&mut self, p: &str, z: &RawZone, templates: &[Named<'_>]) -> CatalogConsumer {
        if z.primaries.is_none() {
            self.err(
                format!("{p}.catalog"),
                "a consumer catalog is transferred from the hub: it needs `primaries`",
            );
        }
        let member_template = z.member_template.as_deref().map(str::trim).and_then(|t| {
            if templates.iter().any(|n| n.name == t) {
                Some(t.to_string())
            } else {
                let names: Vec<String> = templates.iter().map(|n| format!("{:?}", n.name)).collect();
                self.err(
                    format!("{p}.member-template"),
                    format!(
                        "no [[template]] named {t:?} ({})",
                        if names.is_empty() {
                            "there is none".to_string()
                        } else {
                            format!("templates: {}", names.join(", "))
                        }
                    ),
                );
                None
            }
        });
        let key = format!("{p}.catalog-max-removals");
        let max_removals = match &z.catalog_max_removals {
            None => MaxRemovals::default(),
            Some(RawCountOrShare::Count(n)) => match u64::try_from(*n) {
                Ok(n) => MaxRemovals::Count(n),
                Err(_) => {
                    self.err(key, format!("{n} is negative: give a count of members or a percentage"));
                    MaxRemovals::default()
                }
            },
            Some(RawCountOrShare::Text(s)) => match s.trim().strip_suffix('%').map(|n| n.trim().parse::<u8>()) {
                Some(Ok(p)) if p <= 100 => MaxRemovals::Percent(p),
                _ => {
                    self.err(
                        key,
                        format!("{s:?} is not a percentage from \"0%\" to \"100%\" (or give a count: 100)"),
                    );
                    MaxRemovals::default()
                }
            },
        };
        CatalogConsumer {
            member_template,
            max_removals,
        }
    }

    /// A producer catalog is written by pharos: it takes neither `file` nor
    /// `primaries`. Its file is set by [`Check::catalog_members`].
    pub(super) fn producer_source(&mut self, p: &str, z: &RawZone) -> Option<ZoneSource> {
        for (key, set) in [("file", z.file.is_some()), ("primaries", z.primaries.is_some())] {
            if set {
                self.err(
                    format!("{p}.{key}"),
                    "a producer catalog is written by pharos from its member zones: it takes neither `file` nor `primaries`",
                );
            }
        }
        Some(ZoneSource::File(PathBuf::new()))
    }

    /// Across zones: each producer gets its file under the data dir, and
    /// each member names a producer catalog of this config, or a standby
    /// one: a plain secondary zone (no `catalog` role) that is the catalog
    /// another hub produces. A second hub lists the same members as the
    /// first and serves its catalog as a secondary; promoting it is one
    /// change (`catalog = "producer"` on that zone, SIGHUP) that writes the
    /// same member labels. `raw` gives the key paths.
    pub(super) fn catalog_members(&mut self, zones: &mut [Arc<ZoneConfig>], raw: &[RawZone], data_dir: &Path) {
        let producers: Vec<String> = zones
            .iter()
            .filter(|z| z.catalog == Some(CatalogRole::Producer))
            .map(|z| z.name.clone())
            .collect();
        // Sets, not lists: a hub has 10,000 members and a node as many
        // plain secondary zones (each a standby candidate).
        let known: HashSet<String> = zones
            .iter()
            .filter(|z| z.catalog == Some(CatalogRole::Producer) || (z.catalog.is_none() && z.source.is_secondary()))
            .map(|z| z.name.clone())
            .collect();
        // Key paths of the members in error, looked up only then.
        let mut index: Option<HashMap<String, usize>> = None;
        for z in zones.iter_mut() {
            match &z.catalog {
                Some(CatalogRole::Producer) => {
                    Arc::make_mut(z).source = ZoneSource::File(producer_file(data_dir, &z.name));
                }
                Some(CatalogRole::Member(catalog)) => {
                    let error = if *catalog == z.name {
                        "a zone cannot be a member of itself".to_string()
                    } else if !known.contains(catalog) {
                        unknown_producer(catalog, &producers)
                    } else {
                        continue;
                    };
                    let index = index.get_or_insert_with(|| {
                        let mut m = HashMap::new();
                        for (i, r) in raw.iter().enumerate() {
                            if let Some(n) = r.name.as_deref().and_then(|n| normalize_dns_name(n).ok()) {
                                m.entry(n).or_insert(i);
                            }
                        }
                        m
                    });
                    let i = index.get(&z.name).copied().unwrap_or(0);
                    self.err(format!("zone[{i}].catalog"), error);
                }
                _ => {}
            }
        }
    }
}

/// The error of a member naming `catalog`, which is no producer here.
pub(super) fn unknown_producer(catalog: &str, producers: &[String]) -> String {
    let list: Vec<String> = producers.iter().map(|n| format!("{n:?}")).collect();
    format!(
        "{catalog:?} is not a producer catalog of this config (a [[zone]] with catalog = \"producer\", or a \
         secondary [[zone]] without catalog that is the catalog another hub produces; {})",
        if list.is_empty() {
            "there is none".to_string()
        } else {
            format!("producers: {}", list.join(", "))
        }
    )
}

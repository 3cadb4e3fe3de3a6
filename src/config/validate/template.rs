//! `[[template]]`: settings many zones share. A zone's `template = "NAME"`
//! takes the template's value for every key the zone does not set
//! ([`RawZone::inherit`]); the merged zone is then validated as any zone,
//! and a problem with a value that came from the template is reported at
//! the template's key path (`template[1].primaries`), once.
//!
//! Zones defined outside the file (the management API) go through the same
//! merge and checks: [`derive`].

use std::path::Path;

use super::super::raw::{Failed, RawConfig, RawZone, suggestion};
use super::super::{CatalogRole, Config, ConfigError, TimerLimits, ZoneConfig, ZoneSpec};
use super::{Check, Redirect};

impl RawZone {
    /// Takes from `t` every key this zone does not set; returns the keys
    /// taken (kebab-case). The destructuring names every field: a key
    /// added to [`RawZone`] does not compile until it is inherited here.
    pub(crate) fn inherit(&mut self, t: &RawZone) -> Vec<String> {
        let mut taken = Vec::new();
        macro_rules! inherit {
            ($($field:ident),* $(,)?) => {{
                let RawZone { name: _, template: _, $($field),* } = t;
                $(
                    if self.$field.is_none() && $field.is_some() {
                        self.$field = $field.clone();
                        taken.push(stringify!($field).replace('_', "-"));
                    }
                )*
            }};
        }
        inherit!(
            file,
            primaries,
            tsig_key,
            allow_notify,
            refresh_min,
            refresh_max,
            retry_min,
            retry_max,
            expire_min,
            expire_max,
            max_zone_records,
            max_zone_bytes,
            transfer_timeout,
            allow_transfer,
            transfer_tsig_key,
            notify,
            notify_source,
            ixfr_history_depth,
            ixfr_history_bytes,
            catalog,
            catalog_group,
            member_template,
            catalog_max_removals,
        );
        taken
    }
}

/// A template a zone may name: its name, its keys, and the key path its
/// problems are reported at.
pub(super) struct Named<'r> {
    pub name: &'r str,
    pub raw: &'r RawZone,
    pub path: String,
}

/// A zone merged with its template.
pub(super) struct Merged {
    pub zone: RawZone,
    pub template: String,
    /// Keys that came from the template.
    pub taken: Vec<String>,
}

impl Check<'_> {
    /// Checks every `[[template]]` on its own (as a zone that need not have
    /// a source), and returns the ones zones may name.
    pub(super) fn templates<'r>(
        &mut self,
        raw: &'r RawConfig,
        key_names: &[String],
        secondary: &TimerLimits,
    ) -> Vec<Named<'r>> {
        let mut named: Vec<Named<'r>> = Vec::new();
        for (j, t) in raw.template.iter().enumerate() {
            let p = format!("template[{j}]");
            if t.template.is_some() {
                self.err(
                    format!("{p}.template"),
                    "a template cannot name another template (templates do not nest)",
                );
            }
            let _ = self.zone_body(&p, t, key_names, secondary, None, false);
            let _ = self.transfer_out(&p, t, key_names);
            let name = match t.name.as_deref().map(str::trim) {
                None => {
                    self.err(format!("{p}.name"), "required: the name zones give in `template`");
                    continue;
                }
                Some("") => {
                    self.err(format!("{p}.name"), "must not be empty");
                    continue;
                }
                Some(n) => n,
            };
            if let Some(other) = named.iter().find(|o| o.name == name) {
                self.err(
                    format!("{p}.name"),
                    format!("duplicate template name {name:?} (also {})", other.path),
                );
                continue;
            }
            named.push(Named { name, raw: t, path: p });
        }
        named
    }

    /// The zone at `p` merged with the template it names, if any. Problems
    /// with inherited values are redirected to the template's key path
    /// until [`Check::end_template`]. `Err(())`: it names no known template
    /// (reported).
    pub(super) fn apply_template(
        &mut self,
        p: &str,
        z: &RawZone,
        templates: &[Named<'_>],
    ) -> Result<Option<Merged>, ()> {
        let Some(wanted) = z.template.as_deref() else {
            return Ok(None);
        };
        let wanted = wanted.trim();
        let Some(t) = templates.iter().find(|t| t.name == wanted) else {
            let names: Vec<&str> = templates.iter().map(|t| t.name).collect();
            let hint = match suggestion(wanted, &names) {
                Some(close) => format!(" (did you mean {close:?}?)"),
                None if names.is_empty() => " (there is no [[template]])".to_string(),
                None => {
                    let list: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
                    format!(" (templates: {})", list.join(", "))
                }
            };
            self.err(
                format!("{p}.template"),
                format!("no [[template]] named {wanted:?}{hint}"),
            );
            return Err(());
        };
        let mut zone = z.clone();
        let taken = zone.inherit(t.raw);
        self.redirect = Some(Redirect {
            zone: p.to_string(),
            template: t.path.clone(),
            keys: taken.clone(),
        });
        Ok(Some(Merged {
            zone,
            template: t.name.to_string(),
            taken,
        }))
    }

    pub(super) fn end_template(&mut self) {
        self.redirect = None;
    }
}

/// A zone given outside the file (the management API), validated as a
/// `[[zone]]` of `config` with these keys would be.
pub(in crate::config) fn derive(config: &Config, spec: &ZoneSpec) -> Result<ZoneConfig, Vec<ConfigError>> {
    let raw = RawZone {
        name: Some(spec.name.clone()),
        template: spec.template.clone(),
        primaries: spec.primaries.clone(),
        tsig_key: spec.tsig_key.clone(),
        catalog: spec.catalog.clone(),
        catalog_group: spec.catalog_group.clone(),
        ..RawZone::default()
    };
    let templates: Vec<Named<'_>> = config
        .templates
        .iter()
        .map(|t| Named {
            name: &t.name,
            raw: &t.raw,
            path: format!("template {:?}", t.name),
        })
        .collect();
    let key_names: Vec<String> = config.tsig_keys.iter().map(|k| k.name.clone()).collect();
    let failed = Failed::default();
    let mut errors = Vec::new();
    let base = config.templates.first().map_or(Path::new("."), |t| t.base.as_path());
    let mut c = Check {
        failed: &failed,
        errors: &mut errors,
        base,
        redirect: None,
    };
    let zone = c.zone(ZONE, &raw, &templates, &key_names, &config.secondary, None);
    match zone.as_ref().and_then(|z| z.catalog.as_ref()) {
        Some(CatalogRole::Member(catalog)) => {
            let producers: Vec<String> = config
                .zones
                .iter()
                .filter(|z| z.catalog == Some(CatalogRole::Producer))
                .map(|z| z.name.clone())
                .collect();
            let standby = config
                .zones
                .iter()
                .any(|z| z.name == *catalog && z.catalog.is_none() && z.source.is_secondary());
            if !producers.contains(catalog) && !standby {
                c.err(
                    format!("{ZONE}.catalog"),
                    super::catalog::unknown_producer(catalog, &producers),
                );
            }
        }
        Some(_) => c.err(
            format!("{ZONE}.catalog"),
            "a zone added at run time can only be a member of a producer catalog (catalog = \"NAME\")",
        ),
        None => {}
    }
    let zone = match zone {
        Some(z) if errors.is_empty() => z,
        _ => {
            // Paths relative to the zone: `primaries[0]`, not `zone.primaries[0]`.
            for e in &mut errors {
                if let Some(rest) = e.key.strip_prefix(ZONE) {
                    e.key = rest.trim_start_matches('.').to_string();
                }
            }
            return Err(errors);
        }
    };
    Ok(zone)
}

/// The key-path prefix of a zone in [`derive`].
const ZONE: &str = "zone";

//! Reading a catalog zone (RFC 9432) into its member set.
//!
//! A catalog is a [`Zone`] snapshot; [`parse`] walks the names below
//! `zones.<catalog>` once and returns the members, or a [`CatalogError`]
//! when the catalog is broken (RFC 9432 section 5.1: a broken catalog is
//! not processed and the members stay as they are). The rules:
//!
//! - `version.<catalog>` holds exactly one TXT record, of one string, "2"
//!   (RFC 9432) or "1" (the draft BIND and PowerDNS still produce, read
//!   without properties). None, several, or another value: broken.
//! - a member is the single PTR record at `<label>.zones.<catalog>`; a PTR
//!   RRset of more than one record there is broken, and so are two labels
//!   naming the same member zone (RFC 9432 section 4.1), or a PTR whose
//!   rdata is not a name.
//! - version 2 properties: `group.<label>.zones` (one TXT record of one
//!   string, as Knot reads it) and `coo.<label>.zones` (one PTR record);
//!   more than one record in either RRset is broken. Unknown properties,
//!   properties of a label without a member, and any other record in the
//!   catalog are ignored (RFC 9432 section 4.5, 5).
//!
//! Member zone names come out lowercase, in wire format.

use std::collections::HashMap;
use std::fmt;

use crate::zone::name::{self, label_count, skip_name};
use crate::zone::{RRset, Zone, rtype};

/// Catalog schema version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `version` TXT "1": members only, no properties.
    V1,
    /// `version` TXT "2": RFC 9432.
    V2,
}

/// One member of a catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The unique label (`<label>.zones.<catalog>`), lowercase.
    pub label: Box<[u8]>,
    /// The member zone, lowercase wire format.
    pub zone: Box<[u8]>,
    /// The `group` property (version 2 only).
    pub group: Option<String>,
    /// The `coo` property: the catalog this zone migrates to (wire format).
    pub coo: Option<Box<[u8]>>,
}

/// The member set of one version of a catalog, keyed by member zone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members {
    pub serial: u32,
    pub version: Option<Version>,
    pub by_zone: HashMap<Box<[u8]>, Member>,
}

impl Members {
    pub fn len(&self) -> usize {
        self.by_zone.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_zone.is_empty()
    }
}

/// Why a catalog is broken; it is then not applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogError {
    NoVersion,
    SeveralVersions(usize),
    UnknownVersion(String),
    /// A PTR RRset of more than one record at a member label.
    SeveralPtr {
        label: String,
        count: usize,
    },
    /// A member PTR whose rdata is not a domain name.
    BadPtr {
        label: String,
    },
    /// Two labels name the same member zone.
    DuplicateMember {
        zone: String,
        labels: [String; 2],
    },
    /// More than one `coo` record for a member, or one that is not a name.
    BadCoo {
        label: String,
        count: usize,
    },
    /// More than one `group` record, or one that is not a single string.
    BadGroup {
        label: String,
        count: usize,
    },
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::NoVersion => write!(f, "no TXT record at version.<catalog>"),
            CatalogError::SeveralVersions(n) => write!(f, "{n} TXT records at version.<catalog>, one allowed"),
            CatalogError::UnknownVersion(v) => write!(f, "unknown catalog version {v:?} (1 and 2 are read)"),
            CatalogError::SeveralPtr { label, count } => {
                write!(f, "member {label}.zones: {count} PTR records, one allowed")
            }
            CatalogError::BadPtr { label } => write!(f, "member {label}.zones: PTR rdata is not a domain name"),
            CatalogError::DuplicateMember { zone, labels } => {
                write!(
                    f,
                    "zone {zone} listed twice, as {}.zones and {}.zones",
                    labels[0], labels[1]
                )
            }
            CatalogError::BadCoo { label, count } => {
                write!(
                    f,
                    "coo.{label}.zones: {count} PTR records or not a name, one name allowed"
                )
            }
            CatalogError::BadGroup { label, count } => {
                write!(
                    f,
                    "group.{label}.zones: {count} TXT records or not one string, one allowed"
                )
            }
        }
    }
}

impl std::error::Error for CatalogError {}

/// Presentation form of one label, for messages.
fn label_text(label: &[u8]) -> String {
    let mut wire = Vec::with_capacity(label.len() + 2);
    wire.push(label.len().min(63) as u8);
    wire.extend_from_slice(&label[..label.len().min(63)]);
    wire.push(0);
    let mut s = name::to_text(&wire);
    s.pop();
    s
}

/// Prepends one label to a wire name.
fn child(label: &[u8], parent: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + label.len() + parent.len());
    out.push(label.len() as u8);
    out.extend_from_slice(label);
    out.extend_from_slice(parent);
    out
}

/// The one rdata of a single-record RRset.
fn single<'a>(zone: &'a Zone, set: &RRset) -> Option<&'a [u8]> {
    let mut it = zone.records(set);
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// A whole, valid wire name in `rdata`, lowercased.
fn rdata_name(rdata: &[u8]) -> Option<Box<[u8]>> {
    if skip_name(rdata)? != rdata.len() {
        return None;
    }
    let mut n = rdata.to_vec();
    name::lowercase_in_place(&mut n);
    Some(n.into_boxed_slice())
}

/// The single character-string of a TXT rdata.
fn one_string(rdata: &[u8]) -> Option<&[u8]> {
    let (&len, rest) = rdata.split_first()?;
    (rest.len() == len as usize).then_some(rest)
}

/// Reads the catalog in `zone` (its apex is the catalog's name).
pub fn parse(zone: &Zone) -> Result<Members, CatalogError> {
    let apex = zone.apex();
    let version_name = child(b"version", apex);
    let version = match zone.find(&version_name).and_then(|id| zone.get(id, rtype::TXT)) {
        None => return Err(CatalogError::NoVersion),
        Some(set) => match single(zone, set) {
            None => return Err(CatalogError::SeveralVersions(zone.records(set).count())),
            Some(rd) => match one_string(rd) {
                Some(b"2") => Version::V2,
                Some(b"1") => Version::V1,
                _ => return Err(CatalogError::UnknownVersion(String::from_utf8_lossy(rd).into_owned())),
            },
        },
    };
    let mut out = Members {
        serial: zone.info.serial,
        version: Some(version),
        by_zone: HashMap::new(),
    };
    let zones = child(b"zones", apex);
    let Some(_) = zone.find(&zones) else {
        return Ok(out);
    };
    let depth = label_count(&zones);
    // label -> member zone, to find properties and duplicates.
    let mut by_label: HashMap<Box<[u8]>, Box<[u8]>> = HashMap::new();
    // Properties seen, attached after every member is known:
    // (member label, true for group / false for coo, the RRset).
    let mut props: Vec<(Box<[u8]>, bool, &RRset)> = Vec::new();
    for id in zone.node_ids() {
        let owner = zone.name(id);
        if !name::is_subdomain(owner, &zones) {
            continue;
        }
        match label_count(owner) - depth {
            1 => {
                let Some(set) = zone.get(id, rtype::PTR) else {
                    continue;
                };
                let label: Box<[u8]> = owner[1..1 + owner[0] as usize].into();
                let Some(rd) = single(zone, set) else {
                    let count = zone.records(set).count();
                    return Err(CatalogError::SeveralPtr {
                        label: label_text(&label),
                        count,
                    });
                };
                let Some(member) = rdata_name(rd) else {
                    return Err(CatalogError::BadPtr {
                        label: label_text(&label),
                    });
                };
                if let Some(prev) = out.by_zone.get(&member) {
                    let mut labels = [label_text(&prev.label), label_text(&label)];
                    labels.sort();
                    return Err(CatalogError::DuplicateMember {
                        zone: name::to_text(&member),
                        labels,
                    });
                }
                by_label.insert(label.clone(), member.clone());
                out.by_zone.insert(
                    member.clone(),
                    Member {
                        label,
                        zone: member,
                        group: None,
                        coo: None,
                    },
                );
            }
            2 if version == Version::V2 => {
                let prop = &owner[1..1 + owner[0] as usize];
                let rest = name::parent(owner);
                let label: Box<[u8]> = rest[1..1 + rest[0] as usize].into();
                if prop == b"group" {
                    if let Some(set) = zone.get(id, rtype::TXT) {
                        props.push((label, true, set));
                    }
                } else if prop == b"coo" {
                    if let Some(set) = zone.get(id, rtype::PTR) {
                        props.push((label, false, set));
                    }
                }
            }
            _ => {}
        }
    }
    for (label, is_group, set) in props {
        let Some(member) = by_label.get(&label) else {
            continue;
        };
        let count = zone.records(set).count();
        let Some(entry) = out.by_zone.get_mut(member) else {
            continue;
        };
        let rd = single(zone, set);
        if is_group {
            let group = rd.and_then(one_string).map(|g| String::from_utf8_lossy(g).into_owned());
            match group {
                Some(g) => entry.group = Some(g),
                None => {
                    return Err(CatalogError::BadGroup {
                        label: label_text(&label),
                        count,
                    });
                }
            }
        } else {
            match rd.and_then(rdata_name) {
                Some(c) => entry.coo = Some(c),
                None => {
                    return Err(CatalogError::BadCoo {
                        label: label_text(&label),
                        count,
                    });
                }
            }
        }
    }
    Ok(out)
}

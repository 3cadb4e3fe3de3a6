//! The integration-test harness: start the real `pharos` binary (and, as a
//! reference, Knot DNS) on free loopback ports, query them, and clean up.
//!
//! * [`Pharos::start`] writes a config into a temp dir, spawns
//!   `pharos serve --config ...` with its stderr in `pharos.log` in that dir,
//!   and waits until it answers an authoritative SOA over UDP.  Dropping the
//!   handle kills the process (by PID); if the test is panicking, the tail of
//!   the log is printed first.
//! * [`Knot::start`] does the same for `knotd` with the same zone files.
//! * [`kdig`] / [`dig`] run the real clients; [`wire`] is a tiny DNS
//!   encoder/parser for the harness's own queries.
//!
//! Setting `PHAROS_TEST_AGAINST=knot` in the environment makes
//! [`Pharos::start`] start Knot DNS with the equivalent settings instead of
//! pharos, so a test can be checked against a known-good server.
//!
//! A test that needs an external program that is missing FAILS with a
//! message naming the Debian package: `scripts/test.sh` installs them all.
//!
//! This file only declares the parts and re-exports what tests use:
//!
//! * `zone`: repository paths and [`Zone`];
//! * `tools`: external programs (`require_*`, [`kdig`], [`dig`]) and parsers
//!   for their output;
//! * `server`: what every spawned server needs (free ports, the readiness
//!   probe, its log), [`Spawned`] (any child killed on drop), [`output_text`];
//! * `pharos`: [`Pharos`], [`PharosOpts`] and one-shot runs of the binary;
//! * `knot`: [`Knot`], [`KnotOpts`];
//! * `knot_catalog`: [`KnotCatalog`], Knot as a catalog producer (a
//!   generated catalog and its members, or catalogs written by hand);
//! * `primary`: primaries for secondary zones: [`KnotPrimary`] (knotd
//!   changed through knotc, NOTIFY to pharos), [`BindPrimary`] (named from
//!   BIND 9, optionally with a TSIG key) and [`ScriptedPrimary`] (a
//!   tiny server in threads that can misbehave on AXFR);
//! * `secondaries`: Knot, BIND 9 and NSD as secondaries ([`Secondary`]),
//!   their transfer kinds from their logs, and the canonical record
//!   comparison of two servers ([`canonical_axfr`], [`assert_same_records`]);
//! * [`wire`]: the DNS encoder/parser and TCP framing (used as `common::wire`);
//! * `bgp`: real BGP peers in network namespaces ([`BgpPeer`]); `bgp_node`:
//!   pharos in the node namespace ([`Node`], [`NodeConfig`]).
//! * `edge`: Knot and NSD with response rate limiting ([`RateLimitedRef`]),
//!   a paced UDP [`flood`] that records every reply, queries with a DNS
//!   COOKIE option;
//! * `fleet`: a pharos hub and N pharos nodes in one test ([`Fleet`],
//!   [`FleetOpts`]) and a path between two of them the test can cut
//!   ([`Link`]);
//! * `mgmt`: [`MgmtNode`] (pharos with its management API and identity
//!   endpoint, and a token), a small HTTP client ([`http`]) and the Python
//!   Prometheus parser ([`parse_metrics`]);
//!
//! Every test binary compiles this module on its own and uses only part of
//! it, hence `allow(dead_code)` (it covers the submodules too) and
//! `allow(unused_imports)` on each re-export below (only there, so that an
//! unused import inside a submodule is still reported).
#![allow(dead_code)]

mod bgp;
mod bgp_node;
mod edge;
mod fleet;
mod knot;
mod knot_catalog;
mod mgmt;
mod pharos;
mod primary;
mod secondaries;
mod server;
mod tools;
pub mod wire;
mod zone;

#[allow(unused_imports)]
pub use bgp::{BgpPeer, NODE_AS, NODE_DNS_PORT, PEER_AS, PeerOpts, Route, in_netns, node_dns, scripted_peer_py};
#[allow(unused_imports)]
pub use bgp_node::{MGMT_TOML, Node, NodeConfig, PeerEntry, same_since, since_ms};
#[allow(unused_imports)]
pub use edge::{
    FloodReply, FloodResult, RateLimitedRef, RefKind, exchange, extended_rcode, flood, query_with_cookie, reply_cookie,
};
#[allow(unused_imports)]
pub use fleet::{Fleet, FleetOpts, Link};
#[allow(unused_imports)]
pub use knot::{Knot, KnotOpts, knot_config};
#[allow(unused_imports)]
pub use knot_catalog::{Edit, KnotCatalog, KnotCatalogOpts, KnotMember, PlainZone, member_text, next_second};
#[allow(unused_imports)]
pub use mgmt::{Http, MgmtNode, Sample, TOKEN, http, parse_metrics, sample, try_http};
#[allow(unused_imports)]
pub use pharos::{
    Pharos, PharosOpts, pharos_bin, pharos_check_config, pharos_cmd, pharos_config, pharos_only, toml_str, wait_until,
};
#[allow(unused_imports)]
pub use primary::*;
#[allow(unused_imports)]
pub use secondaries::{
    Secondary, SecondaryKind, SecondaryOpts, SecondaryZone, XfrCounts, assert_same_records, canonical_axfr,
    canonical_record, kdig_key,
};
#[allow(unused_imports)]
pub use server::{START_TIMEOUT, Spawned, free_port, have_ipv6_loopback, output_text, tail};
#[allow(unused_imports)]
pub use tools::{
    DigHeader, answer_section, authority_section, client_text, dig, kdig, parse_dig_header, require_dnspython,
    require_program,
};
#[allow(unused_imports)]
pub use zone::{Zone, dnsdiff_dir, dnsdiff_zones, repo_root, zones_in};

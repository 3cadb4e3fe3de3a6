//! pharos: an anycast authoritative DNS node.
//!
//! Module map (dependencies run top to bottom, never back up):
//!
//! ```text
//! docs                  man pages, completions and the packaged config,
//!                       written from cli's clap definition and the
//!                       comments of config.example.toml (used by tests)
//! main.rs -> cli        argument parsing, one function per sub-command;
//!                       `pharos completions`
//!            supervisor binds every socket, spawns the tasks, owns shutdown
//!            rlimit     the open-file budget: soft RLIMIT_NOFILE raised to
//!                       the hard limit, a refusal to start if the node's
//!                       connections, transfers and sessions cannot fit
//!   dns                 listeners (UDP workers, TCP), query parsing, the answer
//!                       algorithm, EDNS/NSID/CHAOS, response encoding
//!   zone                the store: immutable zone snapshots behind arc-swap,
//!                       lookup structures, zone-file loading and validation,
//!                       freed memory handed back after bursts of changes
//!   reload              SIGHUP: re-reads the config, applies zone and BGP changes
//!   soacheck            `pharos soa-check`: a zone's serial on many servers
//!   bgp                 eBGP speaker: announces the configured prefixes while
//!                       health says so (session FSM, UPDATEs, per-peer policy,
//!                       TCP-MD5, GTSM, passive listeners); BFD down takes a
//!                       session down (uses bfd)
//!   bfd                 BFD (RFC 5880/5881/5883) sessions for BGP peers: the
//!                       sans-IO session FSM, the UDP sockets with TTL checks
//!                       (a leaf: tokio, socket2, libc only)
//!   mgmt                HTTP management API, /metrics, status page, identity
//!                       JSON, the API client
//!   zonemgr             the one owner of runtime zone changes (ZoneManager):
//!                       store, secondary engine, NOTIFY rules, files, the API
//!                       zone list; its callers are mgmt, reload and the
//!                       catalog consumers it drives
//!   catalog             catalog zones (RFC 9432): the producer writes a hub's
//!                       catalog from its zones; reading a catalog, the
//!                       consumer's sans-IO core (members in, zone changes
//!                       out) and its state file (below zonemgr; above axfr
//!                       and zone)
//!   fleet               the hub's fleet view: SOA polls of every node, per
//!                       zone and node the serial served (above axfr, below mgmt)
//!   health              probes + rise/fall + maintenance -> watch channel for bgp;
//!                       the listener workers' progress (a stuck one withdraws):
//!                       the supervisor registers the sockets, dns bumps plain
//!                       counters (no arrow from dns to health)
//!   tsig                TSIG (RFC 8945): signing and verifying messages, for
//!                       the listeners (NOTIFY in) and the secondary engine
//!   config              TOML schema (serde) and the validated runtime Config
//!   cookie              DNS cookies (RFC 7873/9018): server secrets, making and
//!                       checking server cookies (for dns and the health probes)
//!   logging             the non-blocking log writer; per-event summaries
//!                       (one line per source and reason per interval)
//!   files               bounded reads of the files the config and the data
//!                       dir point at (a leaf: regular files within a limit)
//!   conntable           connection tables of the TCP listeners (DNS, HTTP):
//!                       the idle-longest makes room at the cap, timeouts
//!                       tightened as the table fills (a leaf: no I/O)
//! ```
//!
//! The query path (`dns::answer`) reads zone snapshots without locking:
//! `zone::Store` publishes a new `ZoneSet` atomically whenever a zone changes.

pub mod axfr;
pub mod bfd;
pub mod bgp;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod conntable;
pub mod cookie;
pub mod dns;
pub mod docs;
pub mod error;
pub mod files;
pub mod fleet;
pub mod health;
pub mod logging;
pub mod mgmt;
pub mod reload;
pub mod rlimit;
pub mod soacheck;
pub mod supervisor;
pub mod tsig;
pub mod zone;
pub mod zonemgr;

//! The open-file budget, settled at start-up before anything is bound.
//!
//! Every TCP client, transfer, BGP session and HTTP client holds a file
//! descriptor. Under the usual soft limit of 1,024, a node with
//! `dns.tcp-max-connections = 1024` runs out when its TCP table fills: its
//! own health probe fails with "Too many open files" and the node withdraws
//! itself. So [`prepare`] raises the soft `RLIMIT_NOFILE` to the hard limit,
//! then refuses to start, naming the numbers, when the most the node may
//! hold open at once ([`Budget`]) does not fit. `pharos check-config` only
//! warns ([`warning`]): the limit belongs to the process that will run.

use std::fmt::Write as _;
use std::io;

use crate::config::Config;
use crate::error::Error;

/// Descriptors kept for what is not counted one by one: stdio, the log,
/// the runtimes' epoll and event descriptors, signal handling, zone files
/// and the data directory while they are read or written, NOTIFY-out and
/// health-probe sockets.
pub const RESERVE: u64 = 64;

/// The most descriptors the node may hold open at once, by what holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// `dns.tcp-max-connections`.
    pub tcp: u64,
    /// Everything else, each with what it is for.
    pub rest: Vec<(String, u64)>,
}

impl Budget {
    /// The budget of a node running `config`.
    pub fn of(config: &Config) -> Budget {
        let workers = match config.dns.udp_workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let listen = config.dns.listen.len() as u64;
        let (mgmt, identity) = crate::mgmt::max_connections(config);
        let http_listeners = u64::from(config.mgmt.listen.is_some()) + config.identity.listen.len() as u64;
        let mut rest = vec![
            (
                format!("UDP and TCP sockets of {listen} dns.listen addresses ({workers} UDP workers each)"),
                listen * (workers as u64 + 1),
            ),
            (
                "transfers in (transfers, SOA queries, versions written)".to_string(),
                (crate::axfr::engine::MAX_TRANSFERS
                    + crate::axfr::engine::MAX_SOA_QUERIES
                    + 2 * crate::axfr::engine::MAX_VERSIONS) as u64,
            ),
            (
                "[transfer] max-out (IXFR history files)".to_string(),
                config.transfer.max_out as u64,
            ),
        ];
        if mgmt > 0 {
            rest.push(("mgmt.max-connections".to_string(), mgmt as u64));
        }
        if identity > 0 {
            rest.push(("identity endpoint (256 per address)".to_string(), identity as u64));
        }
        if http_listeners > 0 {
            rest.push(("HTTP listeners".to_string(), http_listeners));
        }
        if config.bgp.enabled && !config.bgp.peers.is_empty() {
            // A session, a connection attempt beside it, and a listener.
            rest.push(("BGP peers".to_string(), 2 * config.bgp.peers.len() as u64 + 1));
        }
        let hub = !config.fleet.nodes.is_empty() || config.zones.iter().any(|z| !z.out.notify.is_empty());
        if hub {
            rest.push((
                "fleet view SOA polls in flight".to_string(),
                crate::fleet::MAX_IN_FLIGHT as u64,
            ));
        }
        rest.push(("reserve (stdio, logs, runtimes, zone files)".to_string(), RESERVE));
        Budget {
            tcp: config.dns.tcp_max_connections as u64,
            rest,
        }
    }

    /// Everything together.
    pub fn need(&self) -> u64 {
        self.tcp + self.rest.iter().map(|(_, n)| n).sum::<u64>()
    }

    /// "RLIMIT_NOFILE is 1024 (hard 1024) but ... needs 1611; raise ...".
    pub fn explain(&self, soft: u64, hard: u64) -> String {
        let rest: u64 = self.rest.iter().map(|(_, n)| n).sum();
        let mut parts = String::new();
        for (i, (what, n)) in self.rest.iter().enumerate() {
            if i > 0 {
                parts.push_str(", ");
            }
            let _ = write!(parts, "{what} {n}");
        }
        format!(
            "RLIMIT_NOFILE is {} (hard {}) but dns.tcp-max-connections = {} plus {rest} for the rest of the node \
             ({parts}) needs {}; raise the limit (systemd LimitNOFILE=, ulimit -n) or lower dns.tcp-max-connections",
            show(soft),
            show(hard),
            self.tcp,
            self.need()
        )
    }
}

/// `RLIM_INFINITY` as the u64 the limits are handled in (`rlim_t` is u32
/// on 32-bit ARM, u64 elsewhere).
#[allow(clippy::useless_conversion)]
fn infinity() -> u64 {
    u64::from(libc::RLIM_INFINITY)
}

fn show(limit: u64) -> String {
    if limit == infinity() {
        "unlimited".to_string()
    } else {
        limit.to_string()
    }
}

/// The soft and hard `RLIMIT_NOFILE` of this process.
pub fn current() -> io::Result<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::useless_conversion)] // rlim_t is u32 on 32-bit ARM
    let limits = (u64::from(r.rlim_cur), u64::from(r.rlim_max));
    Ok(limits)
}

/// Raises the soft limit to the hard one (to `fs.nr_open` if the hard limit
/// is unlimited); returns the limits then in force.
pub fn raise() -> io::Result<(u64, u64)> {
    let (soft, hard) = current()?;
    let target = if hard == infinity() {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1 << 20)
    } else {
        hard
    };
    if soft >= target {
        return Ok((soft, hard));
    }
    // Both fit in rlim_t: they are at most the hard limit, which came
    // from one (or, when unlimited, fs.nr_open, at most 2^30).
    let to_rlim = |v: u64| libc::rlim_t::try_from(v).unwrap_or(libc::RLIM_INFINITY);
    let r = libc::rlimit {
        rlim_cur: to_rlim(target),
        rlim_max: to_rlim(hard),
    };
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    current()
}

/// At `serve`'s start: raises the soft limit to the hard one and checks
/// the budget against it. The error names every number.
pub fn prepare(config: &Config) -> Result<(u64, u64), Error> {
    let budget = Budget::of(config);
    let (soft, hard) = match raise() {
        Ok(l) => l,
        Err(e) => {
            // A sandbox may forbid setrlimit (systemd's @resources filter):
            // go on with the limit as it is.
            let l = current().map_err(|e| Error::Startup(format!("getrlimit(RLIMIT_NOFILE): {e}")))?;
            tracing::warn!(
                soft = l.0,
                hard = l.1,
                "cannot raise RLIMIT_NOFILE to its hard limit: {e}"
            );
            l
        }
    };
    if budget.need() > soft {
        return Err(Error::Startup(budget.explain(soft, hard)));
    }
    tracing::info!(
        soft = %show(soft),
        hard = %show(hard),
        need = budget.need(),
        "open-file limit"
    );
    Ok((soft, hard))
}

/// For `check-config`: the budget compared with the hard limit the checking
/// process has (the node raises its soft limit to its own hard limit).
pub fn warning(config: &Config) -> Option<String> {
    let budget = Budget::of(config);
    let (soft, hard) = current().ok()?;
    (budget.need() > hard).then(|| {
        format!(
            "if started with this process's limits, pharos would refuse to start: {}",
            budget.explain(soft, hard)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_every_number() {
        let b = Budget {
            tcp: 1024,
            rest: vec![("mgmt.max-connections".into(), 64), ("reserve".into(), 64)],
        };
        assert_eq!(b.need(), 1152);
        let m = b.explain(1024, 1024);
        assert!(
            m.starts_with("RLIMIT_NOFILE is 1024 (hard 1024) but dns.tcp-max-connections = 1024 plus 128"),
            "{m}"
        );
        assert!(m.contains("mgmt.max-connections 64") && m.contains("needs 1152"), "{m}");
        assert!(
            m.contains("LimitNOFILE=") && m.contains("lower dns.tcp-max-connections"),
            "{m}"
        );
    }

    #[test]
    fn raising_keeps_the_hard_limit() {
        let (_, hard_before) = current().unwrap();
        let (soft, hard) = raise().unwrap();
        assert_eq!(hard, hard_before);
        assert!(soft == hard || hard == libc::RLIM_INFINITY, "{soft} {hard}");
    }
}

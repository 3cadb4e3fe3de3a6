//! A BFD session from the command line, for interop checks against other
//! daemons (tests/bgp-peer/bfd-interop.sh): prints one line per status
//! change, with the seconds since start.
//!
//! `bfd_probe REMOTE [LOCAL] [--multihop MIN_TTL] [--interval MS] [--multiplier N] [--for SECONDS]`

use std::net::IpAddr;
use std::time::{Duration, Instant};

use pharos::bfd::{Bfd, Ports, SessionConfig};

fn usage() -> ! {
    eprintln!("usage: bfd_probe REMOTE [LOCAL] [--multihop MIN_TTL] [--interval MS] [--multiplier N] [--for SECONDS]");
    std::process::exit(2)
}

fn parse<T: std::str::FromStr>(v: Option<String>) -> T {
    v.and_then(|v| v.parse().ok()).unwrap_or_else(|| usage())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let remote: IpAddr = parse(args.next());
    let mut cfg = SessionConfig::single_hop(remote);
    let mut run_for = Duration::from_secs(3600);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--multihop" => {
                cfg.multihop = true;
                cfg.min_ttl = parse(args.next());
            }
            "--interval" => cfg.interval = Duration::from_millis(parse(args.next())),
            "--multiplier" => cfg.multiplier = parse(args.next()),
            "--for" => run_for = Duration::from_secs(parse(args.next())),
            other => cfg.local = Some(parse(Some(other.to_string()))),
        }
    }
    let bfd = match Bfd::bind(std::slice::from_ref(&cfg), Ports::default()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1)
        }
    };
    let handle = match bfd.add(cfg) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1)
        }
    };
    let t0 = Instant::now();
    let mut w = handle.watch();
    let deadline = tokio::time::Instant::now() + run_for;
    loop {
        let s = w.borrow_and_update().clone();
        println!(
            "{:.3} state={} remote={} diag={} remote_diag={} cause={} tx={:?} detect={:?} in={} out={} drops={:?}",
            t0.elapsed().as_secs_f64(),
            s.state,
            s.remote_state,
            s.local_diag.code(),
            s.remote_diag.code(),
            s.down_cause.name().replace(' ', "_"),
            s.tx_interval,
            s.detection_time,
            handle.status().packets_in,
            handle.status().packets_out,
            bfd.drops(),
        );
        tokio::select! {
            r = w.changed() => if r.is_err() { break },
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    drop(handle);
    // let the AdminDown packets go out
    tokio::time::sleep(Duration::from_millis(300)).await;
}

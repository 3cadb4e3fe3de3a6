//! Tests of the transfers-out keys (`allow-transfer`, `notify`, ...), the
//! `[transfer]` limits and `[[template]]`.

use std::net::{IpAddr, SocketAddr};

use super::tests::{MINIMAL, assert_error, errors, ok, with};
use super::*;

const KEY: &str = "[[tsig-key]]\nname = \"fleet\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\n";

#[test]
fn transfer_out_defaults() {
    let c = ok(&with("[[zone]]\nname = \"a.example\"\nfile = \"a.zone\"\n"));
    assert_eq!(c.zones[0].out, TransferOut::default());
    assert_eq!(c.zones[0].out.history_depth, DEFAULT_HISTORY_DEPTH);
    assert_eq!(c.zones[0].out.history_bytes, DEFAULT_HISTORY_BYTES);
    assert_eq!(c.transfer, TransferConfig::default());
    assert!(ok(MINIMAL).zones.is_empty());
}

#[test]
fn transfer_out_keys_are_parsed() {
    let c = ok(&with(&format!(
        "{KEY}[transfer]\nmax-out = 8\nmax-out-per-client = 2\nnotify-rate = 50\n\
         [[zone]]\nname = \"a.example\"\nfile = \"a.zone\"\n\
         allow-transfer = [\"10.8.0.0/24\", \"192.0.2.1\"]\ntransfer-tsig-key = \"Fleet.\"\n\
         notify = [\"10.8.0.11\", \"10.8.0.12:5353\"]\nnotify-source = \"10.8.0.1\"\n\
         ixfr-history-depth = 0\nixfr-history-bytes = \"1MiB\"\n\
         [[zone]]\nname = \"b.example\"\nprimaries = [\"10.9.0.1\"]\nallow-transfer = [\"::1\"]\n\
         ixfr-history-bytes = 4096\n"
    )));
    let o = &c.zones[0].out;
    let allow: Vec<String> = o.allow_transfer.iter().map(|p| p.to_string()).collect();
    assert_eq!(allow, ["10.8.0.0/24", "192.0.2.1/32"]);
    assert_eq!(o.tsig_key.as_deref(), Some("fleet"));
    let notify: Vec<SocketAddr> = vec!["10.8.0.11:53".parse().unwrap(), "10.8.0.12:5353".parse().unwrap()];
    assert_eq!(o.notify, notify);
    assert_eq!(o.notify_source, Some("10.8.0.1".parse::<IpAddr>().unwrap()));
    assert_eq!((o.history_depth, o.history_bytes), (0, 1 << 20));
    let o = &c.zones[1].out;
    assert_eq!(o.allow_transfer.len(), 1);
    assert!(o.allow_transfer[0].contains(&"::1".parse().unwrap()));
    assert_eq!(o.history_bytes, 4096);
    assert_eq!(
        c.transfer,
        TransferConfig {
            max_out: 8,
            max_out_per_client: 2,
            notify_rate: 50
        }
    );
}

#[test]
fn transfer_out_errors() {
    let errs = errors(&with(
        "[transfer]\nmax-out = 0\nnotify-rate = 0\nmax-ouut = 3\n\
         [[zone]]\nname = \"a.example\"\nfile = \"a.zone\"\n\
         allow-transfer = [\"10.8.0.0/33\"]\ntransfer-tsig-key = \"nokey\"\n\
         notify = [\"10.8.0.11:0\", \"bad\"]\nnotify-source = \"10.8.0.1/24\"\n\
         ixfr-history-depth = -1\nixfr-history-bytes = \"12\"\n",
    ));
    assert_error(&errs, "transfer.max-out", "out of range");
    assert_error(&errs, "transfer.notify-rate", "out of range");
    assert_error(&errs, "transfer.max-ouut", "did you mean `max-out`");
    assert_error(&errs, "zone[0].allow-transfer[0]", "");
    assert_error(&errs, "zone[0].transfer-tsig-key", "no [[tsig-key]] named \"nokey\"");
    assert_error(&errs, "zone[0].notify[0]", "port 0");
    assert_error(&errs, "zone[0].notify[1]", "");
    assert_error(&errs, "zone[0].notify-source", "not an IP address");
    assert_error(&errs, "zone[0].ixfr-history-depth", "out of range");
    assert_error(&errs, "zone[0].ixfr-history-bytes", "too small");

    let errs = errors(&with("[transfer]\nmax-out = 2\nmax-out-per-client = 3\n"));
    assert_error(
        &errs,
        "transfer.max-out-per-client",
        "greater than transfer.max-out (2)",
    );
}

#[test]
fn notify_source_family_must_reach_targets_and_primaries() {
    let errs = errors(&with(
        "[[zone]]\nname = \"a.example\"\nprimaries = [\"10.9.0.1\", \"[2001:db8::1]:53\"]\n\
         notify = [\"10.8.0.11\", \"[2001:db8::11]:53\"]\nnotify-source = \"10.8.0.1\"\n",
    ));
    assert_error(
        &errs,
        "zone[0].notify[1]",
        "IPv6 address [2001:db8::11]:53 cannot be reached",
    );
    assert_error(
        &errs,
        "zone[0].primaries[1]",
        "cannot be reached from zone[0].notify-source 10.8.0.1",
    );
    assert_eq!(errs.len(), 2, "{errs:#?}");
    let errs = errors(&with(
        "[[zone]]\nname = \"a.example\"\nfile = \"a.zone\"\nnotify = [\"10.8.0.11\"]\nnotify-source = \"::1\"\n",
    ));
    assert_error(
        &errs,
        "zone[0].notify[0]",
        "IPv4 address 10.8.0.11:53 cannot be reached",
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let errs = errors(&with(
        "[[zone]]\nname = \"a.example\"\nfile = \"a.zone\"\nnotify-source = \"0.0.0.0\"\n",
    ));
    assert_error(&errs, "zone[0].notify-source", "cannot be a source address");
}

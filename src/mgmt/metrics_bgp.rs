//! The BGP part of `/metrics`: per peer, the session, what it carries and
//! what it counted; the passive listeners' refusals.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::{Labels, counters, gauges, one};
use crate::mgmt::{Context, PeerView};

pub(super) fn encode(enc: &mut DescriptorEncoder, ctx: &Context) -> fmt::Result {
    let peers = ctx.bgp.as_ref().map(|b| b.peers()).unwrap_or_default();
    let peer = |p: &PeerView| -> Labels { vec![("peer", p.address.clone()), ("asn", p.asn.to_string())] };
    gauges(
        enc,
        "bgp_session_up",
        "1 while the BGP session with the peer is Established",
        peers.iter().map(|p| (peer(p), u64::from(p.is_established()))),
    )?;
    gauges(
        enc,
        "bgp_session_state",
        "The BGP session state as a label; value 1",
        peers.iter().map(|p| {
            let mut l = peer(p);
            l.push(("state", p.state.clone()));
            (l, 1u64)
        }),
    )?;
    gauges(
        enc,
        "bgp_session_state_seconds",
        "Seconds the BGP session has been in its state",
        peers.iter().map(|p| (peer(p), p.since_secs)),
    )?;
    gauges(
        enc,
        "bgp_announced_prefixes",
        "Prefixes the peer holds from this node",
        peers.iter().map(|p| (peer(p), p.announced.len() as u64)),
    )?;
    gauges(
        enc,
        "bgp_announced",
        "Each prefix the peer holds from this node; value 1",
        peers.iter().flat_map(|p| {
            p.announced.iter().map(move |pfx| {
                let mut l = peer(p);
                l.push(("prefix", pfx.clone()));
                (l, 1u64)
            })
        }),
    )?;
    counters(
        enc,
        "bgp_messages_received",
        "BGP messages received from the peer",
        peers.iter().map(|p| (peer(p), p.messages_in)),
    )?;
    counters(
        enc,
        "bgp_messages_sent",
        "BGP messages sent to the peer",
        peers.iter().map(|p| (peer(p), p.messages_out)),
    )?;
    counters(
        enc,
        "bgp_updates_received",
        "UPDATEs received from the peer (read and discarded: pharos takes no routes)",
        peers.iter().map(|p| (peer(p), p.updates_received)),
    )?;
    counters(
        enc,
        "bgp_established",
        "Times the session reached Established (a rising count is a flapping session)",
        peers.iter().map(|p| (peer(p), p.established_count)),
    )?;
    gauges(
        enc,
        "bgp_waiting_for_bfd",
        "1 while a BFD failure keeps the session down, else 0",
        peers.iter().map(|p| (peer(p), u64::from(p.waiting_for_bfd))),
    )?;
    counters(
        enc,
        "bgp_connections_refused",
        "Connections the passive listeners closed at once (not from a passive peer, or a second one)",
        one(ctx.bgp.as_ref().map_or(0, |b| b.connections_refused())),
    )?;
    Ok(())
}

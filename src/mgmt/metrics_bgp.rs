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
    // ---- BFD, per peer with bfd = true
    let bfd: Vec<(&PeerView, &crate::mgmt::BfdView)> =
        peers.iter().filter_map(|p| p.bfd.as_ref().map(|b| (p, b))).collect();
    gauges(
        enc,
        "bfd_session_up",
        "1 while the BFD session with the peer is Up",
        bfd.iter().map(|(p, b)| (peer(p), u64::from(b.state == "up"))),
    )?;
    gauges(
        enc,
        "bfd_session_state",
        "The BFD session state as a label (up, down, init, admindown); value 1",
        bfd.iter().map(|(p, b)| {
            let mut l = peer(p);
            l.push(("state", b.state.clone()));
            (l, 1u64)
        }),
    )?;
    gauges(
        enc,
        "bfd_detection_time_seconds",
        "The BFD detection time in force (Init or Up)",
        bfd.iter()
            .filter_map(|(p, b)| b.detection_ms.map(|ms| (peer(p), ms as f64 / 1000.0))),
    )?;
    counters(
        enc,
        "bfd_up_transitions",
        "Times the BFD session came Up",
        bfd.iter().map(|(p, b)| (peer(p), b.up_transitions)),
    )?;
    counters(
        enc,
        "bfd_packets_received",
        "BFD Control packets received from the peer",
        bfd.iter().map(|(p, b)| (peer(p), b.packets_in)),
    )?;
    counters(
        enc,
        "bfd_packets_sent",
        "BFD Control packets sent to the peer",
        bfd.iter().map(|(p, b)| (peer(p), b.packets_out)),
    )?;
    counters(
        enc,
        "bfd_packets_dropped",
        "BFD packets of this session dropped (bad TTL, queue full, refused by the state machine)",
        bfd.iter().map(|(p, b)| (peer(p), b.packets_dropped)),
    )?;
    let drops = ctx.bgp.as_ref().map(|b| b.bfd_drops()).unwrap_or_default();
    counters(
        enc,
        "bfd_packets_refused",
        "BFD packets dropped before reaching a session, by reason",
        drops
            .into_iter()
            .map(|(reason, n)| (vec![("reason", reason.to_string())], n)),
    )?;
    counters(
        enc,
        "bgp_connections_refused",
        "Connections the passive listeners closed at once (not from a passive peer, or a second one)",
        one(ctx.bgp.as_ref().map_or(0, |b| b.connections_refused())),
    )?;
    Ok(())
}

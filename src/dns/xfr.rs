//! Transfer requests that reach the one-message path (UDP, and anything
//! the TCP listener did not stream): AXFR over UDP is NOTIMP, as Knot
//! answers it; IXFR over UDP from an allowed client gets the differences
//! when they fit in one datagram, else only the zone's SOA, so that the
//! client retries over TCP (RFC 1995 section 2). Who may transfer, and the
//! refusals, come from `axfr::out` (the same decision as over TCP).

use std::net::SocketAddr;

use super::answer::rcode;
use super::message::{Owner, Section, Writer};
use super::notify::TsigReply;
use super::query::Query;
use super::server::{Extra, Server, Transport};
use crate::axfr::out::encode;
use crate::axfr::out::request::{self, Refusal, RefusalTsig};
use crate::zone::rtype;

impl Server {
    /// Answers an AXFR or IXFR request in one message.
    pub(super) fn transfer_one_message<'a>(
        &self,
        q: &Query<'a>,
        transport: Transport,
        peer: Option<SocketAddr>,
        w: &mut Writer<'_>,
        extra: &mut Extra<'a>,
    ) -> u8 {
        let refused_log = &self.xfr_out.refused_log;
        if q.qtype == rtype::AXFR && transport == Transport::Udp {
            refused_log.record(peer.map(|p| p.ip()), "AXFR over UDP", || {
                format!("AXFR {} over udp", crate::zone::name::to_text(q.lower()))
            });
            return rcode::NOTIMP;
        }
        let Ok(req) = request::parse(q.raw) else {
            // Class other than IN: not a transfer this server offers.
            return rcode::NOTAUTH;
        };
        let table = self.xfr_out.table();
        let set = self.store().load();
        let decided = request::decide(&req, peer.map(|p| p.ip()), &table, &set, crate::tsig::unix_now());
        let accepted = match decided {
            Ok(a) => a,
            Err(refused) => {
                self.xfr_out.stats.refused(refused.reason);
                let over = if transport == Transport::Udp { "udp" } else { "tcp" };
                refused_log.record(peer.map(|p| p.ip()), refused.reason.text(), || {
                    request::describe(&req, over, &refused.detail)
                });
                if refused.reason == Refusal::NotAllowed {
                    extra.ede = Some(request::EDE_PROHIBITED);
                }
                match refused.tsig {
                    RefusalTsig::None => {}
                    RefusalTsig::Sign(s) => {
                        extra.tsig_reply = Some(TsigReply::Sign {
                            key: s.key,
                            request_mac: s.request_mac,
                        })
                    }
                    RefusalTsig::Error(e) => extra.tsig_reply = Some(TsigReply::Error(e)),
                }
                return refused.reason.rcode();
            }
        };
        if let Some(s) = accepted.signer {
            extra.tsig_reply = Some(TsigReply::Sign {
                key: s.key,
                request_mac: s.request_mac,
            });
        }
        let Some(zone) = set.get(&req.apex).and_then(|s| s.answerable()) else {
            return rcode::SERVFAIL;
        };
        let Some((ttl, soa)) = encode::apex_soa(zone) else {
            return rcode::SERVFAIL;
        };
        // No AA, as Knot.
        let ours = zone.info.serial;
        let client = req.client_serial.unwrap_or(ours);
        let apex = zone.apex();
        let start = w.mark();
        if !encode::serial_ge(client, ours)
            && let Some(dir) = &table.history_dir
            && let Ok(Some(entries)) = crate::zone::history::changes(dir, apex, client, ours)
        {
            let records = encode::ixfr_records(apex, (ttl, soa), &entries);
            let fits = records.iter().all(|r| {
                w.rrset(
                    Section::Answer,
                    Owner::Name(&r.owner),
                    r.rtype,
                    r.ttl,
                    std::iter::once(r.rdata.as_slice()),
                )
                .is_ok()
            });
            if fits {
                return rcode::NOERROR;
            }
            w.rollback(start);
        }
        if w.rrset(
            Section::Answer,
            Owner::Name(apex),
            rtype::SOA,
            ttl,
            std::iter::once(soa),
        )
        .is_err()
        {
            w.set_tc();
        }
        rcode::NOERROR
    }
}

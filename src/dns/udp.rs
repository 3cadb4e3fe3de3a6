//! UDP listeners: one socket per worker thread (SO_REUSEPORT), each reading
//! and answering in batches with `recvmmsg`/`sendmmsg`. No task or
//! allocation per packet.
//!
//! Sockets are bound by [`bind`] at start-up; [`spawn`] then runs one
//! blocking thread per socket. A worker that fails reports through the
//! `exited` channel so the supervisor can take the node down; each adds 1
//! to its `progress` counter per turn of its loop (health watches them).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::mpsc::UnboundedSender;

use super::server::{Server, Transport};

/// Datagrams read per system call.
const BATCH: usize = 32;
/// Largest request accepted; longer datagrams are dropped.
const MAX_REQUEST: usize = 4096;
/// Room for one UDP response: the largest EDNS payload the config allows
/// (4096) plus slack. Small slots keep a batch's responses in cache.
const RESPONSE_SLOT: usize = 4096 + 1024;
/// How often a blocked worker looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(500);

/// Binds `count` sockets to `addr` with SO_REUSEPORT.
pub fn bind(addr: SocketAddr, count: usize) -> io::Result<Vec<UdpSocket>> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let domain = if addr.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
        let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv6() {
            sock.set_only_v6(true)?;
        }
        #[cfg(unix)]
        sock.set_reuse_port(true)?;
        sock.set_recv_buffer_size(4 << 20).ok();
        sock.set_send_buffer_size(4 << 20).ok();
        sock.bind(&addr.into())?;
        sock.set_read_timeout(Some(STOP_POLL))?;
        #[cfg(target_os = "linux")]
        if addr.ip().is_unspecified() {
            pktinfo::enable(&sock, addr.is_ipv6())?;
        }
        out.push(sock.into());
    }
    Ok(out)
}

/// Starts one worker thread per socket (`udp-{i}`), the i-th bumping
/// `progress[i]` (a counter of its own if there is none). With
/// `pin_per_group = Some(n)` (`dns.socket-affinity`, listeners of `n`
/// sockets each) the i-th is pinned to the CPUs of index `i % n`
/// (`affinity::cpus_of`).
pub fn spawn(
    sockets: Vec<UdpSocket>,
    server: Arc<Server>,
    stop: Arc<AtomicBool>,
    exited: UnboundedSender<String>,
    progress: Vec<Arc<AtomicU64>>,
    pin_per_group: Option<usize>,
) -> io::Result<Vec<std::thread::JoinHandle<()>>> {
    #[cfg(target_os = "linux")]
    let allowed = match pin_per_group {
        Some(_) => super::affinity::allowed_cpus()?,
        None => Vec::new(),
    };
    let mut handles = Vec::new();
    for (i, sock) in sockets.into_iter().enumerate() {
        #[cfg(target_os = "linux")]
        let cpus = match pin_per_group {
            Some(n) => {
                let cpus = super::affinity::cpus_of(i % n.max(1), n, &allowed);
                if cpus.is_empty() && i < n {
                    tracing::warn!(
                        "dns.socket-affinity: no CPU c with c % {n} == {} among the CPUs this process may use ({allowed:?}): UDP worker {i} of each listener gets no datagrams; set dns.udp-workers to at most the number of CPUs",
                        i % n.max(1)
                    );
                }
                cpus
            }
            None => Vec::new(),
        };
        let progress = progress.get(i).cloned().unwrap_or_default();
        let server = server.clone();
        let stop = stop.clone();
        let exited = exited.clone();
        let local = sock.local_addr()?;
        let h = std::thread::Builder::new().name(format!("udp-{i}")).spawn(move || {
            #[cfg(target_os = "linux")]
            if let Err(e) = super::affinity::pin_current_thread(&cpus) {
                tracing::warn!("dns.socket-affinity: UDP worker {i} not pinned to CPUs {cpus:?}: {e}");
            }
            let result = worker(&sock, &server, &stop, &progress);
            if !stop.load(Ordering::Relaxed) {
                let why = match result {
                    Ok(()) => "stopped".to_string(),
                    Err(e) => e.to_string(),
                };
                let _ = exited.send(format!("UDP listener {local} worker {i} exited: {why}"));
            }
        })?;
        handles.push(h);
    }
    Ok(handles)
}

/// Answers one request, containing any panic to that request. The source
/// address is only worked out for the requests that need it (NOTIFY, which
/// is checked against it, and refusals summarised per source).
#[inline]
fn answer(server: &Server, req: &[u8], peer: impl FnOnce() -> Option<SocketAddr>, out: &mut [u8]) -> usize {
    match catch_unwind(AssertUnwindSafe(|| server.handle_with(req, Transport::Udp, peer, out))) {
        Ok(n) => n,
        Err(_) => {
            server.counters.panics.fetch_add(1, Ordering::Relaxed);
            0
        }
    }
}

#[cfg(target_os = "linux")]
fn worker(sock: &UdpSocket, server: &Server, stop: &AtomicBool, progress: &AtomicU64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    let mut req = vec![0u8; BATCH * MAX_REQUEST];
    let mut resp = vec![0u8; BATCH * RESPONSE_SLOT];
    // SAFETY: these are plain C structs for which all-zero is a valid value.
    let mut addrs: Vec<libc::sockaddr_storage> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut iov_in: Vec<libc::iovec> = vec![
        libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0
        };
        BATCH
    ];
    let mut iov_out: Vec<libc::iovec> = iov_in.clone();
    let mut hdr_in: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut hdr_out: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    // Bound to a wildcard address: answer from the address the query was
    // sent to (IP_PKTINFO / IPV6_PKTINFO), as anycast needs.
    let wildcard = sock.local_addr()?.ip().is_unspecified();
    let mut ctrl_in = vec![[0u64; pktinfo::CTRL_WORDS]; BATCH];
    let mut ctrl_out = vec![[0u64; pktinfo::CTRL_WORDS]; BATCH];
    loop {
        progress.fetch_add(1, Ordering::Release);
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        for i in 0..BATCH {
            iov_in[i].iov_base = req[i * MAX_REQUEST..].as_mut_ptr().cast();
            iov_in[i].iov_len = MAX_REQUEST;
            let h = &mut hdr_in[i].msg_hdr;
            h.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut iov_in[i];
            h.msg_iovlen = 1;
            if wildcard {
                h.msg_control = ctrl_in[i].as_mut_ptr().cast();
                h.msg_controllen = std::mem::size_of_val(&ctrl_in[i]) as _;
            } else {
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
            }
            h.msg_flags = 0;
            hdr_in[i].msg_len = 0;
        }
        // SAFETY: every header points at live buffers of the stated sizes.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdr_in.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => continue,
                _ if err.raw_os_error() == Some(libc::ECONNREFUSED) => continue,
                _ => return Err(err),
            }
        }
        let mut out_count = 0usize;
        for i in 0..n as usize {
            if hdr_in[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                server.counters.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let len = (hdr_in[i].msg_len as usize).min(MAX_REQUEST);
            let request = &req[i * MAX_REQUEST..i * MAX_REQUEST + len];
            let out = &mut resp[out_count * RESPONSE_SLOT..(out_count + 1) * RESPONSE_SLOT];
            let storage = &addrs[i];
            let peer = || sockaddr_to_std(storage);
            let rlen = answer(server, request, peer, out);
            if rlen == 0 {
                continue;
            }
            iov_out[out_count].iov_base = out.as_mut_ptr().cast();
            iov_out[out_count].iov_len = rlen;
            let h = &mut hdr_out[out_count].msg_hdr;
            h.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = hdr_in[i].msg_hdr.msg_namelen;
            h.msg_iov = &mut iov_out[out_count];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            if wildcard {
                // SAFETY: the input header's control buffer was filled by the
                // kernel within its stated length; the output buffer is ours.
                let n = unsafe { pktinfo::reply_control(&hdr_in[i].msg_hdr, &mut ctrl_out[out_count]) };
                if n > 0 {
                    h.msg_control = ctrl_out[out_count].as_mut_ptr().cast();
                    h.msg_controllen = n as _;
                }
            }
            h.msg_flags = 0;
            out_count += 1;
        }
        let mut sent = 0usize;
        while sent < out_count {
            // SAFETY: headers [sent, out_count) point at live buffers.
            let r = unsafe { libc::sendmmsg(fd, hdr_out[sent..].as_mut_ptr(), (out_count - sent) as libc::c_uint, 0) };
            if r <= 0 {
                // Skip the message that failed (e.g. unreachable destination).
                sent += 1;
                server.counters.dropped.fetch_add(1, Ordering::Relaxed);
            } else {
                sent += r as usize;
            }
        }
    }
}

/// The socket address the kernel stored for a datagram.
#[cfg(target_os = "linux")]
fn sockaddr_to_std(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: ss_family says the storage holds a sockaddr_in.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read_unaligned((ss as *const libc::sockaddr_storage).cast()) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: ss_family says the storage holds a sockaddr_in6.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read_unaligned((ss as *const libc::sockaddr_storage).cast()) };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::from((ip, u16::from_be(sin6.sin6_port))))
        }
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
fn worker(sock: &UdpSocket, server: &Server, stop: &AtomicBool, progress: &AtomicU64) -> io::Result<()> {
    let mut req = vec![0u8; MAX_REQUEST];
    let mut resp = vec![0u8; RESPONSE_SLOT];
    loop {
        progress.fetch_add(1, Ordering::Release);
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        match sock.recv_from(&mut req) {
            Ok((len, peer)) => {
                let rlen = answer(server, &req[..len], || Some(peer), &mut resp);
                if rlen > 0 {
                    let _ = sock.send_to(&resp[..rlen], peer);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Destination-address handling for sockets bound to a wildcard address.
#[cfg(target_os = "linux")]
mod pktinfo {
    use std::io;
    use std::os::fd::AsRawFd;

    /// Control buffer size in 8-byte words (room for one pktinfo message).
    pub const CTRL_WORDS: usize = 8;

    /// Asks the kernel for each datagram's destination address.
    pub fn enable(sock: &socket2::Socket, v6: bool) -> io::Result<()> {
        let on: libc::c_int = 1;
        let (level, name) = if v6 {
            (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)
        } else {
            (libc::IPPROTO_IP, libc::IP_PKTINFO)
        };
        // SAFETY: a valid socket and a c_int option value of the right size.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                level,
                name,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Builds the control message that makes a reply leave from the address
    /// the request arrived at. Returns its length (0: none found).
    ///
    /// # Safety
    /// `req` must be a header filled by `recvmmsg` whose control buffer is
    /// still alive.
    pub unsafe fn reply_control(req: &libc::msghdr, out: &mut [u64; CTRL_WORDS]) -> usize {
        // SAFETY: walking the kernel-filled control buffer with the libc
        // macros, within msg_controllen; writes stay within `out`.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(req);
            while !cmsg.is_null() {
                let c = &*cmsg;
                let data = libc::CMSG_DATA(cmsg);
                if c.cmsg_level == libc::IPPROTO_IP && c.cmsg_type == libc::IP_PKTINFO {
                    let mut info: libc::in_pktinfo = std::ptr::read_unaligned(data.cast());
                    info.ipi_spec_dst = info.ipi_addr;
                    info.ipi_ifindex = 0;
                    return write(out, libc::IPPROTO_IP, libc::IP_PKTINFO, &info);
                }
                if c.cmsg_level == libc::IPPROTO_IPV6 && c.cmsg_type == libc::IPV6_PKTINFO {
                    let info: libc::in6_pktinfo = std::ptr::read_unaligned(data.cast());
                    return write(out, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &info);
                }
                cmsg = libc::CMSG_NXTHDR(req, cmsg);
            }
        }
        0
    }

    /// Writes one control message holding `value` into `out`.
    unsafe fn write<T>(out: &mut [u64; CTRL_WORDS], level: libc::c_int, kind: libc::c_int, value: &T) -> usize {
        // SAFETY: CMSG_SPACE of a pktinfo struct fits in CTRL_WORDS * 8
        // bytes (checked), and the header is written within `out`.
        unsafe {
            let space = libc::CMSG_SPACE(std::mem::size_of::<T>() as u32) as usize;
            if space > CTRL_WORDS * 8 {
                return 0;
            }
            out.fill(0);
            let hdr = out.as_mut_ptr().cast::<libc::cmsghdr>();
            (*hdr).cmsg_level = level;
            (*hdr).cmsg_type = kind;
            (*hdr).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<T>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(hdr).cast::<T>(), std::ptr::read(value));
            space
        }
    }
}

//! The BFD sockets: receive sockets that report each datagram's TTL / hop
//! limit (IP_RECVTTL, IPV6_RECVHOPLIMIT, read with `recvmsg` and its
//! control messages), and per-session transmit sockets with TTL 255 and a
//! source port from 49152-65535 (RFC 5881 4).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, Socket, Type};

/// The source port range of RFC 5881 4.
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

fn set_int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: fd is an open socket; the option value is a c_int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A non-blocking UDP socket bound to the wildcard address of a family on
/// `port`, reporting the TTL (hop limit) of every datagram.
pub fn receive_socket(v6: bool, port: u16) -> io::Result<Socket> {
    let (domain, ip) = if v6 {
        (Domain::IPV6, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
    } else {
        (Domain::IPV4, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if v6 {
        s.set_only_v6(true)?;
        set_int_opt(s.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
    } else {
        set_int_opt(s.as_raw_fd(), libc::IPPROTO_IP, libc::IP_RECVTTL, 1)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::new(ip, port).into())?;
    Ok(s)
}

/// One datagram: its length, source and TTL (None if the kernel gave none).
pub struct Datagram {
    pub len: usize,
    pub source: SocketAddr,
    pub ttl: Option<u8>,
}

/// `recvmsg` into `buf`, with the TTL from the control messages. Would
/// block -> `ErrorKind::WouldBlock`.
pub fn recv_with_ttl(fd: RawFd, buf: &mut [u8]) -> io::Result<Datagram> {
    // SAFETY: all-zero is a valid sockaddr_storage and msghdr.
    let mut name: libc::sockaddr_storage = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // u64 for the alignment cmsghdr needs; room for a few int messages
    let mut control = [0u64; 16];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at live buffers of the sizes it states.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut ttl = None;
    // SAFETY: the kernel filled msg_control up to msg_controllen; the CMSG
    // macros walk it within those bounds.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let h = &*c;
            let hit = (h.cmsg_level == libc::IPPROTO_IP && h.cmsg_type == libc::IP_TTL)
                || (h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_HOPLIMIT);
            if hit && h.cmsg_len as usize >= libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as usize {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                ttl = u8::try_from(v).ok();
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    let source = sockaddr(&name).ok_or_else(|| io::Error::other("datagram from a non-IP address"))?;
    Ok(Datagram {
        len: n as usize,
        source,
        ttl,
    })
}

fn sockaddr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// A transmit socket for a session: bound to `local` (or the wildcard of
/// the remote's family) on the first free port of 49152-65535 from
/// `start`, TTL / hop limit 255.
pub fn transmit_socket(remote: IpAddr, local: Option<IpAddr>, start: u16) -> io::Result<std::net::UdpSocket> {
    let v6 = remote.is_ipv6();
    let ip = local.unwrap_or(if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    if ip.is_ipv6() != v6 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("local address {ip} is not of the family of {remote}"),
        ));
    }
    let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
    let mut last = None;
    for i in 0..span {
        let port = SOURCE_PORTS.start() + ((u32::from(start) + i) % span) as u16;
        let s = Socket::new(
            if v6 { Domain::IPV6 } else { Domain::IPV4 },
            Type::DGRAM,
            Some(Protocol::UDP),
        )?;
        if v6 {
            s.set_only_v6(true)?;
            s.set_unicast_hops_v6(255)?;
        } else {
            s.set_ttl_v4(255)?;
        }
        match s.bind(&SocketAddr::new(ip, port).into()) {
            Ok(()) => {
                s.set_nonblocking(true)?;
                return Ok(s.into());
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free source port")))
}

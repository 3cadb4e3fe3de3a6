//! The session socket options no crate offers, so this is the one
//! `unsafe` module of the BGP speaker:
//!
//! - TCP-MD5 signatures (RFC 2385) through the Linux `TCP_MD5SIG` option:
//!   a `#[repr(C)]` copy of the kernel's `struct tcp_md5sig` and one
//!   `setsockopt` call ([`set_key`]);
//! - the minimum TTL of GTSM (RFC 5082), `IP_MINTTL` and
//!   `IPV6_MINHOPCOUNT` ([`set_min_ttl`]): the kernel drops every segment
//!   of the connection that arrives with a lower TTL or hop limit,
//!   the SYN-ACK of a connect included.
//!
//! The key is bound to the peer's address: every segment to or from that
//! address is signed and checked. A segment with a wrong or missing
//! signature is dropped by the kernel without a trace on the wire, so a
//! password mismatch looks like a peer that never answers the SYN.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

/// The kernel's key length limit (`TCP_MD5SIG_MAXKEYLEN`).
pub const MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` from `<linux/tcp.h>`.
#[cfg(target_os = "linux")]
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MAX_KEY_LEN],
}

/// Sets (or with an empty `key`, removes) the TCP-MD5 key for `peer` on
/// `socket`. For an active connection, set it before `connect`.
#[cfg(target_os = "linux")]
pub fn set_key(socket: &impl AsRawFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TCP-MD5 key of {} octets (at most {MAX_KEY_LEN})", key.len()),
        ));
    }
    // SAFETY: all-zero bytes are a valid value for this plain C struct
    // (integers and byte arrays only).
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    let storage = &mut sig.addr as *mut libc::sockaddr_storage;
    match peer {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in; the pointer comes from a live, exclusive borrow.
            let sin = unsafe { &mut *(storage as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
        }
        IpAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(storage as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = a.octets();
        }
    }
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key);
    // SAFETY: the fd is open (borrowed for the call); the option value
    // points to a live struct of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            (&sig as *const TcpMd5Sig).cast::<libc::c_void>(),
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
pub fn set_key(_socket: &impl AsRawFd, _peer: IpAddr, _key: &[u8]) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "TCP-MD5 is only implemented on Linux",
    ))
}

/// GTSM: segments arriving with a TTL (hop limit) below `min` are
/// dropped by the kernel. Set before `connect` (or on a listener, for the
/// connections it accepts).
#[cfg(target_os = "linux")]
pub fn set_min_ttl(socket: &impl AsRawFd, ipv6: bool, min: u8) -> io::Result<()> {
    let (level, name) = if ipv6 {
        (libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT)
    } else {
        (libc::IPPROTO_IP, libc::IP_MINTTL)
    };
    let value = libc::c_int::from(min);
    // SAFETY: the fd is open (borrowed for the call); the value is a live
    // c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast::<libc::c_void>(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
pub fn set_min_ttl(_socket: &impl AsRawFd, _ipv6: bool, _min: u8) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "TTL security (GTSM) is only implemented on Linux",
    ))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr, TcpListener};
    use std::time::Duration;

    use socket2::{Domain, Socket, Type};

    #[test]
    fn struct_matches_the_kernel() {
        // 128 (sockaddr_storage) + 1 + 1 + 2 + 4 + 80
        assert_eq!(std::mem::size_of::<TcpMd5Sig>(), 216);
    }

    fn listener(key: Option<&[u8]>) -> TcpListener {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        if let Some(k) = key {
            set_key(&s, IpAddr::V4(Ipv4Addr::LOCALHOST), k).unwrap();
        }
        s.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into()).unwrap();
        s.listen(4).unwrap();
        s.into()
    }

    fn connect(to: SocketAddr, key: Option<&[u8]>) -> io::Result<()> {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        if let Some(k) = key {
            set_key(&s, to.ip(), k)?;
        }
        s.connect_timeout(&to.into(), Duration::from_millis(700))
    }

    #[test]
    fn same_key_connects() {
        let l = listener(Some(b"s3cret"));
        connect(l.local_addr().unwrap(), Some(b"s3cret")).unwrap();
    }

    #[test]
    fn wrong_or_missing_key_is_silently_dropped() {
        let l = listener(Some(b"s3cret"));
        let addr = l.local_addr().unwrap();
        let e = connect(addr, Some(b"other")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        let e = connect(addr, None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        // A signed SYN to a listener without a key is dropped too.
        let plain = listener(None);
        let e = connect(plain.local_addr().unwrap(), Some(b"s3cret")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    }

    #[test]
    fn ipv6_and_limits() {
        let s = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
        set_key(&s, "2001:db8::1".parse().unwrap(), &[7u8; MAX_KEY_LEN]).unwrap();
        // Removing a key: an empty key.
        set_key(&s, "2001:db8::1".parse().unwrap(), b"").unwrap();
        let e = set_key(&s, "2001:db8::1".parse().unwrap(), &[7u8; MAX_KEY_LEN + 1]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        // An IPv4 key on an IPv6 socket is refused by the kernel.
        assert!(set_key(&s, IpAddr::V4(Ipv4Addr::LOCALHOST), b"k").is_err());
    }

    #[test]
    fn min_ttl_drops_what_arrives_lower() {
        // On loopback a segment arrives with the TTL it was sent with.
        let l = listener(None);
        let addr = l.local_addr().unwrap();
        let send_with = |ttl: u32, min: u8| -> io::Result<()> {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            s.set_ttl_v4(ttl)?;
            set_min_ttl(&s, false, min)?;
            s.connect_timeout(&addr.into(), Duration::from_millis(700))
        };
        // Our SYN goes out with TTL 64; the listener's SYN-ACK comes back
        // with the default TTL (64), below 255: dropped, the connect times out.
        let e = send_with(255, 255).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        send_with(255, 64).unwrap();
        let s6 = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
        set_min_ttl(&s6, true, 255).unwrap();
    }
}

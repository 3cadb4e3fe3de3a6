//! CPU-local UDP steering (`dns.socket-affinity`, as Knot's
//! `server.socket-affinity`): a classic BPF program on the SO_REUSEPORT group
//! hands each datagram to the socket whose index is the receiving CPU modulo
//! the number of sockets, and worker `i` is pinned to the CPUs `c` with
//! `c % n == i`. A datagram is then answered on the CPU whose softirq took
//! it in: no cross-CPU wake-up, warm caches. Off by default: on a machine
//! whose network card has fewer receive queues than workers, it puts all
//! traffic on the few CPUs that take interrupts.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

/// SO_ATTACH_REUSEPORT_CBPF (asm-generic/socket.h; not exported by libc
/// for Linux). Its value differs only on MIPS, PARISC and SPARC.
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

/// Attaches "socket index = CPU % `sockets`" to the reuseport group of
/// `sock` (any member of the group; it applies to the whole group, whose
/// indices are the order the sockets were bound in).
pub fn steer_by_cpu(sock: &UdpSocket, sockets: usize) -> io::Result<()> {
    let insn = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let mut program = [
        // A = the CPU this packet is processed on
        insn(
            libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
            (libc::SKF_AD_OFF + libc::SKF_AD_CPU) as u32,
        ),
        // A %= number of sockets
        insn(libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K, sockets.max(1) as u32),
        // return A: the index of the socket in the group
        insn(libc::BPF_RET | libc::BPF_A, 0),
    ];
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: fprog points at a live program of the stated length; the
    // kernel copies it before returning.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// The CPUs worker `index` of `workers` runs on: those `c` of the CPUs this
/// process may use with `c % workers == index`. Empty when there are none
/// (more workers than CPUs): that worker is left unpinned.
pub fn cpus_of(index: usize, workers: usize, allowed: &[usize]) -> Vec<usize> {
    allowed
        .iter()
        .copied()
        .filter(|c| c % workers.max(1) == index)
        .collect()
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is a plain bit set; all-zero is valid.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the set is live and its size is given.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: reading bits of an initialised set within CPU_SETSIZE.
    Ok((0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

/// Pins the calling thread to `cpus` (nothing done when it is empty).
pub fn pin_current_thread(cpus: &[usize]) -> io::Result<()> {
    if cpus.is_empty() {
        return Ok(());
    }
    // SAFETY: as above.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: c < CPU_SETSIZE: it came from allowed_cpus.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: the set is live and its size is given; 0 is this thread.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_split_the_cpus_by_remainder() {
        let all = [0, 1, 2, 3, 4, 5];
        assert_eq!(cpus_of(0, 2, &all), vec![0, 2, 4]);
        assert_eq!(cpus_of(1, 2, &all), vec![1, 3, 5]);
        // more workers than CPUs: the extra ones stay unpinned
        assert!(cpus_of(3, 4, &[0, 1]).is_empty());
    }

    #[test]
    fn the_program_attaches_to_a_reuseport_group() {
        let socks = crate::dns::udp::bind("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        steer_by_cpu(&socks[0], socks.len()).unwrap();
    }
}

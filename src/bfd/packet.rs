//! The BFD Control packet (RFC 5880 4.1): decoding with the reception
//! checks of 6.8.6's first paragraph, each refusal a typed error, and
//! encoding. No authentication section is ever produced; a packet that
//! carries one is refused ([`DecodeError::Authenticated`]) since pharos has
//! no key configured (6.8.6: A set and bfd.AuthType zero: discard).
//!
//! Intervals travel as microseconds on the wire; [`Packet`] keeps them as
//! such (`u32`) so that an accepted packet encodes back to its own octets.

use std::fmt;
use std::time::Duration;

/// The length of a Control packet without authentication.
pub const PACKET_LEN: usize = 24;

/// Session states (RFC 5880 4.1, 6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    AdminDown,
    Down,
    Init,
    Up,
}

impl State {
    pub fn from_bits(b: u8) -> State {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    pub fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Diagnostic codes (RFC 5880 4.1); 9-31 are unassigned and kept as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diag {
    None,
    /// 1: Control Detection Time Expired.
    DetectionExpired,
    /// 2: Echo Function Failed.
    EchoFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborDown,
    /// 4: Forwarding Plane Reset.
    ForwardingReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdminDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9-31: unassigned.
    Unassigned(u8),
}

impl Diag {
    pub fn from_bits(b: u8) -> Diag {
        match b & 0x1f {
            0 => Diag::None,
            1 => Diag::DetectionExpired,
            2 => Diag::EchoFailed,
            3 => Diag::NeighborDown,
            4 => Diag::ForwardingReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdminDown,
            8 => Diag::ReverseConcatenatedPathDown,
            n => Diag::Unassigned(n),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::DetectionExpired => 1,
            Diag::EchoFailed => 2,
            Diag::NeighborDown => 3,
            Diag::ForwardingReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdminDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Unassigned(n) => n & 0x1f,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Diag::None => "none",
            Diag::DetectionExpired => "control detection time expired",
            Diag::EchoFailed => "echo function failed",
            Diag::NeighborDown => "neighbor signaled session down",
            Diag::ForwardingReset => "forwarding plane reset",
            Diag::PathDown => "path down",
            Diag::ConcatenatedPathDown => "concatenated path down",
            Diag::AdminDown => "administratively down",
            Diag::ReverseConcatenatedPathDown => "reverse concatenated path down",
            Diag::Unassigned(_) => "unassigned",
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// A Control packet without its (never accepted) authentication section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub diag: Diag,
    pub state: State,
    /// P: Poll.
    pub poll: bool,
    /// F: Final.
    pub final_: bool,
    /// C: Control Plane Independent.
    pub cpi: bool,
    /// D: Demand (we never set it; a peer's is kept but ignored).
    pub demand: bool,
    pub detect_mult: u8,
    pub my_discr: u32,
    pub your_discr: u32,
    /// Microseconds.
    pub desired_min_tx: u32,
    /// Microseconds.
    pub required_min_rx: u32,
    /// Microseconds; ours is always 0 (no Echo function).
    pub required_min_echo_rx: u32,
}

/// Why a received datagram was refused (RFC 5880 6.8.6, first paragraph).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer octets than a Control packet (24).
    Short(usize),
    /// Version field not 1.
    Version(u8),
    /// Length field below 24 (26 with the A bit).
    LengthTooSmall(u8),
    /// Length field beyond the UDP payload.
    LengthBeyondPayload { length: u8, payload: usize },
    /// Detect Mult zero.
    DetectMultZero,
    /// Multipoint (M) bit set.
    Multipoint,
    /// My Discriminator zero.
    MyDiscrZero,
    /// Your Discriminator zero while the state is Init or Up.
    YourDiscrZero(State),
    /// A bit set: we have no authentication configured.
    Authenticated,
}

impl DecodeError {
    /// A short label for counters and logs.
    pub fn reason(self) -> &'static str {
        match self {
            DecodeError::Short(_) => "short",
            DecodeError::Version(_) => "version",
            DecodeError::LengthTooSmall(_) => "length too small",
            DecodeError::LengthBeyondPayload { .. } => "length beyond payload",
            DecodeError::DetectMultZero => "detect mult zero",
            DecodeError::Multipoint => "multipoint",
            DecodeError::MyDiscrZero => "my discriminator zero",
            DecodeError::YourDiscrZero(_) => "your discriminator zero",
            DecodeError::Authenticated => "authentication",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Short(n) => write!(f, "{n} octets, a control packet has at least 24"),
            DecodeError::Version(v) => write!(f, "version {v}, not 1"),
            DecodeError::LengthTooSmall(l) => write!(f, "length field {l} below the minimum"),
            DecodeError::LengthBeyondPayload { length, payload } => {
                write!(f, "length field {length} beyond the {payload}-octet payload")
            }
            DecodeError::DetectMultZero => f.write_str("detect mult 0"),
            DecodeError::Multipoint => f.write_str("multipoint bit set"),
            DecodeError::MyDiscrZero => f.write_str("my discriminator 0"),
            DecodeError::YourDiscrZero(s) => write!(f, "your discriminator 0 in state {s}"),
            DecodeError::Authenticated => f.write_str("authentication present, none configured"),
        }
    }
}

impl std::error::Error for DecodeError {}

const FLAG_P: u8 = 0x20;
const FLAG_F: u8 = 0x10;
const FLAG_C: u8 = 0x08;
const FLAG_A: u8 = 0x04;
const FLAG_D: u8 = 0x02;
const FLAG_M: u8 = 0x01;

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Packet {
    /// Decodes a UDP payload, applying 6.8.6's checks in the RFC's order
    /// (the A bit last: its length minimum is checked with the others).
    pub fn decode(buf: &[u8]) -> Result<Packet, DecodeError> {
        if buf.len() < PACKET_LEN {
            return Err(DecodeError::Short(buf.len()));
        }
        let version = buf[0] >> 5;
        if version != 1 {
            return Err(DecodeError::Version(version));
        }
        let flags = buf[1] & 0x3f;
        let length = buf[3];
        let min = if flags & FLAG_A != 0 { 26 } else { 24 };
        if usize::from(length) < min {
            return Err(DecodeError::LengthTooSmall(length));
        }
        if usize::from(length) > buf.len() {
            return Err(DecodeError::LengthBeyondPayload {
                length,
                payload: buf.len(),
            });
        }
        let detect_mult = buf[2];
        if detect_mult == 0 {
            return Err(DecodeError::DetectMultZero);
        }
        if flags & FLAG_M != 0 {
            return Err(DecodeError::Multipoint);
        }
        let my_discr = be32(buf, 4);
        if my_discr == 0 {
            return Err(DecodeError::MyDiscrZero);
        }
        let your_discr = be32(buf, 8);
        let state = State::from_bits(buf[1] >> 6);
        if your_discr == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(DecodeError::YourDiscrZero(state));
        }
        if flags & FLAG_A != 0 {
            return Err(DecodeError::Authenticated);
        }
        Ok(Packet {
            diag: Diag::from_bits(buf[0]),
            state,
            poll: flags & FLAG_P != 0,
            final_: flags & FLAG_F != 0,
            cpi: flags & FLAG_C != 0,
            demand: flags & FLAG_D != 0,
            detect_mult,
            my_discr,
            your_discr,
            desired_min_tx: be32(buf, 12),
            required_min_rx: be32(buf, 16),
            required_min_echo_rx: be32(buf, 20),
        })
    }

    /// The 24 octets of the packet (version 1, no authentication).
    pub fn encode(&self) -> [u8; PACKET_LEN] {
        let mut b = [0u8; PACKET_LEN];
        b[0] = (1 << 5) | self.diag.code();
        let mut flags = 0;
        for (set, bit) in [
            (self.poll, FLAG_P),
            (self.final_, FLAG_F),
            (self.cpi, FLAG_C),
            (self.demand, FLAG_D),
        ] {
            if set {
                flags |= bit;
            }
        }
        b[1] = (self.state.bits() << 6) | flags;
        b[2] = self.detect_mult;
        b[3] = PACKET_LEN as u8;
        b[4..8].copy_from_slice(&self.my_discr.to_be_bytes());
        b[8..12].copy_from_slice(&self.your_discr.to_be_bytes());
        b[12..16].copy_from_slice(&self.desired_min_tx.to_be_bytes());
        b[16..20].copy_from_slice(&self.required_min_rx.to_be_bytes());
        b[20..24].copy_from_slice(&self.required_min_echo_rx.to_be_bytes());
        b
    }
}

/// Microseconds on the wire, saturating at `u32::MAX` (about 71 minutes).
pub fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// A wire interval as a duration.
pub fn duration(us: u32) -> Duration {
    Duration::from_micros(u64::from(us))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Packet {
        Packet {
            diag: Diag::None,
            state: State::Up,
            poll: true,
            final_: false,
            cpi: false,
            demand: false,
            detect_mult: 3,
            my_discr: 0x0102_0304,
            your_discr: 0x0a0b_0c0d,
            desired_min_tx: 300_000,
            required_min_rx: 300_000,
            required_min_echo_rx: 0,
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let p = sample();
        let b = p.encode();
        assert_eq!(
            b,
            [
                0x20, 0xe0, 3, 24, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0, 4, 0x93, 0xe0, 0, 4, 0x93, 0xe0, 0, 0, 0, 0
            ]
        );
        assert_eq!(Packet::decode(&b), Ok(p));
        // trailing octets beyond the length field are allowed
        let mut long = b.to_vec();
        long.extend_from_slice(&[9, 9]);
        assert_eq!(Packet::decode(&long), Ok(p));
    }

    #[test]
    fn every_check_refuses_with_its_error() {
        let good = sample().encode();
        let with = |f: &dyn Fn(&mut [u8; 24])| {
            let mut b = good;
            f(&mut b);
            Packet::decode(&b)
        };
        assert_eq!(Packet::decode(&good[..23]), Err(DecodeError::Short(23)));
        assert_eq!(with(&|b| b[0] = (2 << 5) | (b[0] & 0x1f)), Err(DecodeError::Version(2)));
        assert_eq!(with(&|b| b[0] &= 0x1f), Err(DecodeError::Version(0)));
        assert_eq!(with(&|b| b[3] = 23), Err(DecodeError::LengthTooSmall(23)));
        assert_eq!(
            with(&|b| b[3] = 25),
            Err(DecodeError::LengthBeyondPayload {
                length: 25,
                payload: 24
            })
        );
        // A bit: the minimum is 26, and even then we refuse it
        assert_eq!(with(&|b| b[1] |= FLAG_A), Err(DecodeError::LengthTooSmall(24)));
        let mut auth = good.to_vec();
        auth.extend_from_slice(&[1, 2]);
        auth[1] |= FLAG_A;
        auth[3] = 26;
        assert_eq!(Packet::decode(&auth), Err(DecodeError::Authenticated));
        assert_eq!(with(&|b| b[2] = 0), Err(DecodeError::DetectMultZero));
        assert_eq!(with(&|b| b[1] |= FLAG_M), Err(DecodeError::Multipoint));
        assert_eq!(with(&|b| b[4..8].fill(0)), Err(DecodeError::MyDiscrZero));
        assert_eq!(with(&|b| b[8..12].fill(0)), Err(DecodeError::YourDiscrZero(State::Up)));
        let init = |b: &mut [u8; 24]| {
            b[8..12].fill(0);
            b[1] = (State::Init.bits() << 6) | (b[1] & 0x3f);
        };
        assert_eq!(with(&init), Err(DecodeError::YourDiscrZero(State::Init)));
        // your discriminator 0 is fine in Down and AdminDown
        for s in [State::Down, State::AdminDown] {
            let p = with(&|b| {
                b[8..12].fill(0);
                b[1] = (s.bits() << 6) | (b[1] & 0x3f);
            });
            assert_eq!(p.map(|p| (p.state, p.your_discr)), Ok((s, 0)));
        }
    }

    #[test]
    fn diag_and_state_codes() {
        for c in 0..32u8 {
            assert_eq!(Diag::from_bits(c).code(), c);
        }
        for s in 0..4u8 {
            assert_eq!(State::from_bits(s).bits(), s);
        }
        assert_eq!(Diag::from_bits(3), Diag::NeighborDown);
        assert_eq!(micros(Duration::from_millis(300)), 300_000);
        assert_eq!(micros(Duration::from_secs(u64::MAX / 4)), u32::MAX);
    }
}

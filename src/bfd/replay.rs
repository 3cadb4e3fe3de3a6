//! Drives one BFD session from a byte string, with no sockets and a
//! simulated clock: the fuzz target (`fuzz/fuzz_targets/bfd.rs`) and the
//! replay of its inputs in `cargo test` share it.
//!
//! Input layout: octet 0 picks the configuration (bits 0-1 the interval
//! 10/50/300/1000 ms, bits 2-3 the multiplier 1/2/3/5, bit 4 AdminDown
//! before the start), then operations, one octet each plus operands:
//!
//! | op % 8 | operation |
//! | --- | --- |
//! | 0 | the transmit timer fires (if armed) |
//! | 1 | the detection timer fires (if armed) |
//! | 2 | time passes: the next octet x 4 ms |
//! | 3 | local AdminDown |
//! | 4 | Start |
//! | 5 | new parameters: the next octet, read like octet 0 |
//! | 6 | a packet from the peer made of 4 octets: state (bits 0-1), P, F, D, C (bits 2-5), Your Discriminator (bits 6-7: 0, ours, ours, another); detect mult; DesiredMinTx and RequiredMinRx as indexes into a table (0, 1 µs, 10 ms ... u32::MAX) |
//! | 7 | raw packet: a length octet (mod 64) and that many octets |
//!
//! Every packet is encoded and goes through `Packet::decode` as from the
//! network. Checked: an accepted packet encodes back to its own octets
//! (the length field aside when it exceeded 24); every packet the session
//! sends decodes to itself and never carries both P and F, nor D; the
//! transmit interval is at least one second whenever the session is not
//! Up; a detection timer is armed whenever it is Init or Up; only the
//! transitions of RFC 5880 6.8.6 happen; no timer is armed at zero.
//! Violations are returned as `Err`, never panics.

use std::time::{Duration, Instant};

use super::fsm::{Action, Config, Event, SLOW_TX, Session};
use super::packet::{Diag, Packet, State};

const PEER_DISCR: u32 = 0x7e7e_7e7e;
const OUR_DISCR: u32 = 0x0102_0304;
const INTERVALS: [u32; 8] = [0, 1, 10_000, 50_000, 300_000, 1_000_000, 2_000_000, u32::MAX];

/// What a replay did, for tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replay {
    pub packets_accepted: usize,
    pub packets_refused: usize,
    pub sent: usize,
    pub transitions: usize,
    pub reached_up: bool,
}

fn config(b: u8) -> Config {
    let iv = Duration::from_millis([10, 50, 300, 1000][usize::from(b & 3)]);
    Config {
        desired_min_tx: iv,
        required_min_rx: iv,
        detect_mult: [1, 2, 3, 5][usize::from((b >> 2) & 3)],
    }
}

fn legal(from: State, to: State) -> bool {
    use State::*;
    matches!(
        (from, to),
        (Down, Init)
            | (Down, Up)
            | (Init, Up)
            | (Init, Down)
            | (Up, Down)
            | (Down | Init | Up, AdminDown)
            | (AdminDown, Down)
    )
}

struct Driver {
    s: Session,
    now: Instant,
    tx_armed: bool,
    detect_armed: bool,
    r: Replay,
}

impl Driver {
    fn run(&mut self, ev: Event) -> Result<(), String> {
        let before = self.s.state();
        let actions = self.s.handle(self.now, ev.clone());
        let mut state = before;
        let mut slow_arm = None;
        for a in &actions {
            match a {
                Action::Send(p) => {
                    self.r.sent += 1;
                    let bytes = p.encode();
                    if Packet::decode(&bytes) != Ok(*p) {
                        return Err(format!("sent {p:?} does not decode to itself"));
                    }
                    if (p.poll && p.final_) || p.demand {
                        return Err(format!("sent P and F together, or D: {p:?}"));
                    }
                }
                Action::ArmTx(d) => {
                    if d.is_zero() {
                        return Err("tx timer armed at 0".into());
                    }
                    self.tx_armed = true;
                    slow_arm = Some(*d);
                }
                Action::DisarmTx => self.tx_armed = false,
                Action::ArmDetect(d) => {
                    if d.is_zero() {
                        return Err("detect timer armed at 0".into());
                    }
                    self.detect_armed = true;
                }
                Action::DisarmDetect => self.detect_armed = false,
                Action::StateChanged { from, to, .. } => {
                    if *from != state || !legal(*from, *to) {
                        return Err(format!("transition {from} -> {to} (state was {state}) on {ev:?}"));
                    }
                    state = *to;
                    self.r.transitions += 1;
                    self.r.reached_up |= *to == State::Up;
                }
            }
        }
        if state != self.s.state() {
            return Err(format!("state {} but transitions end at {state}", self.s.state()));
        }
        if state != State::Up {
            if self.s.tx_interval().is_some_and(|iv| iv < SLOW_TX) {
                return Err(format!("tx interval {:?} in {state}", self.s.tx_interval()));
            }
            if let Some(d) = slow_arm.filter(|d| *d < SLOW_TX * 3 / 4) {
                return Err(format!("tx timer armed at {d:?} in {state}"));
            }
        }
        if matches!(state, State::Init | State::Up) && !self.detect_armed {
            return Err(format!("{state} without a detection timer after {ev:?}"));
        }
        Ok(())
    }

    /// A datagram from the peer: decoded as from the network, fed if good.
    fn datagram(&mut self, bytes: &[u8]) -> Result<(), String> {
        let Ok(p) = Packet::decode(bytes) else {
            self.r.packets_refused += 1;
            return Ok(());
        };
        let mut again = p.encode();
        if let Some(&len) = bytes.get(3) {
            again[3] = len;
        }
        if bytes.get(..24) != Some(&again[..]) {
            return Err(format!(
                "accepted {:02x?} encodes to {again:02x?}",
                &bytes[..bytes.len().min(24)]
            ));
        }
        self.r.packets_accepted += 1;
        self.run(Event::Received(p))
    }
}

/// Runs a session over `data` (see the module docs).
pub fn replay(data: &[u8]) -> Result<Replay, String> {
    let Some((&sel, mut rest)) = data.split_first() else {
        return Ok(Replay::default());
    };
    let mut d = Driver {
        s: Session::new(config(sel), OUR_DISCR, u64::from(sel)),
        now: Instant::now(),
        tx_armed: false,
        detect_armed: false,
        r: Replay::default(),
    };
    if sel & 16 != 0 {
        d.run(Event::AdminDown)?;
    }
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (a, b) = (rest.get(..n)?, rest.get(n..)?);
            rest = b;
            Some(a)
        };
        match op % 8 {
            0 if d.tx_armed => {
                d.tx_armed = false;
                d.run(Event::TxTimer)?
            }
            1 if d.detect_armed => {
                d.detect_armed = false;
                d.run(Event::DetectTimer)?
            }
            2 => {
                let Some(t) = take(1) else { break };
                d.now += Duration::from_millis(u64::from(t[0]) * 4);
            }
            3 => d.run(Event::AdminDown)?,
            4 => d.run(Event::Start)?,
            5 => {
                let Some(t) = take(1) else { break };
                d.run(Event::SetParams(config(t[0])))?
            }
            6 => {
                let Some(t) = take(4) else { break };
                let p = Packet {
                    diag: Diag::None,
                    state: State::from_bits(t[0]),
                    poll: t[0] & 4 != 0,
                    final_: t[0] & 8 != 0,
                    demand: t[0] & 16 != 0,
                    cpi: t[0] & 32 != 0,
                    detect_mult: t[1],
                    my_discr: PEER_DISCR,
                    your_discr: match t[0] >> 6 {
                        0 => 0,
                        1 | 2 => OUR_DISCR,
                        _ => 0xdead_beef,
                    },
                    desired_min_tx: INTERVALS[usize::from(t[2] % 8)],
                    required_min_rx: INTERVALS[usize::from(t[3] % 8)],
                    required_min_echo_rx: 0,
                };
                d.datagram(&p.encode())?
            }
            7 => {
                let Some(n) = take(1) else { break };
                let Some(bytes) = take(usize::from(n[0] % 64)) else {
                    break;
                };
                d.datagram(bytes)?
            }
            _ => {}
        }
    }
    Ok(d.r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inputs kept for the fuzzer (fuzz/corpus/bfd) and its regressions.
    fn inputs() -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for dir in ["fuzz/corpus/bfd", "fuzz/regressions/bfd"] {
            let dir = format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"));
            let Ok(rd) = std::fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                if let Ok(b) = std::fs::read(e.path()) {
                    out.push((e.path().display().to_string(), b));
                }
            }
        }
        out
    }

    #[test]
    fn kept_inputs_replay_cleanly() {
        let inputs = inputs();
        assert!(inputs.len() >= 3, "seeds in fuzz/corpus/bfd");
        for (name, bytes) in inputs {
            if let Err(e) = replay(&bytes) {
                panic!("{name}: {e}");
            }
        }
    }

    #[test]
    fn a_peer_brings_the_session_up_and_silence_takes_it_down() {
        // 300 ms x 3; Start; peer Down, Init, Up+F; timers; peer P; detect
        let input = [
            0x0a, 4, 6, 0x01, 3, 4, 4, 6, 0x42, 3, 4, 4, 6, 0x4b, 3, 4, 4, 0, 0, 0, 6, 0x47, 3, 4, 4, 1,
        ];
        let r = replay(&input).unwrap();
        assert!(r.reached_up);
        assert_eq!((r.packets_accepted, r.transitions), (4, 3));
    }

    #[test]
    fn the_checks_can_fail() {
        // an accepted packet with a length field of 30 in 30 octets: fine
        let mut long = vec![0x0a, 4, 7, 30];
        let mut p = Packet::decode(&[
            0x20, 0x40, 3, 24, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0,
        ])
        .unwrap()
        .encode()
        .to_vec();
        p[3] = 30;
        p.extend_from_slice(&[0; 6]);
        long.extend_from_slice(&p);
        assert_eq!(replay(&long).map(|r| r.packets_accepted), Ok(1));
        assert!(!legal(State::Down, State::Down) && !legal(State::Init, State::Init));
        assert!(!legal(State::AdminDown, State::Up) && !legal(State::Up, State::Init));
    }
}

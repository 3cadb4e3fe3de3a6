//! The connect backoff of a session: exponential with jitter, reset once a
//! session has stayed up (`fsm::STABLE_AFTER`).

use std::time::Duration;

/// First and largest connect retry delay (before jitter).
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Exponential connect backoff with jitter: the n-th delay is drawn from
/// [d/2, d] with d = min(BACKOFF_MAX, BACKOFF_MIN * 2^n).
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    rng: u64,
}

impl Backoff {
    pub fn new(seed: u64) -> Backoff {
        Backoff {
            attempt: 0,
            rng: seed | 1,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let d = BACKOFF_MIN
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(BACKOFF_MAX);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64: jitter only, not security.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let half = d.as_millis() as u64 / 2;
        Duration::from_millis(half + self.rng % (half + 1))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

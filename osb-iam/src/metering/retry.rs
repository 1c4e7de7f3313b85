//! Capped exponential backoff with jitter.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::time::Duration;

/// How often and how patiently to retry: attempt `n` (from 1) waits a random time between half
/// and all of `min(initial_delay × 2ⁿ⁻¹, max_delay)` ("equal jitter", so replicas that failed
/// together do not retry together).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use osb_iam::metering::RetryPolicy;
///
/// let policy = RetryPolicy::new()
///     .max_attempts(3)
///     .initial_delay(Duration::from_millis(100))
///     .max_delay(Duration::from_secs(1));
/// let third = policy.delay(3);
/// assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
/// assert!(policy.delay(30) <= Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_delay: Duration,
    max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryPolicy {
    /// The defaults: 5 attempts, 500 ms initial delay, 30 s cap.
    pub const fn new() -> Self {
        Self {
            max_attempts: 5,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }

    /// How many times a request is sent at most (the first try included; at least 1).
    ///
    /// Default: 5.
    pub const fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = if attempts == 0 { 1 } else { attempts };
        self
    }

    /// The delay before the first retry (before jitter).
    ///
    /// Default: 500 ms.
    pub const fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The longest delay between two attempts.
    ///
    /// Default: 30 s.
    pub const fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The configured number of attempts.
    pub const fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The cap on a delay.
    pub const fn cap(&self) -> Duration {
        self.max_delay
    }

    /// The wait after failed attempt `attempt` (1-based), jitter included.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        let ceiling = self
            .initial_delay
            .saturating_mul(1_u32 << exponent)
            .min(self.max_delay);
        let half = ceiling / 2;
        let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            random() % (spread + 1)
        };
        half + Duration::from_nanos(jitter)
    }
}

/// A random number for jitter (not for secrets): std's per-instance random hasher keys.
fn random() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x6a09_e667_f3bc_c908);
    hasher.finish()
}

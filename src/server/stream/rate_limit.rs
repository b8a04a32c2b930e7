//! Protection against abusive clients: a token bucket for message rates. (Frame sizes are
//! bounded by the WebSocket codec, connection counts by a semaphore in `AppState`.)

use tokio::time::Instant;

/// Allows `rate` events per second on average and bursts of up to `burst`.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl RateLimiter {
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        RateLimiter { rate, burst, tokens: burst, refilled: now }
    }

    /// Takes one token; false when the bucket is empty (the event is over the limit).
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn allows_bursts_then_the_sustained_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10.0, 5.0, start);
        assert!((0..5).all(|_| limiter.allow(start)), "a burst of 5 passes");
        assert!(!limiter.allow(start), "the 6th at once does not");
        // 100 ms refills one token at 10/s.
        assert!(limiter.allow(start + Duration::from_millis(100)));
        assert!(!limiter.allow(start + Duration::from_millis(100)));
        // A long pause refills only up to the burst.
        let later = start + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| limiter.allow(later)).count(), 5);
    }
}

//! The wall clock, as a dependency: update times, expiries, retention, due times and alert
//! timing all read one `Clock` handed down from `server::assemble`, so that what time the
//! server thinks it is has one definition, and a test can take it over (`Clock::manual`).
//!
//! Timers (how long to sleep, how often to tick) stay on tokio's clock: the `Clock` answers
//! "what time is it", never "wake me later". A test that moves a manual clock forward sees
//! the server act on it at its next poll or tick.

use crate::protocol::Millis;
use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

/// Where the time comes from: the system's wall clock, or a hand that tests move.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// `None`: the system clock. `Some`: milliseconds since the epoch, moved by `advance`.
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Self {
        Clock { manual: None }
    }

    /// A clock that reads `start` until `advance`d (tests).
    pub fn manual(start: Millis) -> Self {
        Clock { manual: Some(Arc::new(AtomicI64::new(start))) }
    }

    /// Milliseconds since the Unix epoch, now.
    pub fn now_millis(&self) -> Millis {
        match &self.manual {
            Some(hand) => hand.load(Ordering::Relaxed),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_millis() as Millis),
        }
    }

    /// Seconds since the Unix epoch, now (JWT time).
    pub fn now_secs(&self) -> u64 {
        (self.now_millis() / 1000).max(0) as u64
    }

    /// Moves a manual clock forward by `by`; the system clock cannot be moved (a no-op).
    pub fn advance(&self, by: Duration) {
        debug_assert!(self.manual.is_some(), "only a manual clock moves");
        if let Some(hand) = &self.manual {
            hand.fetch_add(by.as_millis() as Millis, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_reads_what_it_was_set_to_until_moved() {
        let clock = Clock::manual(1_000_000);
        let shared = clock.clone();
        assert_eq!((clock.now_millis(), clock.now_secs()), (1_000_000, 1_000));
        shared.advance(Duration::from_millis(2_500));
        assert_eq!((clock.now_millis(), clock.now_secs()), (1_002_500, 1_002));
    }

    #[test]
    fn the_system_clock_reads_the_present() {
        // 2020-09-13 in milliseconds: any machine running this is later.
        assert!(Clock::system().now_millis() > 1_600_000_000_000);
    }
}

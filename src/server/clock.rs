//! The wall clock, read in one place: update times, expiries, retention and alert timing all
//! come from here, so that what time the server thinks it is has one definition (and one
//! seam for tests to take over).

use crate::protocol::Millis;

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as Millis)
}

/// Seconds since the Unix epoch, now (JWT time).
pub fn now_secs() -> u64 {
    (now_millis() / 1000).max(0) as u64
}

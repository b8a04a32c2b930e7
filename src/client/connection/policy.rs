//! What the connection does after a session ends, as pure logic both builds compile (and unit
//! tests run without a browser): which transport to use, when to fall back to the next one,
//! how long to back off, when to give up, and which close codes mean "do not come back as you
//! are". The browser loop in `connection::run` only carries the decisions out.

/// How the page reaches the server (PROTOCOL.md): the same messages over three framings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    /// Server-Sent Events.
    Sse,
    /// Long-polling.
    Poll,
}

impl Transport {
    /// The name used in `?transport=`.
    pub fn label(self) -> &'static str {
        match self {
            Transport::WebSocket => "ws",
            Transport::Sse => "sse",
            Transport::Poll => "poll",
        }
    }

    pub fn from_label(label: &str) -> Option<Transport> {
        [Transport::WebSocket, Transport::Sse, Transport::Poll].into_iter().find(|transport| transport.label() == label)
    }

    /// What to try when this transport cannot get through at all: WebSocket, then SSE, then
    /// long-polling, which works wherever plain HTTP does.
    pub fn fallback(self) -> Option<Transport> {
        match self {
            Transport::WebSocket => Some(Transport::Sse),
            Transport::Sse => Some(Transport::Poll),
            Transport::Poll => None,
        }
    }
}

/// Whether a close code means the server does not want this client back as it is: a protocol
/// violation (1002, 1003), a message over the size limit (1009), or an authentication (4001)
/// or authorization (4003) failure, which another attempt with the same credentials would
/// repeat. Every other code (1001 shutdown, 1006 lost, 1008 too slow or silent, 1011, 1012,
/// 1013 try again later) is worth retrying with backoff. Long-polling maps HTTP 401 and 403
/// to 4001 and 4003.
pub fn refuses_retry(code: u16) -> bool {
    matches!(code, 1002 | 1003 | 1009 | 4001 | 4003)
}

/// What a refusal's close code means, for the banner.
pub fn refusal_reason(code: u16) -> &'static str {
    match code {
        4001 => "not signed in, or the session expired",
        4003 => "not allowed to read this dashboard",
        1009 => "a message was over the size limit",
        _ => "the client broke the protocol",
    }
}

/// Reconnection delays: full jitter over a ceiling that doubles from `base_ms` up to `cap_ms`.
/// The page sets them with `?backoffMs=` and `?backoffCapMs=`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub base_ms: u32,
    pub cap_ms: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base_ms: 1000, cap_ms: 5000 }
    }
}

impl Backoff {
    /// Milliseconds to wait before reconnect `attempt` (1-based); `unit` is a uniform random
    /// number in [0, 1).
    pub fn delay_ms(self, attempt: u32, unit: f64) -> u32 {
        let doubled = self.base_ms.saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let ceiling = doubled.min(self.cap_ms.max(self.base_ms));
        // Never hammer the server with an immediate retry.
        ((ceiling as f64 * unit) as u32).max(100)
    }
}

/// How a transport's session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Lost, or refused at the door (an upgrade answered with an error): back off, try again.
    Lost,
    /// The handshake got no answer at all (a proxy that holds WebSocket upgrades): this
    /// transport will not get through, so the next one is tried at once.
    Unanswered,
    /// The server closed with a code that says not to come back as we are.
    Refused(u16),
    /// The open dashboards changed, or a gap needs a fresh subscription from the held
    /// position, on a transport that cannot do either in place: start again at once.
    Restart,
}

/// What to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Start a session at once (on `Retry::transport`, which may just have changed).
    Now,
    /// Wait `attempt`'s backoff, then start one.
    Backoff { attempt: u32 },
    /// Stop until the person presses "Retry now".
    Offline { attempts: u32, refused: Option<u16> },
}

/// Failed attempts in a row, without ever hearing from the server over a transport, after
/// which the next one is tried (unless `?transport=` forced one). Two, so that one unlucky
/// attempt does not abandon WebSockets.
const FAILURES_BEFORE_FALLBACK: u32 = 2;

/// The connection's retry state across sessions.
#[derive(Clone, Debug)]
pub struct Retry {
    transport: Transport,
    /// Set by `?transport=`: never fall back.
    forced: bool,
    /// Once a transport has worked, losing it is an outage, not a reason to change.
    proven: bool,
    /// Failures of the current transport before it was ever heard from.
    unproven_failures: u32,
    /// Failed attempts in a row (the backoff's exponent).
    attempt: u32,
    /// `?maxAttempts=`: give up after this many failed attempts in a row.
    max_attempts: Option<u32>,
}

impl Retry {
    pub fn new(forced: Option<Transport>, max_attempts: Option<u32>) -> Self {
        Retry {
            transport: forced.unwrap_or(Transport::WebSocket),
            forced: forced.is_some(),
            proven: false,
            unproven_failures: 0,
            attempt: 0,
            max_attempts,
        }
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Decides after a session that ended as `ended`; `heard` when the server was heard from
    /// during it.
    pub fn after(&mut self, ended: Ended, heard: bool) -> Next {
        if heard {
            self.attempt = 0;
            self.proven = true;
        }
        let failures = match ended {
            Ended::Restart => return Next::Now,
            Ended::Refused(code) => return self.give_up(Some(code)),
            Ended::Lost => 1,
            Ended::Unanswered => FAILURES_BEFORE_FALLBACK,
        };
        if !self.proven && !self.forced {
            self.unproven_failures += failures;
            if let Some(next) = self.transport.fallback().filter(|_| self.unproven_failures >= FAILURES_BEFORE_FALLBACK)
            {
                self.transport = next;
                self.unproven_failures = 0;
                // A new transport starts at once, not after a growing backoff.
                self.attempt = 0;
                return Next::Now;
            }
        }
        self.attempt = self.attempt.saturating_add(1);
        if self.max_attempts.is_some_and(|max| self.attempt > max) {
            self.attempt -= 1;
            return self.give_up(None);
        }
        Next::Backoff { attempt: self.attempt }
    }

    fn give_up(&mut self, refused: Option<u16>) -> Next {
        let attempts = std::mem::take(&mut self.attempt);
        Next::Offline { attempts, refused }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_with_jitter() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay_ms(1, 0.999_999), 999);
        assert_eq!(backoff.delay_ms(2, 0.999_999), 1999);
        assert_eq!(backoff.delay_ms(3, 0.999_999), 3999);
        assert_eq!(backoff.delay_ms(4, 0.999_999), 4999);
        assert_eq!(backoff.delay_ms(40, 0.999_999), 4999);
        assert_eq!(backoff.delay_ms(3, 0.0), 100, "a floor keeps retries from hammering");
        assert_eq!(backoff.delay_ms(3, 0.5), 2000);
        let configured = Backoff { base_ms: 250, cap_ms: 30_000 };
        assert_eq!(configured.delay_ms(1, 0.999_999), 249);
        assert_eq!(configured.delay_ms(5, 0.999_999), 3999);
        assert_eq!(configured.delay_ms(20, 0.999_999), 29_999);
        let inverted = Backoff { base_ms: 2000, cap_ms: 500 };
        assert_eq!(inverted.delay_ms(3, 0.999_999), 1999, "a cap below the base means the base");
    }

    #[test]
    fn an_unproven_transport_falls_back_after_two_failures_and_at_once_when_unanswered() {
        let mut retry = Retry::new(None, None);
        assert_eq!(retry.after(Ended::Lost, false), Next::Backoff { attempt: 1 });
        assert_eq!(retry.after(Ended::Lost, false), Next::Now);
        assert_eq!(retry.transport(), Transport::Sse);
        let mut retry = Retry::new(None, None);
        assert_eq!(retry.after(Ended::Unanswered, false), Next::Now, "a held handshake falls back at once");
        assert_eq!(retry.transport(), Transport::Sse);
        assert_eq!(retry.after(Ended::Lost, false), Next::Backoff { attempt: 1 });
        assert_eq!(retry.after(Ended::Lost, false), Next::Now);
        assert_eq!(retry.transport(), Transport::Poll);
        assert_eq!(retry.after(Ended::Lost, false), Next::Backoff { attempt: 1 });
        assert_eq!(retry.after(Ended::Lost, false), Next::Backoff { attempt: 2 }, "nothing after polling");
    }

    #[test]
    fn a_proven_or_forced_transport_is_kept_through_outages() {
        let mut retry = Retry::new(None, None);
        assert_eq!(retry.after(Ended::Lost, true), Next::Backoff { attempt: 1 });
        for attempt in 2..6 {
            assert_eq!(retry.after(Ended::Unanswered, false), Next::Backoff { attempt });
        }
        assert_eq!(retry.transport(), Transport::WebSocket);
        let mut forced = Retry::new(Some(Transport::Sse), None);
        assert_eq!(forced.after(Ended::Unanswered, false), Next::Backoff { attempt: 1 });
        assert_eq!(forced.after(Ended::Lost, false), Next::Backoff { attempt: 2 });
        assert_eq!(forced.transport(), Transport::Sse);
    }

    #[test]
    fn gives_up_after_max_attempts_or_a_refusal_and_counts_afresh_after() {
        let mut retry = Retry::new(Some(Transport::WebSocket), Some(2));
        assert_eq!(retry.after(Ended::Lost, false), Next::Backoff { attempt: 1 });
        assert_eq!(retry.after(Ended::Lost, false), Next::Backoff { attempt: 2 });
        assert_eq!(retry.after(Ended::Lost, false), Next::Offline { attempts: 2, refused: None });
        assert_eq!(retry.after(Ended::Lost, false), Next::Backoff { attempt: 1 }, "Retry now starts over");
        assert_eq!(retry.after(Ended::Refused(4001), false), Next::Offline { attempts: 1, refused: Some(4001) });
        assert_eq!(retry.after(Ended::Restart, false), Next::Now);
        assert_eq!(retry.after(Ended::Lost, true), Next::Backoff { attempt: 1 }, "heard: the count restarts");
    }

    #[test]
    fn only_refusals_stop_the_retries() {
        for code in [1002, 1003, 1009, 4001, 4003] {
            assert!(refuses_retry(code), "{code}");
        }
        for code in [1000, 1001, 1006, 1008, 1011, 1012, 1013, 4000] {
            assert!(!refuses_retry(code), "{code} is worth retrying");
        }
        assert_eq!(refusal_reason(4001), "not signed in, or the session expired");
    }
}

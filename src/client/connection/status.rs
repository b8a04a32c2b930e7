//! What the connection tells the page: its status (the badge and banner) and how the last
//! reconnection caught up (the panel).

/// What the badge says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConnectionStatus {
    /// First connection attempt, and on the server: nothing is live yet.
    Connecting,
    /// Subscribed and receiving.
    Live,
    /// Lost; attempt `attempt` starts at `retry_at` (browser ms since the Unix epoch).
    Reconnecting { attempt: u32, retry_at: f64 },
    /// Gave up, after `attempts` failed attempts in a row (`?maxAttempts=`) or because the
    /// server closed with `refused`, a code saying that trying again would not help (see
    /// `policy::refuses_retry`); waits for "Retry now".
    Offline { attempts: u32, refused: Option<u16> },
}

impl ConnectionStatus {
    pub fn label(self) -> &'static str {
        match self {
            ConnectionStatus::Connecting => "connecting",
            ConnectionStatus::Live => "live",
            ConnectionStatus::Reconnecting { .. } => "reconnecting",
            ConnectionStatus::Offline { .. } => "offline",
        }
    }

    /// Whether what is on screen may no longer be the truth.
    pub fn is_stale(self) -> bool {
        matches!(self, ConnectionStatus::Reconnecting { .. } | ConnectionStatus::Offline { .. })
    }
}

/// How the last reconnection caught up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// The server replayed the missed updates from this seq on: nothing was lost.
    Resumed { after_seq: u64 },
    /// The missed updates were no longer available: the state was replaced by a snapshot.
    Snapshot,
}

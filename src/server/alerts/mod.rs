//! Alerts, split along the broker: `eval` (rules and their states, evaluated on the
//! publishing path inside the broker, importing nothing above it) and `notify` (receivers,
//! the delivery outbox, silences and acks, shared state between instances: reading what the
//! broker and the store decided). docs/alerts.md is the guide.

pub mod eval;
pub mod notify;

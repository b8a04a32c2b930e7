//! Who may talk to the server. For now: which origins and hosts a request may come from
//! (`origin`), checked before any handler, upgrade or body. Sign-in, tokens and sessions land
//! here too (issue 13).

pub mod origin;

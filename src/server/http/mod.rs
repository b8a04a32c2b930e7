//! The HTTP edge every endpoint shares, and a leaf: it imports no stage. The one error shape
//! (`error`: `ApiError`, its `ErrorLabel`, `count_errors`), extractors that refuse in that
//! shape (`extract`: `ApiQuery`, `ApiPath`), who is asking (`client`: `ClientAddr`), the
//! security headers every response carries (`headers`), and the client bundle under its
//! build's path (`bundle`). The endpoints themselves live with their stage (ingest, streams, sign-in) or
//! in `server::api`, which also builds the router.

pub mod bundle;
pub mod client;
pub mod error;
pub mod extract;
pub mod headers;
pub mod listen;

pub use client::ClientAddr;
pub use error::ApiError;
pub use extract::{time_range, ApiPath, ApiQuery};

//! One route per file.

pub mod dashboard;
pub mod forbidden;
pub mod home;
pub mod not_found;
pub mod redraw_bench;

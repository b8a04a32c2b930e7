//! One component per file.

pub mod alert_list;
pub mod alert_toasts;
pub mod chart;
pub mod connection_badge;
pub mod connection_banner;
pub mod connection_panel;
pub mod lazily;
pub mod metric_card;
pub mod page_title;
pub mod panel;
pub mod rule_preview;
pub mod store_banner;
pub mod window_picker;

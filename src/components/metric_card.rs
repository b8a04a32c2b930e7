//! A metric's card: label, current value in its format, and the trend against 30 s ago.

use crate::client::state::DashboardState;
use crate::model::format::{format_trend, format_value};
use crate::protocol::MetricDefinition;
use leptos::prelude::*;

/// How far back the trend compares.
const TREND_MS: i64 = 30_000;

#[component]
pub fn MetricCard(definition: MetricDefinition) -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let MetricDefinition { name, label, unit, format, .. } = definition;
    let value = {
        let name = name.clone();
        move || {
            state.latest.with(|latest| match latest.get(&name) {
                Some(value) => format_value(*value, format, &unit),
                None => "–".to_owned(),
            })
        }
    };
    let trend = {
        let name = name.clone();
        Memo::new(move |_| state.series.with(|series| series.trend(&name, TREND_MS)))
    };
    let direction = move || match trend.get() {
        Some(ratio) if ratio > 0.0005 => "up",
        Some(ratio) if ratio < -0.0005 => "down",
        _ => "flat",
    };
    let trend_text = move || match trend.get() {
        Some(ratio) => {
            let arrow = match direction() {
                "up" => "▲",
                "down" => "▼",
                _ => "■",
            };
            format!("{arrow} {} vs 30 s ago", format_trend(ratio))
        }
        None => "no trend yet".to_owned(),
    };
    view! {
        <article class="card" data-testid=format!("card-{name}") data-metric=name.clone()>
            <h2 class="card-label">{label}</h2>
            <p class="card-value" data-testid="metric-value">{value}</p>
            <p class="card-trend" data-direction=direction>{trend_text}</p>
        </article>
    }
}

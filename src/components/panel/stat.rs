//! A stat panel: the current value big, coloured by the panel's thresholds, its trend over the
//! span shown, the delta against the period compared with, and a sparkline.

use crate::client::{live_edge::LiveEdge, panel_data::PanelData, state::DashboardState, view::ViewState};
use crate::model::{format::Reading, panel::PanelSpec, series::Point};
use leptos::prelude::*;

/// What a stat shows, from its first series over the span.
#[derive(Clone, Debug, PartialEq)]
struct Stat {
    value: Option<f64>,
    /// Last less first over the span.
    trend: Option<f64>,
    /// Last less the earlier period's value at the same moment.
    delta: Option<f64>,
    points: Vec<Point>,
}

fn stat_of(points: &[Point], ghost: Option<&[Point]>, from: crate::protocol::Millis) -> Stat {
    let inside: Vec<Point> = points.iter().copied().filter(|(ts, _)| *ts >= from).collect();
    let value = inside.last().map(|p| p.1);
    let trend = match (inside.first(), inside.last()) {
        (Some(first), Some(last)) if inside.len() > 1 => Some(last.1 - first.1),
        _ => None,
    };
    let delta = (|| {
        let (ts, last) = *inside.last()?;
        let earlier = crate::components::chart::nearest_point(ghost?, ts)?;
        Some(last - earlier.1)
    })();
    Stat { value, trend, delta, points: inside }
}

fn signed(reading: &Reading, value: f64) -> String {
    let arrow = if value > 0.0 {
        "▲"
    } else if value < 0.0 {
        "▼"
    } else {
        "="
    };
    format!("{arrow} {}", reading.show(value.abs()))
}

#[component]
pub fn StatBody(spec: PanelSpec, data: PanelData, reading: Signal<Reading>) -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let view = expect_context::<ViewState>();
    let edge = expect_context::<LiveEdge>();
    let stat = Memo::new(move |_| {
        data.track();
        view.view.track();
        state.window.track();
        let (from, to) = view.shown_untracked(state, edge);
        let lines = data.lines(from, to);
        let ghosts = data.ghost_lines();
        let first = lines.first()?;
        let ghost = ghosts.iter().find(|ghost| ghost.key == first.key).map(|ghost| ghost.points.as_slice());
        Some(stat_of(&first.points, ghost, from))
    });
    let thresholds = spec.thresholds.clone();
    let colour = Signal::derive(move || {
        let value = stat.with(|stat| stat.as_ref().and_then(|stat| stat.value))?;
        crate::model::panel::threshold_colour(&thresholds, value).and_then(crate::model::panel::colour_hex)
    });
    let sparkline = NodeRef::<leptos::html::Canvas>::new();
    #[cfg(feature = "hydrate")]
    {
        let theme = expect_context::<crate::client::theme::ThemeState>();
        let (min, max) = (spec.min, spec.max);
        let observed = crate::components::chart::canvas::ObservedBox::new(sparkline);
        Effect::new(move |_| {
            let Some(canvas) = sparkline.get() else { return };
            observed.track();
            let palette = crate::components::chart::Palette::of(theme.0.get());
            let colour = colour.get().and_then(|c| crate::components::chart::canvas::rgb(&c)).unwrap_or(palette.line);
            stat.with(|stat| {
                let Some(stat) = stat else { return };
                let Some((backend, scale)) = crate::components::chart::canvas::backend(&canvas, observed.get(&canvas))
                else {
                    return;
                };
                let (from, to) = (stat.points.first().map_or(0, |p| p.0), stat.points.last().map_or(1, |p| p.0));
                let plain = crate::components::chart::ChartSpec::plain(from, to, crate::protocol::Format::Decimal);
                let spec = crate::components::chart::ChartSpec { min, max, palette, scale, ..plain };
                let _ = crate::components::chart::draw::draw_sparkline(backend, &stat.points, colour, &spec);
            });
        });
    }
    let show = move |pick: fn(&Stat) -> Option<f64>, signed_text: bool| {
        move || {
            let reading = reading.get();
            stat.with(|stat| {
                let value = stat.as_ref().and_then(pick)?;
                Some(if signed_text { signed(&reading, value) } else { reading.show(value) })
            })
        }
    };
    let compare_label = move || {
        data.compare.get().and_then(|offset| {
            crate::model::panel::Compare::ALL.into_iter().find(|c| c.millis() == offset).map(|c| c.label())
        })
    };
    let number = super::marked_in(colour);
    view! {
        <div class="stat" data-testid="stat">
            <output class="stat-value" data-testid="stat-value" data-color=colour node_ref=number>
                {move || show(|s| s.value, false)().unwrap_or_else(|| "–".into())}
            </output>
            <p class="stat-trend" data-testid="stat-trend">
                {move || show(|s| s.trend, true)().map(|t| format!("{t} over the span")).unwrap_or_default()}
            </p>
            <Show when=move || compare_label().is_some()>
                <p class="stat-delta" data-testid="stat-delta">
                    {move || {
                        let label = compare_label().unwrap_or_default();
                        show(|s| s.delta, true)().map_or_else(|| format!("no data {label}"), |d| format!("{d} vs {label}"))
                    }}
                </p>
            </Show>
            <canvas class="stat-sparkline" node_ref=sparkline aria-hidden="true"></canvas>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_reads_its_value_trend_and_delta() {
        let points = [(0, 5.0), (1_000, 7.0), (2_000, 9.0)];
        let ghost = [(1_900, 4.0)];
        let stat = stat_of(&points, Some(&ghost), 500);
        assert_eq!((stat.value, stat.trend, stat.delta), (Some(9.0), Some(2.0), Some(5.0)));
        assert_eq!(stat_of(&[], None, 0).value, None);
        assert_eq!(stat_of(&points[..1], None, 0).trend, None, "one point has no trend");
    }
}

//! A gauge panel: the current value of its first series on a dial from `min` to `max` (0 to 1
//! for a percentage, else 0 to the largest threshold or value seen), the threshold bands round
//! it, the value written under it.

use crate::client::{live_edge::LiveEdge, panel_data::PanelData, state::DashboardState, view::ViewState};
use crate::model::{
    format::Reading,
    panel::{threshold_colour, PanelSpec},
};
use crate::protocol::Format;
use leptos::prelude::*;

/// The dial's ends: as configured, else from zero to the top of the thresholds and values.
fn dial(spec: &PanelSpec, format: Format, value: Option<f64>) -> (f64, f64) {
    let min = spec.min.unwrap_or(0.0);
    let fallback = if format == Format::Percent {
        1.0
    } else {
        spec.thresholds.iter().map(|t| t.value).chain(value).fold(min + 1.0, f64::max)
    };
    (min, spec.max.unwrap_or(fallback))
}

#[component]
pub fn GaugeBody(
    spec: PanelSpec,
    data: PanelData,
    reading: Signal<Reading>,
    canvas: NodeRef<leptos::html::Canvas>,
) -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let view = expect_context::<ViewState>();
    let edge = expect_context::<LiveEdge>();
    let value = Memo::new(move |_| {
        data.track();
        let (from, to) = view.shown_untracked(state, edge);
        data.lines(from, to).first().and_then(|line| line.points.last().map(|p| p.1))
    });
    let thresholds = spec.thresholds.clone();
    let colour = Signal::derive(move || {
        value.get().and_then(|v| threshold_colour(&thresholds, v).and_then(crate::model::panel::colour_hex))
    });
    let (low, high) = {
        let spec = spec.clone();
        let dial = move || dial(&spec, reading.with(|r| r.format), value.get());
        (
            Signal::derive({
                let dial = dial.clone();
                move || dial().0
            }),
            Signal::derive(move || dial().1),
        )
    };
    #[cfg(feature = "hydrate")]
    {
        let theme = expect_context::<crate::client::theme::ThemeState>();
        let bands: Vec<(f64, plotters::style::RGBColor)> = spec
            .thresholds
            .iter()
            .filter_map(|t| Some((t.value, crate::components::chart::canvas::rgb(&t.color)?)))
            .collect();
        let observed = crate::components::chart::canvas::ObservedBox::new(canvas);
        Effect::new(move |_| {
            let Some(element) = canvas.get() else { return };
            observed.track();
            let palette = crate::components::chart::Palette::of(theme.0.get());
            let Some((backend, _)) = crate::components::chart::canvas::backend(&element, observed.get(&element)) else {
                return;
            };
            let bands = if bands.is_empty() { vec![(low.get(), palette.line)] } else { bands.clone() };
            if let Err(error) = crate::components::chart::draw::draw_gauge(
                backend,
                value.get(),
                (low.get(), high.get()),
                &bands,
                palette,
            ) {
                leptos::logging::warn!("gauge draw failed: {error:?}");
            }
        });
    }
    let label = spec.title.clone();
    let number = super::marked_in(colour);
    view! {
        <div class="gauge" data-testid="gauge" data-min=move || low.get() data-max=move || high.get()>
            <canvas node_ref=canvas role="img" aria-label=format!("Gauge of {label}")></canvas>
            <output class="gauge-value" data-testid="gauge-value" data-color=colour node_ref=number>
                {move || value.get().map_or_else(|| "–".to_owned(), |v| reading.with(|r| r.show(v)))}
            </output>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::panel::{PanelKind, Threshold};

    #[test]
    fn the_dial_runs_from_the_configured_ends_or_zero_to_what_it_must_hold() {
        let mut spec = PanelSpec::of_metrics("g", "", PanelKind::Gauge, vec!["x".into()]);
        assert_eq!(dial(&spec, Format::Percent, Some(0.5)), (0.0, 1.0));
        spec.thresholds = vec![Threshold { value: 80.0, color: "red".into() }];
        assert_eq!(dial(&spec, Format::Decimal, Some(50.0)), (0.0, 80.0));
        assert_eq!(dial(&spec, Format::Decimal, Some(120.0)), (0.0, 120.0));
        spec.min = Some(-10.0);
        spec.max = Some(10.0);
        assert_eq!(dial(&spec, Format::Decimal, Some(120.0)), (-10.0, 10.0));
    }
}

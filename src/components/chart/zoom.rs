//! Pointing and dragging on a chart: the pointer's time becomes the dashboard's crosshair
//! (`ViewState::cursor`), and a drag across the chart zooms every chart to the span dragged
//! over (a view of its own in the URL and the browser's history; double click, the "back to
//! live" control or Escape return to the live edge).

use super::geometry::{axis_unit, time_at};
use super::Shown;
use crate::client::view::ViewState;
use crate::model::format::Reading;
use crate::protocol::Millis;
use leptos::prelude::*;

/// CSS pixels a drag must cover to zoom (less is a click).
const LEAST_DRAG: f64 = 8.0;

/// A drag in progress on one chart: where it started and where the pointer is, in CSS pixels.
#[derive(Clone, Copy)]
pub struct Selection {
    shown: StoredValue<Shown>,
    reading: Signal<Reading>,
    view: ViewState,
    dragged: RwSignal<Option<(f64, f64)>>,
}

impl Selection {
    pub fn new(shown: StoredValue<Shown>, reading: Signal<Reading>) -> Self {
        let view = expect_context::<ViewState>();
        Selection { shown, reading, view, dragged: RwSignal::new(None) }
    }

    /// The time under `x` CSS pixels from the canvas' left edge.
    fn time_at(&self, x: f64) -> Millis {
        // The width as of the last draw: reading the page here would force a layout.
        let unit =
            self.reading.with_untracked(|reading| axis_unit(reading.format, &reading.axis_unit()).map(str::to_owned));
        self.shown.with_value(|shown| time_at(x, shown.width, shown.from, shown.to, unit.as_deref()))
    }

    pub fn on_down(self) -> impl Fn(leptos::ev::PointerEvent) + Clone {
        move |event| {
            let x = f64::from(event.offset_x());
            self.view.cursor.set(Some(self.time_at(x)));
            if event.button() == 0 {
                self.dragged.set(Some((x, x)));
            }
        }
    }

    pub fn on_move(self) -> impl Fn(leptos::ev::PointerEvent) + Clone {
        move |event| {
            let x = f64::from(event.offset_x());
            self.view.cursor.set(Some(self.time_at(x)));
            if self.dragged.with_untracked(Option::is_some) {
                self.dragged.update(|dragged| dragged.as_mut().map_or((), |(_, to)| *to = x));
            }
        }
    }

    pub fn on_up(self) -> impl Fn(leptos::ev::PointerEvent) + Clone {
        move |event| {
            let Some((start, _)) = self.dragged.get_untracked() else { return };
            self.dragged.set(None);
            let end = f64::from(event.offset_x());
            if (end - start).abs() >= LEAST_DRAG {
                let (a, b) = (self.time_at(start), self.time_at(end));
                if a != b {
                    self.view.change(|view| view.span = Some((a.min(b), a.max(b))));
                }
            }
        }
    }

    pub fn cancel(&self) {
        self.dragged.set(None);
    }

    /// The band over the span being dragged.
    pub fn view(self) -> impl IntoView {
        let (dragged, shown) = (self.dragged, self.shown);
        let band = move || {
            let offset = shown.with_value(|shown| shown.offset);
            dragged
                .get()
                .filter(|(from, to)| (to - from).abs() >= LEAST_DRAG)
                .map(|(from, to)| (offset + from.min(to), (to - from).abs()))
        };
        view! {
            <Show when=move || band().is_some()>
                <div
                    class="zoom-selection"
                    aria-hidden="true"
                    style:left=move || band().map_or(String::new(), |(left, _)| format!("{left}px"))
                    style:width=move || band().map_or(String::new(), |(_, width)| format!("{width}px"))
                ></div>
            </Show>
        }
    }
}

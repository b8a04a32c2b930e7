//! One drawing pass per animation frame for every chart on the page. A chart whose data,
//! window, theme or size changed asks for a draw with `request_draw`; the first request of a
//! frame schedules one `requestAnimationFrame`, whose callback runs each requested draw once,
//! with the state of that moment. A burst of updates (a replay after a reconnect delivers
//! hundreds at once) so costs one redraw per chart, and the browser never shows a dashboard
//! half redrawn.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Something to draw at the next frame, identified so that asking twice draws once.
pub type Draw = Rc<dyn Fn()>;

#[derive(Default)]
struct Queue {
    /// Whether a frame callback is already scheduled.
    scheduled: bool,
    draws: Vec<(u64, Draw)>,
}

thread_local! {
    static QUEUE: RefCell<Queue> = RefCell::default();
    static NEXT_KEY: Cell<u64> = const { Cell::new(0) };
    /// Passes run so far, the ms they took together, and when the last began (the panels
    /// benchmark reads them).
    static PASSES: Cell<(u64, f64, f64)> = const { Cell::new((0, 0.0, 0.0)) };
}

/// Drawing passes run so far, the ms all of them took, and when the last began (ms on the
/// page's clock).
pub fn passes() -> (u64, f64, f64) {
    PASSES.get()
}

/// A fresh key for one chart's draws.
pub fn new_key() -> u64 {
    NEXT_KEY.with(|next| {
        let key = next.get();
        next.set(key + 1);
        key
    })
}

/// Draws `draw` at the next animation frame, once however often it is asked for before then.
pub fn request_draw(key: u64, draw: Draw) {
    let schedule = QUEUE.with_borrow_mut(|queue| {
        if !queue.draws.iter().any(|(queued, _)| *queued == key) {
            queue.draws.push((key, draw));
        }
        !std::mem::replace(&mut queue.scheduled, true)
    });
    if schedule {
        schedule_pass();
    }
}

/// Runs every queued draw now (what a frame does; the redraw benchmark calls it directly) and
/// returns the milliseconds it took, all charts together.
pub fn draw_now() -> f64 {
    let draws = QUEUE.with_borrow_mut(|queue| {
        queue.scheduled = false;
        std::mem::take(&mut queue.draws)
    });
    let started = now_ms();
    for (_, draw) in draws {
        draw();
    }
    let took = now_ms() - started;
    let (count, total, _) = PASSES.get();
    PASSES.set((count + 1, total + took, started));
    took
}

#[cfg(feature = "hydrate")]
fn schedule_pass() {
    leptos::prelude::request_animation_frame(|| {
        draw_now();
    });
}

#[cfg(not(feature = "hydrate"))]
fn schedule_pass() {
    draw_now();
}

#[cfg(feature = "hydrate")]
fn now_ms() -> f64 {
    leptos::prelude::window().performance().map_or(0.0, |performance| performance.now())
}

#[cfg(not(feature = "hydrate"))]
fn now_ms() -> f64 {
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_asking_twice_draws_once() {
        let drawn = Rc::new(Cell::new(0));
        let key = new_key();
        let draw: Draw = Rc::new({
            let drawn = drawn.clone();
            move || drawn.set(drawn.get() + 1)
        });
        // Without a browser a pass runs at once; queue by hand to see the deduplication.
        QUEUE.with_borrow_mut(|queue| queue.scheduled = true);
        request_draw(key, draw.clone());
        request_draw(key, draw.clone());
        request_draw(new_key(), draw);
        draw_now();
        assert_eq!(drawn.get(), 2, "two charts, one draw each");
    }
}

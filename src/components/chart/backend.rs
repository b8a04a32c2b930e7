//! The canvas every chart draws on: plotters-canvas' `CanvasBackend`, with the primitives a
//! chart draws by the hundred (lines, paths, rectangles, polygons, text) set on the context
//! only where their style differs from the one before. `CanvasBackend` formats an `rgba(...)`
//! string for every primitive, which the canvas then parses as CSS, and sets the font, its
//! alignment and baseline for every label: 5-6% of a core on a dashboard of 12 panels at 10
//! updates a second (BENCHMARKS.md "Panels").

use plotters_backend::{
    text_anchor::{HPos, VPos},
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind, FontTransform,
};
use plotters_canvas::CanvasBackend;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

pub struct Canvas {
    /// What this backend leaves to plotters-canvas (pixels, circles); the styles it sets are
    /// forgotten after each of those.
    inner: CanvasBackend,
    context: CanvasRenderingContext2d,
    size: (u32, u32),
    set: Styles,
}

/// The context's styles as this backend last set them (`None`: not known).
#[derive(Default)]
struct Styles {
    fill: Option<(u8, u8, u8, f64)>,
    stroke: Option<(u8, u8, u8, f64)>,
    line_width: Option<u32>,
    font: Option<String>,
    /// Text alignment and baseline.
    anchor: Option<(&'static str, &'static str)>,
}

/// What went wrong drawing (a canvas call that threw; plotters-canvas' error, as text).
#[derive(Debug)]
pub struct CanvasError(String);

impl std::fmt::Display for CanvasError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "canvas: {}", self.0)
    }
}

impl std::error::Error for CanvasError {}

type Drawn = Result<(), DrawingErrorKind<CanvasError>>;

fn key(color: BackendColor) -> (u8, u8, u8, f64) {
    (color.rgb.0, color.rgb.1, color.rgb.2, color.alpha)
}

fn css(color: BackendColor) -> String {
    let (r, g, b) = color.rgb;
    format!("rgba({r},{g},{b},{})", color.alpha)
}

/// A text style as the canvas' `font`.
fn font(style: &impl BackendTextStyle) -> String {
    format!("{} {}px {}", style.style().as_str(), style.size(), style.family().as_str())
}

fn failed(error: JsValue) -> DrawingErrorKind<CanvasError> {
    DrawingErrorKind::DrawingError(CanvasError(format!("{error:?}")))
}

/// The canvas' 2D context, opaque: every drawing fills its background first, and Chromium
/// copies an opaque canvas onto the page without blending it. (The options count only for a
/// canvas' first `get_context`.)
pub fn context_2d(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"alpha".into(), &false.into()).ok()?;
    canvas.get_context_with_context_options("2d", &options).ok()??.dyn_into().ok()
}

impl Canvas {
    pub fn new(canvas: HtmlCanvasElement) -> Option<Canvas> {
        let size = (canvas.width(), canvas.height());
        Canvas::with_size(canvas, size)
    }

    /// A backend on `canvas` laid out as if it were `size` device pixels: a chart's plot drawn
    /// into a canvas off the page, which a transform on its context moves into place.
    pub fn with_size(canvas: HtmlCanvasElement, size: (u32, u32)) -> Option<Canvas> {
        let context = context_2d(&canvas)?;
        Some(Canvas { inner: CanvasBackend::with_canvas_object(canvas)?, context, size, set: Styles::default() })
    }

    fn fill(&mut self, color: BackendColor) {
        if self.set.fill != Some(key(color)) {
            self.context.set_fill_style_str(&css(color));
            self.set.fill = Some(key(color));
        }
    }

    fn stroke(&mut self, style: &impl BackendStyle) {
        let color = style.color();
        if self.set.stroke != Some(key(color)) {
            self.context.set_stroke_style_str(&css(color));
            self.set.stroke = Some(key(color));
        }
        if self.set.line_width != Some(style.stroke_width()) {
            self.context.set_line_width(f64::from(style.stroke_width()));
            self.set.line_width = Some(style.stroke_width());
        }
    }

    /// Begins a path through `points`; whether there was any.
    fn trace(&self, points: impl IntoIterator<Item = BackendCoord>) -> bool {
        let mut points = points.into_iter();
        let Some(start) = points.next() else { return false };
        self.context.begin_path();
        self.context.move_to(f64::from(start.0), f64::from(start.1));
        for next in points {
            self.context.line_to(f64::from(next.0), f64::from(next.1));
        }
        true
    }

    /// Forgets the styles, which plotters-canvas set its own way.
    fn after_inner<E: std::error::Error + Send + Sync>(&mut self, drawn: Result<(), DrawingErrorKind<E>>) -> Drawn {
        self.set = Styles::default();
        drawn.map_err(|error| match error {
            DrawingErrorKind::DrawingError(error) => DrawingErrorKind::DrawingError(CanvasError(error.to_string())),
            DrawingErrorKind::FontError(error) => DrawingErrorKind::FontError(error),
        })
    }
}

/// A horizontal or vertical line moved onto the pixel grid, so that a one-pixel line is not
/// drawn blurred over two (as plotters-canvas does).
fn on_pixels(from: BackendCoord, to: BackendCoord) -> ((f64, f64), (f64, f64)) {
    let (mut from, mut to) = ((f64::from(from.0), f64::from(from.1)), (f64::from(to.0), f64::from(to.1)));
    if from.0 == to.0 {
        from.0 -= 0.5;
        to.0 -= 0.5;
    }
    if from.1 == to.1 {
        from.1 -= 0.5;
        to.1 -= 0.5;
    }
    (from, to)
}

impl DrawingBackend for Canvas {
    type ErrorType = CanvasError;

    fn get_size(&self) -> (u32, u32) {
        self.size
    }

    fn ensure_prepared(&mut self) -> Drawn {
        Ok(())
    }

    fn present(&mut self) -> Drawn {
        Ok(())
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Drawn {
        let drawn = self.inner.draw_pixel(point, color);
        self.after_inner(drawn)
    }

    fn draw_line<S: BackendStyle>(&mut self, from: BackendCoord, to: BackendCoord, style: &S) -> Drawn {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        let (from, to) = on_pixels(from, to);
        self.stroke(style);
        self.context.begin_path();
        self.context.move_to(from.0, from.1);
        self.context.line_to(to.0, to.1);
        self.context.stroke();
        Ok(())
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Drawn {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        let (x, y) = (f64::from(upper_left.0), f64::from(upper_left.1));
        let (width, height) = (f64::from(bottom_right.0 - upper_left.0), f64::from(bottom_right.1 - upper_left.1));
        if fill {
            self.fill(style.color());
            self.context.fill_rect(x, y, width, height);
        } else {
            self.stroke(style);
            self.context.stroke_rect(x, y, width, height);
        }
        Ok(())
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, path: I, style: &S) -> Drawn {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        self.stroke(style);
        if self.trace(path) {
            self.context.stroke();
        }
        Ok(())
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, path: I, style: &S) -> Drawn {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        self.fill(style.color());
        if self.trace(path) {
            self.context.close_path();
            self.context.fill();
        }
        Ok(())
    }

    fn draw_circle<S: BackendStyle>(&mut self, center: BackendCoord, radius: u32, style: &S, fill: bool) -> Drawn {
        let drawn = self.inner.draw_circle(center, radius, style, fill);
        self.after_inner(drawn)
    }

    /// Measured by the canvas in the text's font. plotters' own estimate measures a styled
    /// `<span>` put in the page: the pages' CSP refuses its style attribute (so it measured
    /// without the font), and reading its size forced a layout per label.
    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<CanvasError>> {
        // The font set here goes with `restore`: the styles this backend knows stay true.
        self.context.save();
        self.context.set_font(&font(style));
        let metrics = self.context.measure_text(text);
        self.context.restore();
        let metrics = metrics.map_err(failed)?;
        let height = metrics.font_bounding_box_ascent() + metrics.font_bounding_box_descent();
        Ok((metrics.width().ceil() as u32, height.ceil() as u32))
    }

    fn draw_text<S: BackendTextStyle>(&mut self, text: &str, style: &S, pos: BackendCoord) -> Drawn {
        if !matches!(style.transform(), FontTransform::None) {
            // Rotated text (no chart here has any) is left to plotters-canvas.
            let drawn = self.inner.draw_text(text, style, pos);
            return self.after_inner(drawn);
        }
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let anchor = (
            match style.anchor().h_pos {
                HPos::Left => "start",
                HPos::Right => "end",
                HPos::Center => "center",
            },
            match style.anchor().v_pos {
                VPos::Top => "top",
                VPos::Center => "middle",
                VPos::Bottom => "bottom",
            },
        );
        if self.set.anchor != Some(anchor) {
            self.context.set_text_align(anchor.0);
            self.context.set_text_baseline(anchor.1);
            self.set.anchor = Some(anchor);
        }
        let font = font(style);
        if self.set.font.as_deref() != Some(font.as_str()) {
            self.context.set_font(&font);
            self.set.font = Some(font);
        }
        self.fill(color);
        self.context.fill_text(text, f64::from(pos.0), f64::from(pos.1)).map_err(failed)
    }
}

//! A theme's chart colours, the canvas' counterpart of `style/main.css`'s variables
//! (--panel, --border, --muted, --accent, --warn, --bad).

use crate::client::theme::Theme;
use plotters::style::RGBColor;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Palette {
    pub background: RGBColor,
    pub grid: RGBColor,
    pub text: RGBColor,
    pub line: RGBColor,
    /// Alert levels: thresholds, clear bands and firing spans.
    pub warning: RGBColor,
    pub critical: RGBColor,
    /// A family's lines (`model::family::colour_index` picks one per series); the first is
    /// `line`.
    pub series: [RGBColor; 8],
}

impl Palette {
    pub const DARK: Palette = Palette {
        background: RGBColor(0x15, 0x1b, 0x26),
        grid: RGBColor(0x26, 0x30, 0x40),
        text: RGBColor(0x8b, 0x98, 0xab),
        line: RGBColor(0x4c, 0xc2, 0xff),
        warning: RGBColor(0xf5, 0xb7, 0x4f),
        critical: RGBColor(0xff, 0x6b, 0x6b),
        series: [
            RGBColor(0x4c, 0xc2, 0xff),
            RGBColor(0x7b, 0xd8, 0x8f),
            RGBColor(0xc7, 0x92, 0xea),
            RGBColor(0xff, 0x9e, 0x64),
            RGBColor(0x2d, 0xd4, 0xbf),
            RGBColor(0xf7, 0x8f, 0xb3),
            RGBColor(0xe0, 0xe3, 0x5a),
            RGBColor(0x9d, 0xa9, 0xff),
        ],
    };
    pub const LIGHT: Palette = Palette {
        background: RGBColor(0xff, 0xff, 0xff),
        grid: RGBColor(0xdd, 0xe3, 0xeb),
        text: RGBColor(0x4f, 0x5e, 0x72),
        line: RGBColor(0x0a, 0x6f, 0xb0),
        warning: RGBColor(0xa5, 0x65, 0x0b),
        critical: RGBColor(0xc9, 0x34, 0x34),
        series: [
            RGBColor(0x0a, 0x6f, 0xb0),
            RGBColor(0x2e, 0x7d, 0x32),
            RGBColor(0x7b, 0x3f, 0xb0),
            RGBColor(0xc4, 0x58, 0x0e),
            RGBColor(0x00, 0x79, 0x6b),
            RGBColor(0xb0, 0x30, 0x6a),
            RGBColor(0x8a, 0x7d, 0x00),
            RGBColor(0x39, 0x49, 0xab),
        ],
    };

    /// The colour of series `key` in a family's chart.
    pub fn series_colour(&self, key: &str) -> RGBColor {
        self.series[crate::model::family::colour_index(key, self.series.len())]
    }

    pub fn of(theme: Theme) -> Palette {
        match theme {
            Theme::Dark => Palette::DARK,
            Theme::Light => Palette::LIGHT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The legend's swatches are coloured by style/main.css (`series-N`), the lines by this
    /// palette: the two must agree.
    #[test]
    fn the_stylesheet_gives_each_series_class_the_palettes_colour() {
        let css = include_str!("../../../style/main.css");
        let hex = |c: &RGBColor| format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2);
        for (index, colour) in Palette::DARK.series.iter().enumerate() {
            let rule = format!(".series-{index} {{ background-color: {}; }}", hex(colour));
            assert!(css.contains(&rule), "missing: {rule}");
        }
        for (index, colour) in Palette::LIGHT.series.iter().enumerate() {
            let rule = format!(":root[data-theme=\"light\"] .series-{index} {{ background-color: {}; }}", hex(colour));
            assert!(css.contains(&rule), "missing: {rule}");
        }
    }
}

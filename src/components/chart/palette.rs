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
}

impl Palette {
    pub const DARK: Palette = Palette {
        background: RGBColor(0x15, 0x1b, 0x26),
        grid: RGBColor(0x26, 0x30, 0x40),
        text: RGBColor(0x8b, 0x98, 0xab),
        line: RGBColor(0x4c, 0xc2, 0xff),
        warning: RGBColor(0xf5, 0xb7, 0x4f),
        critical: RGBColor(0xff, 0x6b, 0x6b),
    };
    pub const LIGHT: Palette = Palette {
        background: RGBColor(0xff, 0xff, 0xff),
        grid: RGBColor(0xdd, 0xe3, 0xeb),
        text: RGBColor(0x4f, 0x5e, 0x72),
        line: RGBColor(0x0a, 0x6f, 0xb0),
        warning: RGBColor(0xa5, 0x65, 0x0b),
        critical: RGBColor(0xc9, 0x34, 0x34),
    };

    pub fn of(theme: Theme) -> Palette {
        match theme {
            Theme::Dark => Palette::DARK,
            Theme::Light => Palette::LIGHT,
        }
    }
}

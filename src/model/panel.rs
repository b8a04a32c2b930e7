//! A dashboard's panels: what each shows (a query, or metrics by name), how (`PanelKind`), and
//! the pure rules the panels draw by, shared by the server (the configuration, the default
//! layout) and the browser: thresholds' colours and the y range that always holds them,
//! stacking, a histogram's buckets as heatmap cells, a status series' bands, and freshness.

use super::family::{chart_groups, ChartGroup};
use super::series::Point;
use crate::protocol::{named::named, ChartKind, Format, MetricDefinition, Millis, SeriesKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a panel shows its series.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PanelKind {
    #[default]
    Line,
    Area,
    /// Areas stacked on each other.
    Stacked,
    /// A bar per point.
    Bar,
    /// The current value big, its trend and a sparkline, coloured by threshold.
    Stat,
    /// The current value on a dial between `min` and `max`, the threshold bands around it.
    Gauge,
    /// State over time as coloured bands, a row per series (0/1 or small enums).
    Status,
    /// The current value per series, labels as columns, sortable.
    Table,
    /// A histogram's buckets (series with an `le` label) over time.
    Heatmap,
}

named!(PanelKind {
    Line = "line",
    Area = "area",
    Stacked = "stacked",
    Bar = "bar",
    Stat = "stat",
    Gauge = "gauge",
    Status = "status",
    Table = "table",
    Heatmap = "heatmap",
});

impl PanelKind {
    /// Whether the panel draws its series over time (a crosshair, zoom, compare and PNG apply).
    pub fn is_chart(self) -> bool {
        matches!(
            self,
            PanelKind::Line
                | PanelKind::Area
                | PanelKind::Stacked
                | PanelKind::Bar
                | PanelKind::Status
                | PanelKind::Heatmap
        )
    }
}

/// A value from which on a threshold's colour applies (the lowest applies from minus infinity).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub value: f64,
    /// A CSS colour name or `#rrggbb`.
    pub color: String,
}

/// The earlier period a panel compares with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    Hour,
    Day,
    Week,
}

// As written in the configuration and the URL.
named!(Compare { Hour = "1h", Day = "1d", Week = "1w" });

impl Compare {
    pub const ALL: [Compare; 3] = [Compare::Hour, Compare::Day, Compare::Week];

    pub fn millis(self) -> Millis {
        match self {
            Compare::Hour => 3_600_000,
            Compare::Day => 86_400_000,
            Compare::Week => 7 * 86_400_000,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Compare::Hour => "1 h ago",
            Compare::Day => "1 d ago",
            Compare::Week => "1 w ago",
        }
    }
}

/// Columns of the dashboard grid.
pub const GRID_COLUMNS: u8 = 12;

/// One panel (`[[dashboards.panels]]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelSpec {
    /// Unique in its dashboard: `panel=<id>` in the URL, `data-panel` on the page.
    pub id: String,
    #[serde(default)]
    pub title: String,
    /// A query (`model::query`); exactly one of `query` and `metrics`.
    #[serde(default)]
    pub query: Option<String>,
    /// Series by key, a line each (a counter's as its rate).
    #[serde(default)]
    pub metrics: Vec<String>,
    #[serde(default)]
    pub kind: PanelKind,
    /// Empty: the first series' unit.
    #[serde(default)]
    pub unit: String,
    /// None: the first series' format.
    #[serde(default)]
    pub format: Option<Format>,
    /// Colours from values on, lowest first.
    #[serde(default)]
    pub thresholds: Vec<Threshold>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// Lines and bars stacked (an area kind stacks whatever this says).
    #[serde(default)]
    pub stack: bool,
    #[serde(default)]
    pub compare: Option<Compare>,
    /// Grid columns (of 12) and rows taken; 0: the kind's default.
    #[serde(default)]
    pub width: u8,
    #[serde(default)]
    pub height: u8,
}

impl PanelSpec {
    /// A panel of `kind` showing `query`, everything else by default.
    pub fn of_query(id: &str, title: &str, kind: PanelKind, query: &str) -> PanelSpec {
        PanelSpec {
            id: id.into(),
            title: title.into(),
            query: Some(query.into()),
            metrics: Vec::new(),
            kind,
            unit: String::new(),
            format: None,
            thresholds: Vec::new(),
            min: None,
            max: None,
            stack: false,
            compare: None,
            width: 0,
            height: 0,
        }
    }

    /// A panel of `kind` showing `metrics`.
    pub fn of_metrics(id: &str, title: &str, kind: PanelKind, metrics: Vec<String>) -> PanelSpec {
        PanelSpec { query: None, metrics, ..PanelSpec::of_query(id, title, kind, "") }
    }

    /// Checks what the configuration cannot type: an id, one source, a query that parses,
    /// thresholds in order, a size inside the grid.
    pub fn check(&self) -> Result<(), String> {
        if self.id.is_empty()
            || self.id.len() > 64
            || !self.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!("panel id '{}': 1 to 64 letters, digits, '-' or '_'", self.id));
        }
        match (&self.query, self.metrics.is_empty()) {
            (Some(_), false) | (None, true) => {
                return Err(format!("panel '{}': give exactly one of `query` and `metrics`", self.id))
            }
            (Some(query), true) => {
                super::query::Query::parse(query).map_err(|error| format!("panel '{}': query {error}", self.id))?;
            }
            (None, false) => {}
        }
        if let Some(bad) = self.thresholds.iter().find(|threshold| colour_rgb(&threshold.color).is_none()) {
            return Err(format!(
                "panel '{}': colour '{}' is not #rrggbb or one of {}",
                self.id,
                bad.color,
                NAMED_COLOURS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
            ));
        }
        if self.thresholds.windows(2).any(|pair| pair[0].value >= pair[1].value) {
            return Err(format!("panel '{}': thresholds go from the lowest value up", self.id));
        }
        if let (Some(min), Some(max)) = (self.min, self.max) {
            if min >= max {
                return Err(format!("panel '{}': min {min} is not below max {max}", self.id));
            }
        }
        if self.width > GRID_COLUMNS {
            return Err(format!("panel '{}': width {} is past the grid's {GRID_COLUMNS} columns", self.id, self.width));
        }
        if self.height > 8 {
            return Err(format!("panel '{}': height {} is past 8 rows", self.id, self.height));
        }
        Ok(())
    }

    /// Grid columns taken: as set, else the kind's.
    pub fn columns(&self) -> u8 {
        match (self.width, self.kind) {
            (0, PanelKind::Stat | PanelKind::Gauge) => 3,
            (0, _) => 6,
            (width, _) => width,
        }
    }

    /// Grid rows taken.
    pub fn rows(&self) -> u8 {
        match (self.height, self.kind) {
            (0, PanelKind::Stat | PanelKind::Gauge) => 1,
            (0, _) => 2,
            (height, _) => height,
        }
    }

    /// The colour of `value` by the thresholds, if any applies.
    pub fn threshold_colour(&self, value: f64) -> Option<&str> {
        threshold_colour(&self.thresholds, value)
    }
}

/// The colour of `value`: the last threshold at or below it, else the lowest one.
pub fn threshold_colour(thresholds: &[Threshold], value: f64) -> Option<&str> {
    let at = thresholds.iter().rev().find(|threshold| value >= threshold.value).or(thresholds.first())?;
    Some(at.color.as_str())
}

/// Colour names thresholds may use, as the charts draw them (readable on both themes).
pub const NAMED_COLOURS: [(&str, (u8, u8, u8)); 6] = [
    ("green", (0x2e, 0x9e, 0x5b)),
    ("yellow", (0xd4, 0xb1, 0x06)),
    ("orange", (0xd9, 0x8c, 0x00)),
    ("red", (0xd6, 0x45, 0x45)),
    ("blue", (0x3d, 0x8b, 0xd9)),
    ("purple", (0x8e, 0x5c, 0xd9)),
];

/// A threshold's colour as red, green and blue: `#rrggbb` or a name of `NAMED_COLOURS`.
pub fn colour_rgb(text: &str) -> Option<(u8, u8, u8)> {
    if let Some(hex) = text.strip_prefix('#').filter(|hex| hex.len() == 6 && hex.is_ascii()) {
        let byte = |at: usize| u8::from_str_radix(&hex[at..at + 2], 16).ok();
        return Some((byte(0)?, byte(2)?, byte(4)?));
    }
    NAMED_COLOURS.iter().find(|(name, _)| name.eq_ignore_ascii_case(text)).map(|(_, rgb)| *rgb)
}

/// A threshold's colour as CSS writes it (`#rrggbb`), the same the canvas draws.
pub fn colour_hex(text: &str) -> Option<String> {
    colour_rgb(text).map(|(r, g, b)| format!("#{r:02x}{g:02x}{b:02x}"))
}

/// The default panels of a dashboard without configured ones: one per family (a family's
/// series together, a lone series alone), in the order of the definitions; a counter's drawn
/// as its rate; percentages between 0 and 100 %.
pub fn default_panels(definitions: &[MetricDefinition]) -> Vec<PanelSpec> {
    chart_groups(definitions)
        .into_iter()
        .map(|ChartGroup { key, caption, members }| {
            let kind = match members[0].chart {
                ChartKind::Area => PanelKind::Area,
                _ => PanelKind::Line,
            };
            let percent = members[0].format == Format::Percent && members[0].kind == SeriesKind::Gauge;
            let names = members.into_iter().map(|member| member.name).collect();
            PanelSpec {
                min: percent.then_some(0.0),
                max: percent.then_some(1.0),
                ..PanelSpec::of_metrics(&key, &caption, kind, names)
            }
        })
        .collect()
}

/// Series stacked: each one's points raised by the sum of those before it at the same time
/// (a series without a point at a time adds nothing there). Points in time order.
pub fn stacked(series: &[Vec<Point>]) -> Vec<Vec<Point>> {
    let mut base: BTreeMap<Millis, f64> = BTreeMap::new();
    series
        .iter()
        .map(|points| {
            points
                .iter()
                .map(|&(ts, value)| {
                    let below = base.entry(ts).or_insert(0.0);
                    *below += value;
                    (ts, *below)
                })
                .collect()
        })
        .collect()
}

/// One cell of a heatmap: a time column, a bucket row, and how many observations fell in it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeatCell {
    pub from: Millis,
    pub to: Millis,
    /// The bucket's row (0 the lowest bound) and its upper bound.
    pub row: usize,
    pub le: f64,
    pub count: f64,
}

/// A histogram's cumulative buckets (a series per `le`, each its points over time, already a
/// rate or an increase) as cells: per time, each bucket's own count (its value less the bucket
/// below it), from that point to the next. The bounds come back sorted, `+Inf` last.
pub fn heatmap_cells(buckets: &[(f64, &[Point])]) -> (Vec<f64>, Vec<HeatCell>) {
    let mut bounds: Vec<f64> = buckets.iter().map(|(le, _)| *le).collect();
    super::sort::sort_by(&mut bounds, f64::total_cmp);
    bounds.dedup();
    let mut times: Vec<Millis> = buckets.iter().flat_map(|(_, points)| points.iter().map(|(ts, _)| *ts)).collect();
    super::sort::sort_by(&mut times, Ord::cmp);
    times.dedup();
    let value = |le: f64, ts: Millis| {
        buckets
            .iter()
            .filter(|(bound, _)| *bound == le)
            .find_map(|(_, points)| points.binary_search_by_key(&ts, |(at, _)| *at).ok().map(|index| points[index].1))
    };
    let mut cells = Vec::new();
    for (index, &ts) in times.iter().enumerate() {
        let to = times.get(index + 1).copied().unwrap_or(ts + times.get(1).map_or(1_000, |next| next - times[0]));
        let mut below = 0.0;
        for (row, &le) in bounds.iter().enumerate() {
            let Some(cumulative) = value(le, ts) else { continue };
            cells.push(HeatCell { from: ts, to, row, le, count: (cumulative - below).max(0.0) });
            below = cumulative;
        }
    }
    (bounds, cells)
}

/// A status series as bands: each run of one value from its first point to the next change
/// (the last to `until`).
pub fn status_bands(points: &[Point], until: Millis) -> Vec<(Millis, Millis, f64)> {
    let mut bands: Vec<(Millis, Millis, f64)> = Vec::new();
    for &(ts, value) in points {
        match bands.last_mut() {
            Some(band) if band.2 == value => {}
            Some(band) => {
                band.1 = ts;
                bands.push((ts, ts, value));
            }
            None => bands.push((ts, ts, value)),
        }
    }
    if let Some(last) = bands.last_mut() {
        last.1 = until.max(last.1);
    }
    bands
}

/// Silent intervals after which a series is stale.
pub const STALE_INTERVALS: Millis = 3;

/// When a series is stale: silent for more than three of its own intervals (the median gap
/// between its recent points), so a series written every minute is not stale after ten seconds
/// and one written every second is after four. `None` with fewer than two points.
pub fn stale_after(points: &[Point]) -> Option<Millis> {
    let recent = &points[points.len().saturating_sub(9)..];
    let mut gaps: Vec<Millis> = recent.windows(2).map(|pair| pair[1].0 - pair[0].0).filter(|gap| *gap > 0).collect();
    if gaps.is_empty() {
        return None;
    }
    super::sort::sort_by(&mut gaps, Ord::cmp);
    Some(recent.last()?.0 + gaps[gaps.len() / 2] * STALE_INTERVALS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threshold(value: f64, color: &str) -> Threshold {
        Threshold { value, color: color.into() }
    }

    #[test]
    fn a_value_takes_the_colour_of_the_last_threshold_at_or_below_it() {
        let thresholds = [threshold(0.0, "green"), threshold(80.0, "orange"), threshold(90.0, "red")];
        assert_eq!(threshold_colour(&thresholds, 50.0), Some("green"));
        assert_eq!(threshold_colour(&thresholds, 80.0), Some("orange"));
        assert_eq!(threshold_colour(&thresholds, 95.0), Some("red"));
        assert_eq!(threshold_colour(&thresholds, -5.0), Some("green"), "below all: the lowest");
        assert_eq!(threshold_colour(&[], 1.0), None);
    }

    #[test]
    fn stacked_series_add_up_at_each_time() {
        let series = vec![vec![(0, 1.0), (1, 2.0)], vec![(0, 10.0), (2, 5.0)]];
        assert_eq!(stacked(&series), vec![vec![(0, 1.0), (1, 2.0)], vec![(0, 11.0), (2, 5.0)]]);
    }

    #[test]
    fn cumulative_buckets_become_each_buckets_own_count() {
        let (le1, le5, inf) = (vec![(0, 2.0), (10, 1.0)], vec![(0, 5.0), (10, 4.0)], vec![(0, 6.0), (10, 4.0)]);
        let (bounds, cells) = heatmap_cells(&[(f64::INFINITY, &inf), (1.0, &le1), (5.0, &le5)]);
        assert_eq!(bounds, vec![1.0, 5.0, f64::INFINITY]);
        let counts: Vec<(Millis, usize, f64)> = cells.iter().map(|c| (c.from, c.row, c.count)).collect();
        assert_eq!(counts, vec![(0, 0, 2.0), (0, 1, 3.0), (0, 2, 1.0), (10, 0, 1.0), (10, 1, 3.0), (10, 2, 0.0)]);
        assert_eq!(cells[0].to, 10);
        assert_eq!(cells[3].to, 20, "the last column is as wide as the others");
    }

    #[test]
    fn a_status_series_becomes_bands_of_one_value() {
        let points = [(0, 1.0), (10, 1.0), (20, 0.0), (30, 1.0)];
        assert_eq!(status_bands(&points, 40), vec![(0, 20, 1.0), (20, 30, 0.0), (30, 40, 1.0)]);
        assert!(status_bands(&[], 40).is_empty());
    }

    #[test]
    fn a_series_is_stale_after_three_of_its_own_intervals() {
        let every_second: Vec<Point> = (0..10).map(|i| (i * 1_000, 1.0)).collect();
        assert_eq!(stale_after(&every_second), Some(9_000 + 3_000));
        let every_minute: Vec<Point> = (0..10).map(|i| (i * 60_000, 1.0)).collect();
        assert_eq!(stale_after(&every_minute), Some(9 * 60_000 + 180_000));
        assert_eq!(stale_after(&every_second[..1]), None);
    }

    #[test]
    fn panels_are_checked_and_sized_by_kind() {
        let good = PanelSpec::of_query("errors", "Errors", PanelKind::Stat, r#"sum(rate(x{code=~"5.."}))"#);
        assert_eq!(good.check(), Ok(()));
        assert_eq!((good.columns(), good.rows()), (3, 1));
        let bad = PanelSpec::of_query("errors", "", PanelKind::Line, "sum(x");
        assert!(bad.check().unwrap_err().contains("at character 6"), "{:?}", bad.check());
        let both = PanelSpec { metrics: vec!["a".into()], ..good.clone() };
        assert!(both.check().unwrap_err().contains("exactly one"));
        let unordered = PanelSpec { thresholds: vec![threshold(5.0, "red"), threshold(1.0, "green")], ..good.clone() };
        assert!(unordered.check().is_err());
        assert!(PanelSpec { id: "a b".into(), ..good.clone() }.check().is_err());
        let pink = PanelSpec { thresholds: vec![threshold(1.0, "pinkish")], ..good };
        assert!(pink.check().unwrap_err().contains("'pinkish' is not #rrggbb"));
        assert_eq!(colour_rgb("#ff8000"), Some((255, 128, 0)));
        assert_eq!(colour_rgb("Red"), Some((0xd6, 0x45, 0x45)));
    }

    #[test]
    fn without_panels_each_family_gets_one() {
        let mut cpu0 = MetricDefinition::inferred(r#"cpu_core{core="0"}"#);
        cpu0.family = Some("cpu_core".into());
        let mut cpu1 = MetricDefinition::inferred(r#"cpu_core{core="1"}"#);
        cpu1.family = Some("cpu_core".into());
        let mut cpu = MetricDefinition::inferred("cpu");
        cpu.format = Format::Percent;
        let panels = default_panels(&[cpu, cpu0, cpu1]);
        assert_eq!(panels.len(), 2);
        assert_eq!((panels[0].id.as_str(), panels[0].min, panels[0].max), ("cpu", Some(0.0), Some(1.0)));
        assert_eq!(panels[1].id, "cpu_core");
        assert_eq!(panels[1].metrics.len(), 2);
    }
}

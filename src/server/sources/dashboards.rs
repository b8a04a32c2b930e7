//! The dashboards a server shows and what feeds them: the built-in sources, the metric
//! definitions a configuration file may override, and the defaults without a file (`main` fed
//! by the simulator, `host` by this machine). Read from `[[dashboards]]` by `settings::file`,
//! used by `sources` to declare what they feed.

use crate::model::panel::{PanelKind, PanelSpec, Threshold};
use crate::protocol::{ChartKind, Format, MetricDefinition, ProducerKind, SeriesKind};
use serde::Deserialize;

/// A producer built into the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The demo business simulator.
    Simulator,
    /// This machine's CPU, memory, load, network and disk.
    Host,
}

/// How the dashboard list names what a built-in source fed.
impl From<SourceKind> for ProducerKind {
    fn from(kind: SourceKind) -> Self {
        match kind {
            SourceKind::Simulator => ProducerKind::Simulator,
            SourceKind::Host => ProducerKind::Host,
        }
    }
}

/// One dashboard as configured.
#[derive(Clone, Debug, PartialEq)]
pub struct DashboardConfig {
    pub id: String,
    /// Empty: the source's title, or the id.
    pub title: String,
    pub sources: Vec<SourceKind>,
    /// Shown first, in this order; metrics the sources or ingest add follow.
    pub metrics: Vec<MetricConfig>,
    /// Kinds configured for whole families (an entry naming a family alone or a `*` pattern of
    /// families, with a `kind`): given to their series, labelled ones too, unless a producer
    /// states another.
    pub family_kinds: FamilyKinds,
    /// The panels shown, in order (`[[dashboards.panels]]`); none: one per family.
    pub panels: Vec<PanelSpec>,
    /// One of the defaults used without a configuration file: not shown when its source is
    /// turned off (a configured dashboard always is).
    pub built_in: bool,
}

/// `kind`s configured for families, first match wins.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FamilyKinds(pub Vec<(String, SeriesKind)>);

impl FamilyKinds {
    /// The kind configured for `family`, if any.
    pub fn of(&self, family: &str) -> Option<SeriesKind> {
        self.0.iter().find(|(pattern, _)| crate::model::glob::matches(pattern, family)).map(|&(_, kind)| kind)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One metric as configured; absent fields come from the source's own definition.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    /// A series key (`cpu`, `http_requests_total{code="500"}`), or a `*` pattern of families
    /// (`node_*_bytes_total`: then only `kind`, for their series).
    pub name: String,
    pub label: Option<String>,
    pub unit: Option<String>,
    pub format: Option<Format>,
    pub chart: Option<ChartKind>,
    /// `counter` or `gauge`; without it, what the source says, else the name's rule.
    pub kind: Option<SeriesKind>,
}

impl MetricConfig {
    /// Whether `name` is a pattern of families rather than a series.
    pub fn is_pattern(&self) -> bool {
        self.name.contains('*')
    }

    /// The definition shown, filling gaps from `fallback` (the source's definition, if any).
    pub fn definition(&self, fallback: Option<&MetricDefinition>) -> MetricDefinition {
        let base = fallback.cloned().unwrap_or_else(|| MetricDefinition::inferred(&self.name));
        MetricDefinition {
            name: self.name.clone(),
            label: self.label.clone().unwrap_or(base.label),
            unit: self.unit.clone().unwrap_or(base.unit),
            format: self.format.unwrap_or(base.format),
            chart: self.chart.unwrap_or(base.chart),
            kind: self.kind.unwrap_or(base.kind),
            ..base
        }
    }
}

/// Without a file: the simulator on `main` and this machine on `host`.
pub fn default_dashboards() -> Vec<DashboardConfig> {
    let built_in = |id: &str, source, panels| DashboardConfig {
        id: id.into(),
        title: String::new(),
        sources: vec![source],
        metrics: Vec::new(),
        family_kinds: FamilyKinds::default(),
        panels,
        built_in: true,
    };
    vec![built_in("main", SourceKind::Simulator, Vec::new()), built_in("host", SourceKind::Host, host_panels())]
}

/// The host dashboard laid out as host dashboards are: how full the machine is at a glance (a
/// gauge each for CPU, memory and disk, the load), then the detail over time (every core, the
/// network by device, each mount).
fn host_panels() -> Vec<PanelSpec> {
    let busy = || {
        vec![
            Threshold { value: 0.0, color: "#2e9e5b".into() },
            Threshold { value: 0.75, color: "#d98c00".into() },
            Threshold { value: 0.9, color: "#d64545".into() },
        ]
    };
    let gauge = |id: &str, title: &str| PanelSpec {
        min: Some(0.0),
        max: Some(1.0),
        thresholds: busy(),
        ..PanelSpec::of_metrics(id, title, PanelKind::Gauge, vec![id.into()])
    };
    let percent_chart = |id: &str, title: &str, query: &str| PanelSpec {
        min: Some(0.0),
        max: Some(1.0),
        format: Some(Format::Percent),
        unit: "%".into(),
        ..PanelSpec::of_query(id, title, PanelKind::Line, query)
    };
    vec![
        gauge("cpu", "CPU"),
        gauge("memory", "Memory"),
        gauge("disk", "Disk used"),
        PanelSpec::of_metrics("load1", "Load average (1 min)", PanelKind::Stat, vec!["load1".into()]),
        percent_chart("cpu_core", "CPU by core", "cpu_core"),
        PanelSpec {
            format: Some(Format::Bytes),
            unit: "B/s".into(),
            width: 6,
            ..PanelSpec::of_query("network", "Network by device", PanelKind::Line, "net_*")
        },
        PanelSpec {
            unit: "%".into(),
            ..PanelSpec::of_metrics("memory_use", "Memory", PanelKind::Area, vec!["memory".into()])
        },
        PanelSpec { thresholds: busy(), ..percent_chart("disk_used", "Disk used by mount", "disk_used") },
    ]
}

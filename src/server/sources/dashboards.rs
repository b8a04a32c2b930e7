//! The dashboards a server shows and what feeds them: the built-in sources, the metric
//! definitions a configuration file may override, and the defaults without a file (`main` fed
//! by the simulator, `host` by this machine). Read from `[[dashboards]]` by `settings::file`,
//! used by `sources` to declare what they feed.

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
    let built_in = |id: &str, source| DashboardConfig {
        id: id.into(),
        title: String::new(),
        sources: vec![source],
        metrics: Vec::new(),
        family_kinds: FamilyKinds::default(),
        built_in: true,
    };
    vec![built_in("main", SourceKind::Simulator), built_in("host", SourceKind::Host)]
}

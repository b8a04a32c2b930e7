//! The TOML configuration file (`--config` / `LIVEDASH_CONFIG`): server settings by flag name,
//! and the dashboards to serve (title, metrics in order with label, unit, format and chart,
//! and the sources that feed them). Errors name the file, line and key; a server with a bad
//! file refuses to start.
//!
//! ```toml
//! addr = "0.0.0.0:3000"          # any `livedash --help` flag, dashes or underscores
//! retain_seconds = "48h"
//!
//! [[dashboards]]
//! id = "shop"
//! title = "Shop"
//! sources = ["simulator"]        # "simulator", "host"; ingest can feed any dashboard
//!
//! [[dashboards.metrics]]
//! name = "orders"
//! label = "Orders"
//! unit = "/s"
//! format = "integer"             # integer, decimal, percent, currency, bytes, duration
//! chart = "area"                 # line (default), area, none
//! ```
//!
//! Precedence: flags, then `LIVEDASH_*` variables, then the file, then built-in defaults.

use crate::model::panel::PanelSpec;
use crate::protocol::{check_dashboard_id, metric_key};
use crate::server::alerts::{
    eval::rules::{AlertRule, RuleShape},
    notify::receivers::{ReceiverConfig, ReceiverShape},
};
use crate::server::auth::{
    api_tokens::{check_sha256, TokenConfig},
    patterns::DashboardPatterns,
    users::{check_password_hash, Role, UserConfig},
    Scope,
};
pub use crate::server::config::ConfigError;
use crate::server::ingest::scrape::{ScrapeConfig, ScrapeShape};
use crate::server::sources::dashboards::{DashboardConfig, FamilyKinds, MetricConfig, SourceKind};
use serde::Deserialize;
use std::{collections::BTreeMap, path::Path};
use toml::Spanned;

/// What a file holds: settings as flag values (`--name value`) with their lines, and dashboards.
#[derive(Debug, Default)]
pub struct ConfigFile {
    pub settings: Vec<Setting>,
    pub dashboards: Vec<DashboardConfig>,
    pub users: Vec<UserConfig>,
    pub tokens: Vec<TokenConfig>,
    pub alerts: Vec<AlertRule>,
    pub receivers: Vec<ReceiverConfig>,
    pub scrape: Vec<ScrapeConfig>,
}

#[derive(Debug, PartialEq)]
pub struct Setting {
    /// The flag's long name, with dashes.
    pub flag: String,
    pub value: String,
    pub line: usize,
}

#[derive(Deserialize)]
struct Shape {
    #[serde(default)]
    dashboards: Vec<Spanned<DashboardShape>>,
    #[serde(default)]
    users: Vec<Spanned<UserShape>>,
    #[serde(default)]
    tokens: Vec<Spanned<TokenShape>>,
    #[serde(default)]
    alerts: Vec<Spanned<RuleShape>>,
    #[serde(default)]
    receivers: Vec<Spanned<ReceiverShape>>,
    #[serde(default)]
    scrape: Vec<Spanned<ScrapeShape>>,
}

/// The tables that are not settings.
const SECTIONS: [&str; 6] = ["dashboards", "users", "tokens", "alerts", "receivers", "scrape"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserShape {
    name: Spanned<String>,
    /// Only so that a plaintext password is refused by name, not as an unknown key.
    #[serde(default)]
    password: Option<Spanned<String>>,
    #[serde(default)]
    password_hash: Option<Spanned<String>>,
    role: Role,
    #[serde(default)]
    dashboards: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenShape {
    name: Spanned<String>,
    sha256: Spanned<String>,
    scope: Scope,
    #[serde(default)]
    dashboards: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DashboardShape {
    id: Spanned<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    sources: Vec<SourceKind>,
    #[serde(default)]
    metrics: Vec<Spanned<MetricConfig>>,
    #[serde(default)]
    panels: Vec<Spanned<PanelSpec>>,
}

/// A `*` pattern of families (`node_*_bytes_total`) sets their kind and nothing else.
fn check_family_pattern(metric: &MetricConfig) -> Result<(), String> {
    // Valid when every `*` could stand for a letter of a valid family name.
    let family = metric.name.replace('*', "a");
    if family.contains('{') || metric_key(&family).is_err() {
        return Err(format!(
            "key 'name': '{}' is neither a series nor a pattern of families (a family name with `*`, no labels)",
            metric.name
        ));
    }
    let MetricConfig { kind, label, unit, format, chart, .. } = metric;
    if kind.is_none() || label.is_some() || unit.is_some() || format.is_some() || chart.is_some() {
        return Err(format!(
            "pattern '{}': a pattern of families sets `kind` (counter or gauge) and nothing else",
            metric.name
        ));
    }
    Ok(())
}

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| ConfigError(format!("{}: cannot read: {error}", path.display())))?;
    parse(&text, &path.display().to_string())
}

/// Parses a file's `text`; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<ConfigFile, ConfigError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let toml_error = |error: toml::de::Error| {
        let line = error.span().map_or(String::new(), |span| format!(":{}", line_of(span.start)));
        ConfigError(format!("{origin}{line}: {}", error.message().trim()))
    };
    let at = |offset: usize, message: String| ConfigError(format!("{origin}:{}: {message}", line_of(offset)));

    let document: BTreeMap<String, Spanned<toml::Value>> = toml::from_str(text).map_err(toml_error)?;
    let mut settings = Vec::new();
    for (key, value) in &document {
        if SECTIONS.contains(&key.as_str()) {
            continue;
        }
        let text_value = match value.get_ref() {
            toml::Value::String(text) => text.clone(),
            toml::Value::Integer(number) => number.to_string(),
            toml::Value::Float(number) => number.to_string(),
            toml::Value::Boolean(flag) => flag.to_string(),
            // A list setting (`allowed_origins = [...]`), as the flag takes it: comma-separated.
            toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => {
                items.iter().filter_map(toml::Value::as_str).collect::<Vec<_>>().join(",")
            }
            other => {
                return Err(at(
                    value.span().start,
                    format!("key '{key}': expected a string, number or boolean, found {}", other.type_str()),
                ))
            }
        };
        settings.push(Setting { flag: key.replace('_', "-"), value: text_value, line: line_of(value.span().start) });
    }

    let shape: Shape = toml::from_str(text).map_err(toml_error)?;
    let mut dashboards: Vec<DashboardConfig> = Vec::new();
    for dashboard in shape.dashboards {
        let dashboard = dashboard.into_inner();
        let (id_span, id) = (dashboard.id.span(), dashboard.id.into_inner());
        if let Err(error) = check_dashboard_id(&id) {
            return Err(at(id_span.start, format!("key 'id': {error}")));
        }
        if dashboards.iter().any(|d| d.id == id) {
            return Err(at(id_span.start, format!("key 'id': dashboard '{id}' is defined twice")));
        }
        let mut metrics: Vec<MetricConfig> = Vec::new();
        let mut family_kinds = FamilyKinds::default();
        for metric in dashboard.metrics {
            let span = metric.span();
            let mut metric = metric.into_inner();
            if metric.is_pattern() {
                check_family_pattern(&metric).map_err(|error| at(span.start, error))?;
            } else {
                metric.name = metric_key(&metric.name)
                    .map_err(|error| at(span.start, format!("key 'name': {error}")))?
                    .into_owned();
            }
            if metrics.iter().any(|m| m.name == metric.name) {
                return Err(at(span.start, format!("key 'name': metric '{}' is listed twice in '{id}'", metric.name)));
            }
            // A family's kind is its labelled series' too.
            if let (Some(kind), false) = (metric.kind, metric.name.contains('{')) {
                family_kinds.0.push((metric.name.clone(), kind));
            }
            metrics.push(metric);
        }
        let mut panels: Vec<PanelSpec> = Vec::new();
        for panel in dashboard.panels {
            let (span, panel) = (panel.span(), panel.into_inner());
            panel.check().map_err(|error| at(span.start, error))?;
            if panels.iter().any(|p| p.id == panel.id) {
                return Err(at(span.start, format!("panel id '{}' is used twice in '{id}'", panel.id)));
            }
            panels.push(panel);
        }
        dashboards.push(DashboardConfig {
            id,
            title: dashboard.title,
            sources: dashboard.sources,
            metrics,
            family_kinds,
            panels,
            built_in: false,
        });
    }
    let mut users: Vec<UserConfig> = Vec::new();
    for user in shape.users {
        let (span, user) = (user.span(), user.into_inner());
        let name = user.name.get_ref();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(at(user.name.span().start, "key 'name': 1 to 64 characters, no control characters".into()));
        }
        if users.iter().any(|u| &u.name == name) {
            return Err(at(user.name.span().start, format!("key 'name': user '{name}' is defined twice")));
        }
        if let Some(password) = &user.password {
            let message = "key 'password': plaintext passwords are refused; put the output of `livedash hash-password` in password_hash";
            return Err(at(password.span().start, message.into()));
        }
        let Some(hash) = user.password_hash else {
            return Err(at(
                span.start,
                format!("user '{name}': key 'password_hash' is missing (`livedash hash-password`)"),
            ));
        };
        check_password_hash(hash.get_ref())
            .map_err(|error| at(hash.span().start, format!("key 'password_hash': {error}")))?;
        let dashboards = user.dashboards.map(|patterns| checked_patterns(patterns, &at)).transpose()?;
        users.push(UserConfig {
            name: user.name.into_inner(),
            password_hash: hash.into_inner(),
            role: user.role,
            dashboards,
        });
    }
    let mut tokens: Vec<TokenConfig> = Vec::new();
    for token in shape.tokens {
        let token = token.into_inner();
        check_sha256(token.sha256.get_ref())
            .map_err(|error| at(token.sha256.span().start, format!("key 'sha256': {error}")))?;
        if tokens.iter().any(|t| t.name == *token.name.get_ref()) {
            return Err(at(
                token.name.span().start,
                format!("key 'name': token '{}' is defined twice", token.name.get_ref()),
            ));
        }
        let dashboards = token.dashboards.map(|patterns| checked_patterns(patterns, &at)).transpose()?;
        tokens.push(TokenConfig {
            name: token.name.into_inner(),
            sha256: token.sha256.into_inner().to_ascii_lowercase(),
            scope: token.scope,
            dashboards,
        });
    }
    let alerts = crate::server::alerts::eval::rules::check(shape.alerts, &at)?;
    let receivers = crate::server::alerts::notify::receivers::check(shape.receivers, &at)?;
    let scrape = crate::server::ingest::scrape::check(shape.scrape, &at)?;
    Ok(ConfigFile { settings, dashboards, users, tokens, alerts, receivers, scrape })
}

/// A `dashboards` list of names and `*` patterns, each of which could match a dashboard id.
fn checked_patterns(
    patterns: Spanned<Vec<String>>,
    at: &impl Fn(usize, String) -> ConfigError,
) -> Result<DashboardPatterns, ConfigError> {
    let start = patterns.span().start;
    let patterns = DashboardPatterns::new(patterns.into_inner());
    if let Some(bad) = patterns.first_invalid() {
        return Err(at(start, format!("key 'dashboards': {bad:?} is not a dashboard name or pattern like ops-*")));
    }
    Ok(patterns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ChartKind, Format, MetricDefinition, SeriesKind};

    const EXAMPLE: &str = r#"
addr = "0.0.0.0:8080"
tick_ms = 500
simulator = false

[[dashboards]]
id = "shop"
title = "Shop"
sources = ["simulator"]

  [[dashboards.metrics]]
  name = "orders"
  label = "Orders"
  format = "integer"
  chart = "area"

  [[dashboards.metrics]]
  name = "revenue"

[[dashboards]]
id = "ingested"
"#;

    #[test]
    fn reads_settings_and_dashboards() {
        let file = parse(EXAMPLE, "livedash.toml").unwrap();
        let flags: Vec<_> = file.settings.iter().map(|s| (s.flag.as_str(), s.value.as_str(), s.line)).collect();
        assert_eq!(flags, [("addr", "0.0.0.0:8080", 2), ("simulator", "false", 4), ("tick-ms", "500", 3)]);
        assert_eq!(file.dashboards.len(), 2);
        let shop = &file.dashboards[0];
        assert_eq!((shop.id.as_str(), shop.title.as_str()), ("shop", "Shop"));
        assert_eq!(shop.sources, [SourceKind::Simulator]);
        let orders = shop.metrics[0].definition(None);
        assert_eq!((orders.label.as_str(), orders.format, orders.chart), ("Orders", Format::Int, ChartKind::Area));
        let fallback = MetricDefinition::new("revenue", "Revenue", "$/s", Format::Currency);
        assert_eq!(shop.metrics[1].definition(Some(&fallback)), fallback, "gaps come from the source");
        assert!(file.dashboards[1].sources.is_empty());
    }

    #[test]
    fn the_documented_example_is_valid() {
        let file = parse(include_str!("../../../docs/livedash.example.toml"), "example").unwrap();
        let ids: Vec<_> = file.dashboards.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["main", "host", "servers", "api"]);
        assert_eq!(file.dashboards[0].metrics[1].chart, Some(ChartKind::None));
        assert_eq!(file.dashboards[3].metrics[1].kind, Some(SeriesKind::Counter));
    }

    #[test]
    fn kinds_configured_on_families_and_patterns_cover_their_labelled_series() {
        let text = r#"
[[dashboards]]
id = "servers"
[[dashboards.metrics]]
name = "node_*_bytes"
kind = "counter"
[[dashboards.metrics]]
name = "jobs_done"
kind = "counter"
label = "Jobs"
[[dashboards.metrics]]
name = 'jobs_done{queue="a"}'
kind = "gauge"
"#;
        let file = parse(text, "livedash.toml").unwrap();
        let kinds = &file.dashboards[0].family_kinds;
        assert_eq!(kinds.of("node_network_receive_bytes"), Some(SeriesKind::Counter));
        assert_eq!(kinds.of("jobs_done"), Some(SeriesKind::Counter), "a family's kind is its labelled series' too");
        assert_eq!(kinds.of("node_load1"), None);
        let declared = crate::server::sources::configured_declaration(&file.dashboards[0], None);
        let names: Vec<_> = declared.definitions.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["jobs_done", r#"jobs_done{queue="a"}"#], "a pattern is not a series");
        for (bad, says) in [
            (
                "name = \"node_*\"\nunit = \"B\"\nkind = \"counter\"\n",
                "sets `kind` (counter or gauge) and nothing else",
            ),
            ("name = \"node_*\"\n", "sets `kind`"),
            ("name = 'node_*{cpu=\"0\"}'\nkind = \"counter\"\n", "neither a series nor a pattern of families"),
            ("name = \"9*\"\nkind = \"counter\"\n", "neither a series nor a pattern"),
        ] {
            let error = parse(&format!("[[dashboards]]\nid = \"a\"\n[[dashboards.metrics]]\n{bad}"), "f").unwrap_err();
            assert!(error.0.starts_with("f:3: ") && error.0.contains(says), "{bad}: {}", error.0);
        }
    }

    #[test]
    fn configured_series_are_kept_by_their_canonical_key_with_their_kind() {
        let text = r#"
[[dashboards]]
id = "api"
[[dashboards.metrics]]
name = 'http_requests_total{method="GET",code="500"}'
label = "Server errors"
[[dashboards.metrics]]
name = "queue_depth"
kind = "counter"

[[alerts]]
name = "errors"
dashboard = "api"
metric = 'http_requests_total{method="GET",code="500"}'
rate = true
crit = { above = 1 }
"#;
        let file = parse(text, "livedash.toml").unwrap();
        let metrics = &file.dashboards[0].metrics;
        assert_eq!(metrics[0].name, r#"http_requests_total{code="500",method="GET"}"#);
        let definition = metrics[0].definition(None);
        assert_eq!((definition.family.as_deref(), definition.kind), (Some("http_requests_total"), SeriesKind::Counter));
        assert_eq!(definition.labels["code"], "500");
        assert_eq!(metrics[1].definition(None).kind, SeriesKind::Counter, "as configured");
        assert_eq!(file.alerts[0].metric, metrics[0].name, "the rule names the same series");
        assert!(file.alerts[0].rate);
        let bad = parse("[[dashboards]]\nid = \"a\"\n[[dashboards.metrics]]\nname = 'm{a=\"1\",a=\"2\"}'\n", "f");
        assert!(bad.unwrap_err().to_string().contains("given twice"));
    }

    #[test]
    fn users_and_tokens() {
        let hash = crate::server::auth::users::hash_password("pw");
        let text = format!(
            "[[users]]\nname = \"alice\"\npassword_hash = \"{hash}\"\nrole = \"viewer\"\ndashboards = [\"main\", \"ops-*\"]\n\n\
             [[tokens]]\nname = \"ci\"\nsha256 = \"{}\"\nscope = \"write\"\n",
            "AB".repeat(32)
        );
        let file = parse(&text, "livedash.toml").unwrap();
        assert!(file.settings.is_empty(), "sections are not settings");
        assert_eq!(file.users[0].name, "alice");
        assert!(file.users[0].dashboards().covers("ops-db") && !file.users[0].dashboards().covers("host"));
        assert_eq!((file.tokens[0].scope, file.tokens[0].sha256.as_str()), (Scope::Write, "ab".repeat(32).as_str()));
        let user = |body: &str| format!("[[users]]\nname = \"a\"\nrole = \"admin\"\n{body}\n");
        let cases = [
            (user("password = \"hunter2\""), "livedash.toml:4:", "plaintext passwords are refused"),
            (user("password_hash = \"hunter2\""), "livedash.toml:4:", "livedash hash-password"),
            (user(""), "livedash.toml:1:", "password_hash' is missing"),
            (user(&format!("password_hash = \"{hash}\"\ndashboards = [\"Main!\"]")), "livedash.toml:5:", "Main!"),
            (user("").replace("admin", "root"), "livedash.toml:", "root"),
            ("[[tokens]]\nname = \"ci\"\nsha256 = \"abc\"\nscope = \"write\"\n".into(), "livedash.toml:3:", "64 hex"),
            ("[[tokens]]\nname = \"ci\"\nsha256 = \"abc\"\nscope = \"all\"\n".into(), "livedash.toml:", "all"),
        ];
        for (text, location, expected) in cases {
            let error = parse(&text, "livedash.toml").unwrap_err().0;
            assert!(error.starts_with(location) && error.contains(expected), "{text:?}: {error}");
            assert!(!error.contains("hunter2"), "a password is never repeated: {error}");
        }
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            ("[[dashboards]]\nid = \"shop\"\ncolour = \"red\"\n", "livedash.toml:3:", "colour"),
            ("[[dashboards]]\nid = \"Shop!\"\n", "livedash.toml:2:", "key 'id'"),
            ("[[dashboards]]\nid = \"a\"\n[[dashboards]]\nid = \"a\"\n", "livedash.toml:4:", "defined twice"),
            ("[[dashboards]]\nid = \"a\"\nsources = [\"sql\"]\n", "livedash.toml:3:", "sql"),
            (
                "[[dashboards]]\nid = \"a\"\n[[dashboards.metrics]]\nname = \"x\"\nformat = \"roman\"\n",
                "livedash.toml:5:",
                "roman",
            ),
            ("[[dashboards]]\nid = \"a\"\n[[dashboards.metrics]]\nname = \"9x\"\n", "livedash.toml:3:", "key 'name'"),
            ("[[scrape]]\nurl = \"ftp://x/metrics\"\ndashboard = \"a\"\n", "livedash.toml:2:", "key 'url'"),
            ("[[scrape]]\nurl = \"http://x/metrics\"\ndashboard = \"A!\"\n", "livedash.toml:3:", "key 'dashboard'"),
            (
                "[[scrape]]\nurl = \"http://x/\"\ndashboard = \"a\"\ninterval = \"fast\"\n",
                "livedash.toml:4:",
                "key 'interval'",
            ),
            (
                "[[scrape]]\nurl = \"http://x/\"\ndashboard = \"a\"\ninterval = \"1s\"\ntimeout = \"2s\"\n",
                "livedash.toml:5:",
                "longer than the interval",
            ),
            (
                "[[scrape]]\nurl = \"http://x/\"\ndashboard = \"a\"\nlabels = { instance = \"y\" }\n",
                "livedash.toml:4:",
                "key 'labels'",
            ),
            ("[[scrape]]\nurl = \"http://x/\"\ndashboard = \"a\"\nport = 1\n", "livedash.toml:4:", "port"),
            ("addr = [1, 2]\n", "livedash.toml:1:", "key 'addr'"),
            ("addr = \n", "livedash.toml:1:", ""),
        ];
        for (text, location, key) in cases {
            let error = parse(text, "livedash.toml").unwrap_err().0;
            assert!(error.starts_with(location), "{text:?}: {error}");
            assert!(error.contains(key), "{text:?}: {error}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn tomlish() -> impl Strategy<Value = String> {
            crate::testing::fragments(
                vec![
                    "[[dashboards]]\n",
                    "[[users]]\n",
                    "[[tokens]]\n",
                    "[[dashboards.metrics]]\n",
                    "id = \"a\"\n",
                    "name = \"x\"\n",
                    "role = \"admin\"\n",
                    "password = \"p\"\n",
                    "password_hash = \"$argon2id$\"\n",
                    "sha256 = \"ab\"\n",
                    "scope = \"read\"\n",
                    "dashboards = [\"*\"]\n",
                    "tick_ms = 0\n",
                    "addr = [1]\n",
                    "format = \"roman\"\n",
                    "= \n",
                    "\"\n",
                    "[x\n",
                ],
                12,
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

            /// Any file is either read or refused with its name and a line, never a panic.
            #[test]
            fn errors_always_name_the_file(text in tomlish()) {
                if let Err(error) = parse(&text, "livedash.toml") {
                    prop_assert!(error.0.starts_with("livedash.toml"), "{}", error.0);
                    prop_assert!(!error.0.contains("\"p\""), "a plaintext password is never repeated");
                }
            }
        }
    }
}

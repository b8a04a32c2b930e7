//! Prometheus scraping: `[[scrape]]` entries in the configuration file, each a target whose
//! `/metrics` is read on its own schedule and taken into its dashboard through ingest's
//! `apply` (the server's own producer: no credential, new series past the limit counted and
//! left out).
//!
//! ```toml
//! [[scrape]]
//! url = "http://127.0.0.1:9100/metrics"
//! dashboard = "node"
//! interval = "1s"                  # default 1s
//! timeout = "800ms"                # default: the interval
//! labels = { env = "lab" }         # added to every series of the target
//! honor_labels = false             # default: a scraped label that clashes becomes exported_<name>
//! ```
//!
//! Each target runs in its own task on a fixed schedule (`tokio::time::interval`: ticks do not
//! drift; a scrape that overruns skips ticks rather than bunching them), so a slow target
//! never delays another. Every scrape also writes the target's `up`, `scrape_duration_seconds`
//! and `scrape_samples_scraped`, labelled with its `instance` (the URL's host and port) and
//! `labels`, and records its health (`Targets`, read by `GET /api/v1/targets` and the
//! dashboard list). With several instances sharing Redis, one scrapes each target
//! (`Broker::lease`). The answer is negotiated like Prometheus' (`Accept`: OpenMetrics, then
//! the text format), gzip accepted.

use super::{
    apply,
    exposition::{self, Format},
    prometheus::{self, Destination},
    Applied, Converted, IngestState, Producer,
};
use crate::protocol::{
    check_dashboard_id, series::is_valid_label_name, series::SeriesKey, Millis, ProducerKind, SeriesKind, TargetHealth,
};
use crate::server::{
    broker::Admission,
    config::{http_url, ConfigError},
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use toml::Spanned;

/// What Prometheus asks for: OpenMetrics first, then the text format.
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                      text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// The largest answer read from a target, inflated.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// One `[[scrape]]` entry, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeConfig {
    pub url: reqwest::Url,
    pub dashboard: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub labels: BTreeMap<String, String>,
    pub honor_labels: bool,
}

/// `[[scrape]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeShape {
    url: Spanned<String>,
    dashboard: Spanned<String>,
    #[serde(default)]
    interval: Option<Spanned<String>>,
    #[serde(default)]
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    labels: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    honor_labels: bool,
}

/// Checks every `[[scrape]]` entry, errors pointing at the key.
pub(crate) fn check(
    shapes: Vec<Spanned<ScrapeShape>>,
    at: &impl Fn(usize, String) -> ConfigError,
) -> Result<Vec<ScrapeConfig>, ConfigError> {
    let mut configs: Vec<ScrapeConfig> = Vec::new();
    for shape in shapes {
        let shape = shape.into_inner();
        let url = http_url(&shape.url, at)?;
        let dashboard = shape.dashboard.get_ref().clone();
        check_dashboard_id(&dashboard)
            .map_err(|error| at(shape.dashboard.span().start, format!("key 'dashboard': {error}")))?;
        let duration = |key: &str, value: &Spanned<String>| {
            humantime::parse_duration(value.get_ref())
                .ok()
                .filter(|duration| *duration >= Duration::from_millis(100))
                .ok_or_else(|| {
                    at(
                        value.span().start,
                        format!("key '{key}': {:?} is not a duration of 100ms or more", value.get_ref()),
                    )
                })
        };
        let interval = shape
            .interval
            .as_ref()
            .map(|value| duration("interval", value))
            .transpose()?
            .unwrap_or(Duration::from_secs(1));
        let timeout = match &shape.timeout {
            Some(value) => {
                let timeout = duration("timeout", value)?;
                if timeout > interval {
                    return Err(at(value.span().start, "key 'timeout': longer than the interval".into()));
                }
                timeout
            }
            None => interval,
        };
        let labels = match shape.labels {
            Some(labels) => {
                let start = labels.span().start;
                let labels = labels.into_inner();
                if let Some(name) = labels.keys().find(|name| !is_valid_label_name(name) || *name == "instance") {
                    return Err(at(start, format!("key 'labels': '{name}' is not a label name a target may be given")));
                }
                labels
            }
            None => BTreeMap::new(),
        };
        if configs.iter().any(|config| config.url == url && config.dashboard == dashboard) {
            return Err(at(shape.url.span().start, format!("key 'url': {url} is scraped into '{dashboard}' twice")));
        }
        configs.push(ScrapeConfig { url, dashboard, interval, timeout, labels, honor_labels: shape.honor_labels });
    }
    Ok(configs)
}

/// Every target's health, in configuration order.
#[derive(Default)]
pub struct Targets(RwLock<Vec<TargetHealth>>);

impl Targets {
    pub fn list(&self) -> Vec<TargetHealth> {
        self.0.read().expect("targets lock poisoned").clone()
    }

    fn update(&self, index: usize, change: impl FnOnce(&mut TargetHealth)) {
        if let Some(target) = self.0.write().expect("targets lock poisoned").get_mut(index) {
            change(target);
        }
    }
}

/// Starts one task per target.
pub fn start(
    configs: &[ScrapeConfig],
    ingest: IngestState,
    targets: Arc<Targets>,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) {
    *targets.0.write().expect("targets lock poisoned") = configs
        .iter()
        .map(|config| TargetHealth {
            url: shown_url(&config.url),
            dashboard: config.dashboard.clone(),
            interval_ms: config.interval.as_millis() as u64,
            up: None,
            last_scrape: None,
            last_duration_ms: None,
            last_error: None,
            samples: 0,
            scraped_here: true,
        })
        .collect();
    let client = reqwest::Client::builder().build().expect("a client with default settings");
    for (index, config) in configs.iter().enumerate() {
        let target = Target {
            index,
            config: config.clone(),
            client: client.clone(),
            ingest: ingest.clone(),
            targets: targets.clone(),
        };
        tasks.spawn(target.run(shutdown.clone()));
    }
}

struct Target {
    index: usize,
    config: ScrapeConfig,
    client: reqwest::Client,
    ingest: IngestState,
    targets: Arc<Targets>,
}

/// What one scrape read, or why it failed.
type Scraped = Result<exposition::Exposition, String>;

impl Target {
    async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.config.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // Asked again every tick; held a few intervals so a brief stall does not hand it over.
        let lease = format!("{{{}}}:scrape:{}", self.config.dashboard, self.config.url);
        let hold = (self.config.interval * 3).max(Duration::from_secs(3));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let mine = self.ingest.broker.lease(&lease, hold).await;
            self.targets.update(self.index, |target| target.scraped_here = mine);
            if mine {
                self.scrape_once().await;
            }
        }
    }

    async fn scrape_once(&self) {
        let now = self.ingest.clock.now_millis();
        let started = Instant::now();
        let scraped = match tokio::time::timeout(self.config.timeout, self.fetch()).await {
            Ok(scraped) => scraped,
            Err(_) => Err(format!("no answer within {:?}", self.config.timeout)),
        };
        let duration = started.elapsed().as_secs_f64();
        let instance = self.instance();
        let (mut converted, samples, error) = match scraped {
            Ok(exposition) => {
                let samples = exposition.samples.len();
                (self.convert(exposition, &instance, now), samples, None)
            }
            Err(error) => (Converted::default(), 0, Some(error)),
        };
        let mut health = BTreeMap::from([("instance".to_owned(), instance)]);
        health.extend(self.config.labels.clone());
        for (family, value) in [
            ("up", if error.is_none() { 1.0 } else { 0.0 }),
            ("scrape_duration_seconds", duration),
            ("scrape_samples_scraped", samples as f64),
        ] {
            if let Ok(key) = SeriesKey::new(family, health.clone()) {
                converted.put(&self.config.dashboard, now, &key, value, SeriesKind::Gauge);
            }
        }
        let publications = converted.take_publications();
        let scraped_ok = error.is_none();
        let applied =
            apply(&self.ingest, Producer::Server(ProducerKind::Scrape), publications, Admission::Partial).await;
        let error = match (error, applied) {
            (Some(error), _) => Some(error),
            (None, Err(error)) => Some(format!("not applied: {error}")),
            (None, Ok(Applied { refused: 0, .. })) => None,
            (None, Ok(Applied { refused, .. })) => Some(format!(
                "{refused} new series past the dashboard's limit of {} (--max-metrics-per-dashboard)",
                self.ingest.max_series_per_dashboard
            )),
        };
        if let Some(error) = &error {
            tracing::debug!(url = %self.config.url, error, "scrape");
        }
        self.targets.update(self.index, |target| {
            target.up = Some(scraped_ok);
            target.last_scrape = Some(now);
            target.last_duration_ms = Some(duration * 1000.0);
            target.last_error = error;
            target.samples = samples;
        });
    }

    /// `host:port` of the target, the `instance` label of its series.
    fn instance(&self) -> String {
        let url = &self.config.url;
        format!("{}:{}", url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or_default())
    }

    async fn fetch(&self) -> Scraped {
        let timeout = self.config.timeout.as_secs_f64().to_string();
        let response = self
            .client
            .get(self.config.url.clone())
            .header(reqwest::header::ACCEPT, ACCEPT)
            .header(reqwest::header::ACCEPT_ENCODING, "gzip")
            .header("X-Prometheus-Scrape-Timeout-Seconds", timeout)
            .send()
            .await
            .map_err(|error| format!("cannot reach the target: {}", without_url(&error)))?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let header = |name| response.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
        let format = Format::of_content_type(&header(reqwest::header::CONTENT_TYPE));
        let gzipped = header(reqwest::header::CONTENT_ENCODING).eq_ignore_ascii_case("gzip");
        let body = read_bounded(response).await?;
        let body = if gzipped { gunzip(&body)? } else { body };
        let text = String::from_utf8(body).map_err(|_| "the answer is not UTF-8".to_owned())?;
        exposition::parse(&text, format).map_err(|error| error.to_string())
    }

    /// The exposition as updates of the target's dashboard, with its labels.
    fn convert(&self, mut exposition: exposition::Exposition, instance: &str, now: Millis) -> Converted {
        let mut target_labels = BTreeMap::from([("instance".to_owned(), instance.to_owned())]);
        target_labels.extend(self.config.labels.clone());
        for sample in &mut exposition.samples {
            for (name, value) in &target_labels {
                match sample.labels.get(name) {
                    Some(_) if self.config.honor_labels => {}
                    Some(_) => {
                        let scraped = sample.labels.remove(name).expect("present");
                        sample.labels.insert(format!("exported_{name}"), scraped);
                        sample.labels.insert(name.clone(), value.clone());
                    }
                    None => {
                        sample.labels.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        let dashboard = |_: &BTreeMap<String, String>| Some(self.config.dashboard.clone());
        let types = |family: &str| exposition.types.get(family).copied();
        let destination = Destination {
            dashboard: &dashboard,
            drop_label: None,
            types: &types,
            memory: &self.ingest.producers.memory,
            now,
        };
        prometheus::convert(exposition.samples, &destination)
    }
}

/// A target's URL as the API shows it: without a user or password.
fn shown_url(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

/// reqwest's error without the URL it carries (a target's URL may hold credentials).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "the target");
    }
    text
}

/// The answer's body, refused past `MAX_BODY_BYTES`.
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|error| format!("reading the answer: {}", without_url(&error)))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(format!("the answer is larger than {MAX_BODY_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A gzip body inflated, within `MAX_BODY_BYTES`.
fn gunzip(body: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut inflated = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(body).take(MAX_BODY_BYTES as u64 + 1);
    decoder.read_to_end(&mut inflated).map_err(|error| format!("not gzip: {error}"))?;
    if inflated.len() > MAX_BODY_BYTES {
        return Err(format!("the answer inflates past {MAX_BODY_BYTES} bytes"));
    }
    Ok(inflated)
}

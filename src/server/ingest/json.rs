//! `POST /api/v1/ingest`: JSON metrics from any program. A request is validated whole before
//! anything is published, so a bad item changes nothing; the first bad item is named by index.

use super::IngestState;
use super::{apply, Producer};
use crate::protocol::{check_dashboard_id, metric_key, Metrics, Millis, ProducerKind};
use crate::server::{
    auth::Access,
    broker::{Admission, Publication},
    http::ApiError,
};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, State},
    http::StatusCode,
    Extension, Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// One item as sent; checked by `validate`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestItem {
    dashboard: String,
    #[serde(default)]
    ts: Option<Millis>,
    metrics: serde_json::Map<String, Value>,
}

/// A rejected request: what is wrong and with which item.
#[derive(Debug, PartialEq)]
pub struct Rejection {
    pub index: usize,
    pub reason: String,
}

impl From<Rejection> for ApiError {
    fn from(Rejection { index, reason }: Rejection) -> Self {
        ApiError::BadItem { index, reason }
    }
}

/// `202 {"accepted": N}` with N the number of items (updates) applied.
pub async fn ingest(
    State(state): State<IngestState>,
    Extension(access): Extension<Access>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let publications = parse_batch(&body?, state.clock.now_millis())?;
    let accepted = publications.len();
    // Not logged: a refusal is the client's to see (and counted in /metrics); a failing store
    // logs its own failure once.
    apply(&state, Producer::Client(&access, ProducerKind::Json), publications, Admission::Whole).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": accepted }))))
}

/// Parses and validates a request body: one object or an array of them.
pub fn parse_batch(body: &[u8], now: Millis) -> Result<Vec<Publication>, Rejection> {
    let document: Value = serde_json::from_slice(body)
        .map_err(|error| Rejection { index: 0, reason: format!("invalid JSON: {error}") })?;
    let items = match document {
        Value::Array(items) if items.is_empty() => {
            return Err(Rejection { index: 0, reason: "empty array: nothing to ingest".into() })
        }
        Value::Array(items) => items,
        item => vec![item],
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| validate(item, now).map_err(|reason| Rejection { index, reason }))
        .collect()
}

fn validate(item: Value, now: Millis) -> Result<Publication, String> {
    let item: IngestItem = serde_json::from_value(item).map_err(|error| error.to_string())?;
    check_dashboard_id(&item.dashboard).map_err(|error| error.to_string())?;
    if item.metrics.is_empty() {
        return Err("metrics is empty".into());
    }
    let ts = item.ts.unwrap_or(now);
    if ts < 0 {
        return Err(format!("ts {ts} is before 1970"));
    }
    let mut metrics = Metrics::new();
    for (name, value) in item.metrics {
        // Labels written in any order name one series: its canonical key (the name itself,
        // unless it was written otherwise).
        let canonical = match metric_key(&name).map_err(|error| error.to_string())? {
            std::borrow::Cow::Owned(key) => Some(key),
            std::borrow::Cow::Borrowed(_) => None,
        };
        // serde_json refuses NaN and infinities at parse time; anything else must be a number.
        let number = value
            .as_f64()
            .filter(|number| number.is_finite())
            .ok_or_else(|| format!("metric '{name}' is not a finite number: {value}"))?;
        metrics.insert(canonical.unwrap_or(name), number);
    }
    Ok(Publication::new(item.dashboard, ts, metrics))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_one_object_or_an_array() {
        let one = parse_batch(br#"{"dashboard":"shop","metrics":{"orders":3}}"#, 42).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].ts, 42, "ts defaults to server time");
        assert_eq!(one[0].metrics["orders"], 3.0);
        let many =
            parse_batch(br#"[{"dashboard":"a","ts":1,"metrics":{"x":1}},{"dashboard":"b","metrics":{"y":2.5}}]"#, 0)
                .unwrap();
        assert_eq!(many.len(), 2);
        assert_eq!(many[0].ts, 1);
    }

    #[test]
    fn names_the_first_bad_item() {
        let cases: [(&[u8], usize, &str); 8] = [
            (b"{not json", 0, "invalid JSON"),
            (b"[]", 0, "empty"),
            (
                br#"[{"dashboard":"a","metrics":{"x":1}},{"dashboard":"A!","metrics":{"x":1}}]"#,
                1,
                "not a valid dashboard id",
            ),
            (br#"{"dashboard":"a","metrics":{"9x":1}}"#, 0, "metric name '9x'"),
            (br#"{"dashboard":"a","metrics":{"x":"high"}}"#, 0, "not a finite number"),
            (br#"{"dashboard":"a","metrics":{}}"#, 0, "metrics is empty"),
            (br#"{"dashboard":"a","metrics":{"x":1},"extra":true}"#, 0, "unknown field"),
            (br#"[{"dashboard":"a","metrics":{"x":1}},{"dashboard":"a","metrics":{"x":1e999}}]"#, 0, "invalid JSON"),
        ];
        for (body, index, reason) in cases {
            let rejection = parse_batch(body, 0).unwrap_err();
            assert_eq!(rejection.index, index, "{}", String::from_utf8_lossy(body));
            assert!(rejection.reason.contains(reason), "{} -> {}", String::from_utf8_lossy(body), rejection.reason);
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn ingestish() -> impl Strategy<Value = String> {
            crate::testing::fragments(
                vec![
                    "{",
                    "}",
                    "[",
                    "]",
                    ",",
                    ":",
                    "\"dashboard\"",
                    "\"metrics\"",
                    "\"ts\"",
                    "\"shop\"",
                    "\"../x\"",
                    "\"orders\"",
                    "\"9x\"",
                    "1",
                    "-0",
                    "1e308",
                    "1e400",
                    "9007199254740993",
                    "-1",
                    "\"1\"",
                    "null",
                    "true",
                    " ",
                ],
                40,
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

            /// Whatever comes in, the decoder answers; what it accepts is valid and finite.
            #[test]
            fn accepts_only_valid_finite_updates(text in ingestish()) {
                if let Ok(batch) = parse_batch(text.as_bytes(), 1_000) {
                    prop_assert!(!batch.is_empty());
                    for publication in batch {
                        prop_assert!(check_dashboard_id(&publication.dashboard).is_ok());
                        for (name, value) in &publication.metrics {
                            prop_assert!(crate::protocol::check_metric_name(name).is_ok() && value.is_finite());
                        }
                    }
                }
            }
        }
    }
}

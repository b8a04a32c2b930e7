//! What a Prometheus target serves on `/metrics`, read: the text format 0.0.4 and
//! OpenMetrics 1.0 (told apart by the answer's `Content-Type`), into `prometheus::Sample`s and
//! the families' `# TYPE`s. A line that does not read fails the whole scrape, with its line
//! number, as Prometheus does (half a target's series would be worse than none and `up` 0).
//! Exemplars and `# HELP`/`# UNIT` are read past; OpenMetrics stops at `# EOF`.

use super::prometheus::{MetricType, Sample};
use crate::protocol::Millis;
use std::collections::{BTreeMap, HashMap};

/// The two formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`: timestamps in milliseconds.
    Text,
    /// `application/openmetrics-text`: timestamps in seconds.
    OpenMetrics,
}

impl Format {
    /// The format an answer's `Content-Type` says (the text format when it says nothing known).
    pub fn of_content_type(content_type: &str) -> Format {
        match content_type.trim_start().to_ascii_lowercase().starts_with("application/openmetrics-text") {
            true => Format::OpenMetrics,
            false => Format::Text,
        }
    }
}

/// What a scrape read.
#[derive(Debug, Default, PartialEq)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    /// `# TYPE` by family.
    pub types: HashMap<String, MetricType>,
}

/// A line that does not read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ExpositionError {
    pub line: usize,
    pub reason: String,
}

/// Reads a whole exposition.
pub fn parse(text: &str, format: Format) -> Result<Exposition, ExpositionError> {
    let mut exposition = Exposition::default();
    for (index, line) in text.lines().enumerate() {
        let fail = |reason: String| ExpositionError { line: index + 1, reason };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("EOF"), None, None) if format == Format::OpenMetrics => break,
                (Some("TYPE"), Some(family), Some(kind)) => {
                    exposition.types.insert(family.to_owned(), MetricType::from_word(kind));
                }
                _ => {} // HELP, UNIT, any other comment
            }
            continue;
        }
        exposition.samples.push(sample(line, format).map_err(fail)?);
    }
    Ok(exposition)
}

/// `name{label="value",...} value [timestamp] [# exemplar]`
fn sample(line: &str, format: Format) -> Result<Sample, String> {
    let name_end = line.find(|c: char| c == '{' || c.is_ascii_whitespace()).unwrap_or(line.len());
    let name = &line[..name_end];
    let valid_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if !valid_name {
        return Err(format!("'{name}' is not a metric name"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = read_labels(after, &mut labels)?;
    }
    // An exemplar (OpenMetrics) follows " # ".
    let rest = rest.split(" # ").next().unwrap_or_default();
    let mut words = rest.split_whitespace();
    let value = words.next().ok_or("no value")?;
    let value = parse_value(value).ok_or_else(|| format!("value '{value}' is not a number"))?;
    let ts = match words.next() {
        None => None,
        Some(text) => Some(parse_timestamp(text, format).ok_or_else(|| format!("timestamp '{text}' is not a time"))?),
    };
    if let Some(extra) = words.next() {
        return Err(format!("unexpected '{extra}' after the timestamp"));
    }
    Ok(Sample { name: name.to_owned(), labels, value, ts })
}

/// Reads `name="value",...}` into `labels`; returns what follows the brace.
fn read_labels<'a>(mut text: &'a str, labels: &mut BTreeMap<String, String>) -> Result<&'a str, String> {
    loop {
        text = text.trim_start();
        if let Some(after) = text.strip_prefix('}') {
            return Ok(after);
        }
        let (name, after) = text.split_once('=').ok_or("a label without '='")?;
        let name = name.trim();
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("'{name}' is not a label name"));
        }
        let after = after.trim_start().strip_prefix('"').ok_or_else(|| format!("label '{name}': value not quoted"))?;
        let (value, after) = read_quoted(after).ok_or_else(|| format!("label '{name}': unterminated value"))?;
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label '{name}' given twice"));
        }
        text = after.trim_start();
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

/// A quoted value's text (escapes `\\`, `\"`, `\n` read) and what follows its closing quote.
fn read_quoted(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[at + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse::<f64>().ok().filter(|value| value.is_finite()),
    }
}

fn parse_timestamp(text: &str, format: Format) -> Option<Millis> {
    match format {
        Format::Text => text.parse::<i64>().ok(),
        Format::OpenMetrics => {
            text.parse::<f64>().ok().filter(|s| s.is_finite()).map(|seconds| (seconds * 1000.0).round() as Millis)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_text_format() {
        let text = "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n\
                    # TYPE node_cpu_seconds_total counter\n\
                    node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12345.67\n\
                    node_cpu_seconds_total{ cpu = \"0\" , mode=\"user\", } 89 1700000000000\n\
                    weird{path=\"C:\\\\x\\\"y\\n\"} +Inf\n\
                    up 1\n";
        let exposition = parse(text, Format::Text).unwrap();
        assert_eq!(exposition.types["node_cpu_seconds_total"], MetricType::Counter);
        assert_eq!(exposition.samples.len(), 4);
        assert_eq!(exposition.samples[0].labels["mode"], "idle");
        assert_eq!(exposition.samples[1].ts, Some(1_700_000_000_000));
        assert_eq!(exposition.samples[2].labels["path"], "C:\\x\"y\n");
        assert_eq!(exposition.samples[2].value, f64::INFINITY);
        assert_eq!(exposition.samples[3].labels.len(), 0);
    }

    #[test]
    fn reads_openmetrics_with_exemplars_seconds_and_eof() {
        let text = "# TYPE requests counter\n\
                    requests_total{code=\"200\"} 7 1700000000.5 # {trace_id=\"abc\"} 1 1700000000\n\
                    requests_created{code=\"200\"} 1.6e9\n\
                    # EOF\n\
                    ignored 1\n";
        let exposition = parse(text, Format::OpenMetrics).unwrap();
        assert_eq!(exposition.samples.len(), 2);
        assert_eq!(exposition.samples[0].ts, Some(1_700_000_000_500));
        assert_eq!(exposition.samples[0].value, 7.0);
        assert_eq!(
            Format::of_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            Format::OpenMetrics
        );
        assert_eq!(Format::of_content_type("text/plain; version=0.0.4"), Format::Text);
    }

    #[test]
    fn a_bad_line_fails_the_scrape_with_its_number() {
        let cases = [
            ("ok 1\n9bad 1\n", 2, "not a metric name"),
            ("x{a=1} 1", 1, "not quoted"),
            ("x{a=\"1} 1", 1, "unterminated"),
            ("x{a=\"1\",a=\"2\"} 1", 1, "twice"),
            ("x one", 1, "not a number"),
            ("x 1 soon", 1, "not a time"),
            ("x", 1, "no value"),
            ("x 1 2 3", 1, "unexpected"),
        ];
        for (text, line, reason) in cases {
            let error = parse(text, Format::Text).unwrap_err();
            assert_eq!(error.line, line, "{text}");
            assert!(error.reason.contains(reason), "{text}: {error}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any text reads or fails with a line number; never a panic.
            #[test]
            fn arbitrary_text_never_panics(text in "[a-z_{}=\",# .0-9+\\-\\\\\n]{0,300}", bytes in prop::collection::vec(any::<u8>(), 0..300)) {
                for format in [Format::Text, Format::OpenMetrics] {
                    let _ = parse(&text, format);
                    let _ = parse(&String::from_utf8_lossy(&bytes), format);
                }
            }
        }
    }
}

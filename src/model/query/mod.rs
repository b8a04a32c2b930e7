//! The query language of panels and alert rules: a subset of PromQL, read by a small hand
//! parser (`parse.rs`), printed back in one canonical form (`Display`), and evaluated by the
//! same code in the server (over the history tiers, a step at a time) and in the browser (over
//! the live stream, an update at a time: `eval.rs`).
//!
//! Grammar (whitespace between tokens is free):
//!
//! ```text
//! query     = aggregate | topk | rate | selector
//! aggregate = op [grouping] "(" query ")" [grouping]      op: sum avg min max count
//! topk      = "topk" "(" integer "," query ")"
//! grouping  = ("by" | "without") "(" [label {"," label}] [","] ")"
//! rate      = "rate" "(" selector ")"
//! selector  = family [ "{" [matcher {"," matcher}] [","] "}" ] [ "[" duration "]" ]
//!           | "{" matcher {"," matcher} [","] "}" [ "[" duration "]" ]
//! matcher   = label ("=" | "!=" | "=~" | "!~") string
//! family    = a series family (`protocol::series`), `*` standing for any run of characters
//! string    = "..." or '...' with \\ \" \' \n \t escapes
//! duration  = integer ("ms" | "s" | "m" | "h" | "d")
//! ```
//!
//! Regular expressions (`=~`, `!~`) are anchored at both ends, as Prometheus anchors them, and
//! read by `regex-lite` (small enough for the browser bundle). A selector of a counter means
//! its rate per second, with or without `rate(...)`; a range (`[1m]`) makes the rate the one over
//! that window rather than since the previous point.

mod eval;
mod parse;

pub use eval::{evaluate, AggregateOp, Changed, Input, LiveQuery, Output, STALE_AFTER_MS};
pub use parse::QueryError;

use crate::protocol::Millis;
use std::fmt;

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// The series a selector picks (a counter's as its rate).
    Select(Selector),
    /// `rate(...)`: the rate per second of the selected series, whatever their kind.
    Rate(Selector),
    /// `sum by (code) (...)`: one series per group of the inner query's series.
    Aggregate { op: AggregateOp, grouping: Grouping, inner: Box<Query> },
    /// `topk(5, ...)`: the inner query's `k` highest series at each time.
    TopK { k: usize, inner: Box<Query> },
}

/// Which series a query reads: families matching a pattern, labels matching every matcher.
#[derive(Clone, Debug, PartialEq)]
pub struct Selector {
    /// A family, or a `*` pattern of families; empty when only matchers were written (`{job="a"}`).
    pub family: String,
    pub matchers: Vec<Matcher>,
    /// `[1m]`: a rate over this window instead of since the previous point.
    pub range_ms: Option<Millis>,
}

#[derive(Clone, Debug)]
pub struct Matcher {
    pub label: String,
    pub op: MatchOp,
    pub value: String,
    /// `=~` and `!~`: `value`, compiled and anchored.
    regex: Option<regex_lite::Regex>,
}

/// Matchers are equal when written alike (the compiled regex follows from the text).
impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        (&self.label, self.op, &self.value) == (&other.label, other.op, &other.value)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Matches,
    NotMatches,
}

/// Which labels an aggregation keeps: none (one series in all), those listed, or all but those.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Grouping {
    #[default]
    All,
    By(Vec<String>),
    Without(Vec<String>),
}

impl Query {
    /// Reads `text`; an error names the byte where it went wrong.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        parse::parse(text)
    }

    /// The selector at the query's core (every query reads one).
    pub fn selector(&self) -> &Selector {
        match self {
            Query::Select(selector) | Query::Rate(selector) => selector,
            Query::Aggregate { inner, .. } | Query::TopK { inner, .. } => inner.selector(),
        }
    }

    /// Whether a series of the selector is read as its rate: always under `rate(...)`, and a
    /// counter's when selected bare.
    pub fn rates(&self, counter: bool) -> bool {
        match self {
            Query::Select(_) => counter,
            Query::Rate(_) => true,
            Query::Aggregate { inner, .. } | Query::TopK { inner, .. } => inner.rates(counter),
        }
    }
}

impl Selector {
    /// Whether the series `family` with `labels` is one of this selector's (a missing label
    /// reads as the empty string, as in Prometheus).
    pub fn matches(&self, family: &str, labels: &std::collections::BTreeMap<String, String>) -> bool {
        (self.family.is_empty() || super::glob::matches(&self.family, family))
            && self
                .matchers
                .iter()
                .all(|matcher| matcher.matches(labels.get(&matcher.label).map_or("", String::as_str)))
    }
}

impl Matcher {
    pub fn new(label: &str, op: MatchOp, value: &str) -> Result<Matcher, String> {
        let regex = match op {
            MatchOp::Matches | MatchOp::NotMatches => Some(
                regex_lite::Regex::new(&format!("^(?:{value})$"))
                    .map_err(|error| format!("regular expression {value:?}: {error}"))?,
            ),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher { label: label.to_owned(), op, value: value.to_owned(), regex })
    }

    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Matches, Some(regex)) => regex.is_match(value),
            (MatchOp::NotMatches, Some(regex)) => !regex.is_match(value),
            (_, None) => unreachable!("a regex matcher is made with its regex"),
        }
    }
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Matches => "=~",
            MatchOp::NotMatches => "!~",
        }
    }
}

/// The canonical form: what `parse` reads back as the same query.
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::Select(selector) => write!(f, "{selector}"),
            Query::Rate(selector) => write!(f, "rate({selector})"),
            Query::Aggregate { op, grouping, inner } => {
                write!(f, "{}", op.as_str())?;
                match grouping {
                    Grouping::All => {}
                    Grouping::By(labels) => write!(f, " by ({})", labels.join(", "))?,
                    Grouping::Without(labels) => write!(f, " without ({})", labels.join(", "))?,
                }
                write!(f, " ({inner})")
            }
            Query::TopK { k, inner } => write!(f, "topk({k}, {inner})"),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.family)?;
        if !self.matchers.is_empty() || self.family.is_empty() {
            f.write_str("{")?;
            for (index, matcher) in self.matchers.iter().enumerate() {
                if index > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{}{}\"", matcher.label, matcher.op.as_str())?;
                crate::protocol::series::write_escaped(f, &matcher.value)?;
                f.write_str("\"")?;
            }
            f.write_str("}")?;
        }
        if let Some(range_ms) = self.range_ms {
            write!(f, "[{}]", duration_text(range_ms))?;
        }
        Ok(())
    }
}

/// `range_ms` in the largest unit that divides it.
fn duration_text(range_ms: Millis) -> String {
    for (unit, ms) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if range_ms % ms == 0 {
            return format!("{}{unit}", range_ms / ms);
        }
    }
    format!("{range_ms}ms")
}

#[cfg(test)]
mod tests;

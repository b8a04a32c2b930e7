//! Reading a query (the grammar is in `mod.rs`): a recursive descent over the text, every
//! error naming the byte offset where it was found and what was expected there.

use super::{eval::AggregateOp, Grouping, MatchOp, Matcher, Query, Selector};
use crate::protocol::{series, Millis};
use std::fmt;

/// Longest query read, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Deepest nesting of aggregations.
const MAX_DEPTH: usize = 16;

/// Why a query does not read: where (a byte offset into it) and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    pub at: usize,
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.at + 1, self.message)
    }
}

impl std::error::Error for QueryError {}

pub fn parse(text: &str) -> Result<Query, QueryError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(QueryError { at: MAX_QUERY_BYTES, message: format!("longer than {MAX_QUERY_BYTES} bytes") });
    }
    let mut parser = Parser { text, at: 0 };
    let query = parser.query(0)?;
    parser.space();
    if parser.at < text.len() {
        return Err(parser.error("nothing more (the query ended)"));
    }
    Ok(query)
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn query(&mut self, depth: usize) -> Result<Query, QueryError> {
        if depth > MAX_DEPTH {
            return Err(self.error(&format!("at most {MAX_DEPTH} nested aggregations")));
        }
        self.space();
        let start = self.at;
        let word = self.word();
        self.space();
        let call = self.peek() == Some('(') || self.peek_word_is_grouping();
        match (word, call) {
            ("rate", true) => {
                self.expect('(')?;
                let selector = self.selector()?;
                self.expect(')')?;
                Ok(Query::Rate(selector))
            }
            ("topk", true) => {
                self.expect('(')?;
                self.space();
                let k = self.integer()?;
                if k == 0 {
                    return Err(QueryError { at: self.at - 1, message: "topk keeps at least 1 series".into() });
                }
                self.expect(',')?;
                let inner = self.query(depth + 1)?;
                self.expect(')')?;
                Ok(Query::TopK { k: k as usize, inner: Box::new(inner) })
            }
            (name, true) if AggregateOp::from_name(name).is_some() => {
                let op = AggregateOp::from_name(name).expect("checked");
                let mut grouping = self.grouping()?;
                self.expect('(')?;
                let inner = self.query(depth + 1)?;
                self.expect(')')?;
                if grouping == Grouping::All {
                    grouping = self.grouping()?;
                }
                Ok(Query::Aggregate { op, grouping, inner: Box::new(inner) })
            }
            (name, true) if !name.is_empty() && self.peek() == Some('(') => Err(QueryError {
                at: start,
                message: format!("unknown function '{name}' (rate, sum, avg, min, max, count, topk)"),
            }),
            _ => {
                self.at = start;
                Ok(Query::Select(self.selector()?))
            }
        }
    }

    /// After an aggregation's name: whether `by (` or `without (` follows.
    fn peek_word_is_grouping(&self) -> bool {
        let rest = &self.text[self.at..];
        ["by", "without"]
            .iter()
            .any(|word| rest.strip_prefix(word).is_some_and(|after| after.trim_start().starts_with('(')))
    }

    fn grouping(&mut self) -> Result<Grouping, QueryError> {
        self.space();
        let start = self.at;
        let word = self.word();
        let by = match word {
            "by" => true,
            "without" => false,
            _ => {
                self.at = start;
                return Ok(Grouping::All);
            }
        };
        self.expect('(')?;
        let mut labels = Vec::new();
        loop {
            self.space();
            if self.eat(')') {
                break;
            }
            let at = self.at;
            let label = self.word();
            if !series::is_valid_label_name(label) {
                return Err(QueryError { at, message: "a label name".into() });
            }
            labels.push(label.to_owned());
            self.space();
            if self.eat(')') {
                break;
            }
            self.expect(',')?;
        }
        Ok(if by { Grouping::By(labels) } else { Grouping::Without(labels) })
    }

    fn selector(&mut self) -> Result<Selector, QueryError> {
        self.space();
        let start = self.at;
        let family = self.family();
        if !family.is_empty() && !series::is_valid_family(&family.replace('*', "a")) {
            return Err(QueryError {
                at: start,
                message: format!("'{family}' is not a family or a pattern of families"),
            });
        }
        let mut matchers = Vec::new();
        self.space();
        if self.eat('{') {
            loop {
                self.space();
                if self.eat('}') {
                    break;
                }
                matchers.push(self.matcher()?);
                self.space();
                if self.eat('}') {
                    break;
                }
                self.expect(',')?;
            }
        }
        if family.is_empty() && matchers.is_empty() {
            return Err(QueryError {
                at: start,
                message: "a family, a pattern of families or {label matchers}".into(),
            });
        }
        self.space();
        let range_ms = if self.eat('[') {
            self.space();
            let range = self.duration()?;
            self.expect(']')?;
            Some(range)
        } else {
            None
        };
        Ok(Selector { family: family.to_owned(), matchers, range_ms })
    }

    fn matcher(&mut self) -> Result<Matcher, QueryError> {
        let at = self.at;
        let label = self.word();
        if !series::is_valid_label_name(label) {
            return Err(QueryError { at, message: "a label name".into() });
        }
        self.space();
        let op = if self.eat_str("=~") {
            MatchOp::Matches
        } else if self.eat_str("!~") {
            MatchOp::NotMatches
        } else if self.eat_str("!=") {
            MatchOp::NotEqual
        } else if self.eat('=') {
            MatchOp::Equal
        } else {
            return Err(self.error("=, !=, =~ or !~"));
        };
        self.space();
        let value_at = self.at;
        let value = self.string()?;
        Matcher::new(label, op, &value).map_err(|message| QueryError { at: value_at, message })
    }

    fn string(&mut self) -> Result<String, QueryError> {
        let quote = match self.peek() {
            Some(quote @ ('"' | '\'')) => quote,
            _ => return Err(self.error("a quoted string")),
        };
        let start = self.at;
        self.at += 1;
        let mut value = String::new();
        let mut chars = self.text[self.at..].char_indices();
        while let Some((offset, c)) = chars.next() {
            match c {
                '\\' => {
                    let escaped = match chars.next() {
                        Some((_, 'n')) => '\n',
                        Some((_, 't')) => '\t',
                        Some((_, c @ ('\\' | '"' | '\''))) => c,
                        _ => {
                            return Err(QueryError {
                                at: self.at + offset,
                                message: "an escape: \\\\ \\\" \\' \\n \\t".into(),
                            })
                        }
                    };
                    value.push(escaped);
                }
                c if c == quote => {
                    self.at += offset + 1;
                    return Ok(value);
                }
                c => value.push(c),
            }
        }
        Err(QueryError { at: start, message: "a string that ends (its closing quote is missing)".into() })
    }

    fn duration(&mut self) -> Result<Millis, QueryError> {
        let at = self.at;
        let count = self.integer()?;
        let unit = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)].into_iter().find(
            |(unit, _)| self.text[self.at..].starts_with(unit) && !self.text[self.at + unit.len()..].starts_with('s'),
        );
        let Some((unit, ms)) = unit else { return Err(self.error("a unit: ms, s, m, h or d")) };
        self.at += unit.len();
        match (count as Millis).checked_mul(ms) {
            Some(range) if range > 0 => Ok(range),
            _ => Err(QueryError { at, message: "a duration above zero".into() }),
        }
    }

    fn integer(&mut self) -> Result<u64, QueryError> {
        let start = self.at;
        let digits = self.text[self.at..].bytes().take_while(u8::is_ascii_digit).count();
        self.at += digits;
        self.text[start..self.at].parse().map_err(|_| QueryError { at: start, message: "a whole number".into() })
    }

    /// A name: letters, digits, `_`, `.`, `:`, `/`, `-` and `*` (a family may hold them all).
    fn family(&mut self) -> &'a str {
        let start = self.at;
        let length = self.text[start..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'/' | b'-' | b'*'))
            .count();
        self.at += length;
        &self.text[start..self.at]
    }

    /// A keyword or label name.
    fn word(&mut self) -> &'a str {
        let start = self.at;
        let length =
            self.text[start..].bytes().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.')).count();
        self.at += length;
        &self.text[start..self.at]
    }

    fn space(&mut self) {
        self.at += self.text[self.at..].len() - self.text[self.at..].trim_start().len();
    }

    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn eat(&mut self, wanted: char) -> bool {
        self.eat_str(wanted.encode_utf8(&mut [0; 4]))
    }

    fn eat_str(&mut self, wanted: &str) -> bool {
        let found = self.text[self.at..].starts_with(wanted);
        if found {
            self.at += wanted.len();
        }
        found
    }

    fn expect(&mut self, wanted: char) -> Result<(), QueryError> {
        self.space();
        if self.eat(wanted) {
            Ok(())
        } else {
            Err(self.error(&format!("'{wanted}'")))
        }
    }

    fn error(&self, expected: &str) -> QueryError {
        let found = match self.peek() {
            Some(c) => format!("'{c}'"),
            None => "the end".to_owned(),
        };
        QueryError { at: self.at, message: format!("expected {expected}, found {found}") }
    }
}

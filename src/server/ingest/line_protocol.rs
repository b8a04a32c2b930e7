//! InfluxDB v2 line protocol: parsing a request body into points, and formatting points back
//! (what the property tests and the load generator use). Pure text work, no I/O.
//!
//! `measurement[,tag=value...] field=value[,field=value...] [timestamp]`, one point per line;
//! blank lines and lines starting with `#` are skipped. Escapes: `\,` and `\ ` in measurements;
//! `\,`, `\=` and `\ ` in tag keys, tag values and field keys; `\"` in string field values;
//! `\\` everywhere. A backslash before any other character is a literal backslash.

use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue<'a> {
    Float(f64),
    /// Written `12i`.
    Integer(i64),
    /// Written `12u`.
    Unsigned(u64),
    /// Written `t`, `T`, `true`, `True`, `TRUE` (and the same for false).
    Boolean(bool),
    /// Written in double quotes.
    String(Cow<'a, str>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Point<'a> {
    pub measurement: Cow<'a, str>,
    /// In the order written.
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// In the order written; at least one.
    pub fields: Vec<(Cow<'a, str>, FieldValue<'a>)>,
    /// In the request's precision; `None` means "now".
    pub timestamp: Option<i64>,
}

/// Why a line is not line protocol; `line` counts from 1 as editors do.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

/// Characters each element escapes (besides the backslash itself).
const MEASUREMENT_ESCAPES: &[u8] = b", ";
const KEY_ESCAPES: &[u8] = b",= ";
const STRING_ESCAPES: &[u8] = b"\"";

/// Parses every line of `body`, failing on the first bad one. Each point comes with its line
/// number, for errors found later.
pub fn parse(body: &str) -> Result<Vec<(usize, Point<'_>)>, ParseError> {
    let mut points = Vec::new();
    for (index, line) in body.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line).trim_start_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let point = parse_line(line).map_err(|reason| ParseError { line: index + 1, reason })?;
        points.push((index + 1, point));
    }
    Ok(points)
}

/// Parses one line that is neither blank nor a comment.
pub fn parse_line(line: &str) -> Result<Point<'_>, String> {
    let mut cursor = Cursor { text: line, at: 0 };

    let measurement = cursor.element(b", ", MEASUREMENT_ESCAPES);
    if measurement.is_empty() {
        return Err("missing measurement".into());
    }
    let mut tags = Vec::new();
    while cursor.eat(b',') {
        let key = cursor.element(b",= ", KEY_ESCAPES);
        if key.is_empty() || !cursor.eat(b'=') {
            return Err(format!("missing tag key in tag set of '{measurement}'"));
        }
        let value = cursor.element(b",= ", KEY_ESCAPES);
        if value.is_empty() {
            return Err(format!("missing tag value for tag '{key}'"));
        }
        if cursor.peek() == Some(b'=') {
            return Err(format!("unescaped '=' in the value of tag '{key}'"));
        }
        tags.push((key, value));
    }
    if !cursor.eat_spaces() {
        return Err(format!("missing fields after '{measurement}'"));
    }

    let mut fields = Vec::new();
    loop {
        let key = cursor.element(b",= ", KEY_ESCAPES);
        if key.is_empty() {
            return Err("missing field key".into());
        }
        if !cursor.eat(b'=') {
            return Err(format!("missing '=' after field key '{key}'"));
        }
        let value = cursor.field_value().map_err(|reason| format!("field '{key}': {reason}"))?;
        fields.push((key, value));
        if !cursor.eat(b',') {
            break;
        }
    }

    let timestamp = if cursor.eat_spaces() && !cursor.rest().trim_end().is_empty() {
        let text = cursor.rest().trim_end();
        Some(text.parse::<i64>().map_err(|_| format!("invalid timestamp '{text}'"))?)
    } else {
        None
    };
    if timestamp.is_none() && !cursor.rest().trim_end().is_empty() {
        return Err(format!("unexpected '{}' after the fields", cursor.rest()));
    }
    Ok(Point { measurement, tags, fields, timestamp })
}

/// A position in one line.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    /// Skips one or more spaces; false if there was none.
    fn eat_spaces(&mut self) -> bool {
        let start = self.at;
        while self.eat(b' ') {}
        self.at > start
    }

    /// Reads up to the first unescaped byte in `stops` (or the end), unescaping `escapes`.
    fn element(&mut self, stops: &[u8], escapes: &[u8]) -> Cow<'a, str> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        while let Some(&byte) = bytes.get(self.at) {
            if stops.contains(&byte) {
                break;
            }
            // A backslash shields the next byte from being a stop (stops are ASCII, so this
            // never splits a character that matters).
            self.at += if byte == b'\\' && self.at + 1 < bytes.len() { 2 } else { 1 };
        }
        unescape(&self.text[start..self.at], escapes)
    }

    fn field_value(&mut self) -> Result<FieldValue<'a>, String> {
        if self.eat(b'"') {
            let bytes = self.text.as_bytes();
            let start = self.at;
            loop {
                match bytes.get(self.at) {
                    None => return Err("unterminated string".into()),
                    Some(b'"') => break,
                    Some(b'\\') if self.at + 1 < bytes.len() => self.at += 2,
                    Some(_) => self.at += 1,
                }
            }
            let value = unescape(&self.text[start..self.at], STRING_ESCAPES);
            self.at += 1;
            return Ok(FieldValue::String(value));
        }
        let start = self.at;
        while !matches!(self.peek(), None | Some(b',' | b' ')) {
            self.at += 1;
        }
        scalar(&self.text[start..self.at])
    }
}

/// A non-string field value: float, `i` integer, `u` unsigned or boolean.
fn scalar(text: &str) -> Result<FieldValue<'static>, String> {
    let invalid = || format!("invalid field value '{text}'");
    match text {
        "" => Err("missing field value".into()),
        "t" | "T" | "true" | "True" | "TRUE" => Ok(FieldValue::Boolean(true)),
        "f" | "F" | "false" | "False" | "FALSE" => Ok(FieldValue::Boolean(false)),
        _ => {
            if let Some(digits) = text.strip_suffix('i') {
                return digits.parse().map(FieldValue::Integer).map_err(|_| invalid());
            }
            if let Some(digits) = text.strip_suffix('u') {
                return digits.parse().map(FieldValue::Unsigned).map_err(|_| invalid());
            }
            // Rust also reads "inf" and "NaN"; line protocol has neither.
            let numeric = text.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
            match text.parse::<f64>() {
                Ok(value) if numeric && value.is_finite() => Ok(FieldValue::Float(value)),
                _ => Err(invalid()),
            }
        }
    }
}

/// Removes the backslashes that escape `escapes` or a backslash; borrows when there is none.
fn unescape<'a>(raw: &'a str, escapes: &[u8]) -> Cow<'a, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut text = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&next) = chars.peek() {
                if next == '\\' || (next.is_ascii() && escapes.contains(&(next as u8))) {
                    text.push(next);
                    chars.next();
                    continue;
                }
            }
        }
        text.push(c);
    }
    Cow::Owned(text)
}

/// Writes `text` with `escapes` and backslashes escaped.
fn escape_into(out: &mut String, text: &str, escapes: &[u8]) {
    for c in text.chars() {
        if c == '\\' || (c.is_ascii() && escapes.contains(&(c as u8))) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Formats a point as one line (no newline). Parsing the result gives the point back.
pub fn format(point: &Point<'_>) -> String {
    let mut out = String::new();
    escape_into(&mut out, &point.measurement, MEASUREMENT_ESCAPES);
    for (key, value) in &point.tags {
        out.push(',');
        escape_into(&mut out, key, KEY_ESCAPES);
        out.push('=');
        escape_into(&mut out, value, KEY_ESCAPES);
    }
    for (index, (key, value)) in point.fields.iter().enumerate() {
        out.push(if index == 0 { ' ' } else { ',' });
        escape_into(&mut out, key, KEY_ESCAPES);
        out.push('=');
        match value {
            FieldValue::Float(value) => out.push_str(&format!("{value:?}")),
            FieldValue::Integer(value) => out.push_str(&format!("{value}i")),
            FieldValue::Unsigned(value) => out.push_str(&format!("{value}u")),
            FieldValue::Boolean(value) => out.push_str(if *value { "true" } else { "false" }),
            FieldValue::String(value) => {
                out.push('"');
                escape_into(&mut out, value, STRING_ESCAPES);
                out.push('"');
            }
        }
    }
    if let Some(timestamp) = point.timestamp {
        out.push(' ');
        out.push_str(&timestamp.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn point<'a>(
        measurement: &'a str,
        tags: &[(&'a str, &'a str)],
        fields: Vec<(&'a str, FieldValue<'a>)>,
        timestamp: Option<i64>,
    ) -> Point<'a> {
        Point {
            measurement: measurement.into(),
            tags: tags.iter().map(|&(k, v)| (k.into(), v.into())).collect(),
            fields: fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            timestamp,
        }
    }

    fn one(line: &str) -> Point<'_> {
        let mut points = parse(line).unwrap_or_else(|error| panic!("{line}: {error}"));
        assert_eq!(points.len(), 1, "{line}");
        points.remove(0).1
    }

    use FieldValue::{Boolean, Float, Integer, Unsigned};
    fn string(text: &str) -> FieldValue<'_> {
        FieldValue::String(text.into())
    }

    #[test]
    fn the_documented_example() {
        assert_eq!(
            one("myMeasurement,tag1=value1,tag2=value2 fieldKey=\"fieldValue\" 1556813561098000000"),
            point(
                "myMeasurement",
                &[("tag1", "value1"), ("tag2", "value2")],
                vec![("fieldKey", string("fieldValue"))],
                Some(1556813561098000000)
            )
        );
    }

    #[test]
    fn every_field_type() {
        let parsed = one("m float=1.0,plain=1,exp=-1.234456e+78,small=1.0e-1,int=12i,neg=-12i,unsigned=12u,\
             t=t,T=T,true=true,True=True,TRUE=TRUE,f=f,F=F,false=false,False=False,FALSE=FALSE,s=\"x\"");
        let values: Vec<_> = parsed.fields.into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            values,
            vec![
                Float(1.0),
                Float(1.0),
                Float(-1.234456e78),
                Float(0.1),
                Integer(12),
                Integer(-12),
                Unsigned(12),
                Boolean(true),
                Boolean(true),
                Boolean(true),
                Boolean(true),
                Boolean(true),
                Boolean(false),
                Boolean(false),
                Boolean(false),
                Boolean(false),
                Boolean(false),
                string("x")
            ]
        );
    }

    #[test]
    fn escaping_rules_from_the_documentation() {
        // Spaces and commas in a measurement.
        assert_eq!(one("my\\ Measurement fieldKey=\"string value\"").measurement, "my Measurement");
        assert_eq!(one("my\\,Measurement f=1").measurement, "my,Measurement");
        // An equals sign needs no escape in a measurement.
        assert_eq!(one("my=Measurement f=1").measurement, "my=Measurement");
        // Spaces, commas and equals signs in tag keys, tag values and field keys.
        assert_eq!(
            one("m,tag\\ Key1=tag\\ Value1,tag\\,Key2=tag\\=Value2 field\\=Key1=\"v\",field\\ Key\\,2=2i"),
            point(
                "m",
                &[("tag Key1", "tag Value1"), ("tag,Key2", "tag=Value2")],
                vec![("field=Key1", string("v")), ("field Key,2", Integer(2))],
                None
            )
        );
        // Quotes and backslashes in string values; commas and spaces need no escape there.
        assert_eq!(
            one(r#"m f="\"string\" within a string",g="a, b = c",h="back\\slash""#).fields,
            vec![
                ("f".into(), string("\"string\" within a string")),
                ("g".into(), string("a, b = c")),
                ("h".into(), string("back\\slash")),
            ]
        );
        // Two backslashes are one; a backslash before an ordinary character stays.
        assert_eq!(one(r"my\\Measurement f=1").measurement, r"my\Measurement");
        assert_eq!(one(r"my\Measurement f=1").measurement, r"my\Measurement");
        assert_eq!(one(r"m,t=a\\ f=1").tags, vec![("t".into(), r"a\".into())]);
        // Emoji and other UTF-8 pass through.
        assert_eq!(one("m,emoji=😊 f=\"😊\"").tags[0].1, "😊");
    }

    #[test]
    fn comments_blank_lines_timestamps_and_line_endings() {
        let body = "# a comment\n\nm f=1 1\r\n  m f=2 -5\n\nm f=3\n# trailing comment";
        let points = parse(body).unwrap();
        let timestamps: Vec<_> = points.iter().map(|(line, p)| (*line, p.timestamp)).collect();
        assert_eq!(timestamps, vec![(3, Some(1)), (4, Some(-5)), (6, None)]);
        assert_eq!(one("m f=1   1600000000  ").timestamp, Some(1600000000));
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_lines_are_named_with_a_reason() {
        let cases = [
            ("m", "missing fields"),
            ("m ", "missing field key"),
            (",t=1 f=1", "missing measurement"),
            ("m,t f=1", "missing tag key"),
            ("m,t= f=1", "missing tag value"),
            ("m,=v f=1", "missing tag key"),
            ("m f", "missing '='"),
            ("m f=", "missing field value"),
            ("m f=1,", "missing field key"),
            ("m f=abc", "invalid field value 'abc'"),
            ("m f=NaN", "invalid field value"),
            ("m f=inf", "invalid field value"),
            ("m f=1.5i", "invalid field value"),
            ("m f=-1u", "invalid field value"),
            ("m f=99999999999999999999i", "invalid field value"),
            ("m f=\"open", "unterminated string"),
            ("m f=1 12x", "invalid timestamp"),
            ("m f=1 1 2", "invalid timestamp"),
            ("m f=\"x\"y", "unexpected"),
        ];
        for (line, reason) in cases {
            let body = format!("ok f=1\n{line}\nok f=2");
            let error = parse(&body).unwrap_err();
            assert_eq!(error.line, 2, "{line}");
            assert!(error.reason.contains(reason), "{line}: {}", error.reason);
        }
    }

    fn name() -> impl Strategy<Value = String> {
        // Anything printable, including every character that needs escaping; no newlines.
        "[a-zA-Z0-9 ,=\"\\\\_.é😊-]{1,12}".prop_filter("not a comment", |s| !s.starts_with('#'))
    }

    fn field_value() -> impl Strategy<Value = FieldValue<'static>> {
        prop_oneof![
            any::<f64>().prop_filter("finite", |v| v.is_finite()).prop_map(Float),
            any::<i64>().prop_map(Integer),
            any::<u64>().prop_map(Unsigned),
            any::<bool>().prop_map(Boolean),
            "[a-zA-Z0-9 ,=\"\\\\é😊]{0,12}".prop_map(|s| FieldValue::String(s.into())),
        ]
    }

    fn any_point() -> impl Strategy<Value = Point<'static>> {
        (
            name(),
            proptest::collection::vec((name(), name()), 0..4),
            proptest::collection::vec((name(), field_value()), 1..5),
            proptest::option::of(any::<i64>()),
        )
            .prop_map(|(measurement, tags, fields, timestamp)| Point {
                measurement: measurement.into(),
                tags: tags.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
                fields: fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
                timestamp,
            })
    }

    proptest! {
        #[test]
        fn parse_of_format_is_identity(point in any_point()) {
            let line = format(&point);
            let parsed = parse_line(&line).map_err(|e| TestCaseError::fail(format!("{line}: {e}")))?;
            prop_assert_eq!(parsed, point);
        }

        #[test]
        fn a_request_of_many_points_parses_back_in_order(
            points in proptest::collection::vec(any_point(), 1..20)
        ) {
            let body: String = points.iter().map(|p| format(p) + "\n").collect();
            let parsed: Vec<_> = parse(&body).unwrap().into_iter().map(|(_, point)| point).collect();
            prop_assert_eq!(parsed, points);
        }
    }
}

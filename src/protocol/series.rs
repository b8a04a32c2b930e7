//! Series keys (PROTOCOL.md "Series: labels and kinds", version 1.2): a series is a family and
//! a label set, known everywhere by one string, `family{k1="v1",k2="v2"}` with the names
//! sorted and the values escaped as Prometheus' text format escapes them (`\\`, `\"`, `\n`),
//! or the family alone when it has no labels. Today's metric names are families without
//! labels, so every name that was valid stays valid and means what it meant.
//!
//! `SeriesKey::parse` reads a key written in any label order and `Display` writes the one
//! canonical form, so two producers naming the same series agree on its key.

use super::shown;
use std::{borrow::Cow, collections::BTreeMap, fmt};

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest family, in bytes.
pub const MAX_FAMILY_BYTES: usize = 255;
/// Longest label name, in bytes.
pub const MAX_LABEL_NAME_BYTES: usize = 128;
/// Longest label value, in bytes.
pub const MAX_LABEL_VALUE_BYTES: usize = 256;
/// Labels a series may have.
pub const MAX_LABELS: usize = 32;

/// A family and its labels, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    pub family: String,
    pub labels: BTreeMap<String, String>,
}

/// Why a key does not read; the message states the rule it breaks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeriesKeyError {
    #[error("series key longer than {MAX_KEY_BYTES} bytes")]
    TooLong,
    #[error("family '{0}' is not valid ([A-Za-z_:][A-Za-z0-9_.:/-]{{0,254}})")]
    Family(String),
    #[error("label name '{0}' is not valid ([A-Za-z_][A-Za-z0-9_.]{{0,127}})")]
    LabelName(String),
    #[error("label '{0}': value longer than {MAX_LABEL_VALUE_BYTES} bytes")]
    LabelValue(String),
    #[error("more than {MAX_LABELS} labels")]
    TooManyLabels,
    #[error("label '{0}' given twice")]
    Duplicate(String),
    #[error("labels not written as {{name=\"value\",...}} at byte {0}")]
    Syntax(usize),
}

/// `[A-Za-z_:][A-Za-z0-9_.:/-]{0,254}`
pub fn is_valid_family(family: &str) -> bool {
    let bytes = family.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_FAMILY_BYTES
        && (bytes[0].is_ascii_alphabetic() || matches!(bytes[0], b'_' | b':'))
        && bytes[1..].iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'/' | b'-'))
}

/// `[A-Za-z_][A-Za-z0-9_.]{0,127}`
pub fn is_valid_label_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_LABEL_NAME_BYTES
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes[1..].iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.'))
}

/// `text` (an attribute key, a tag's name) as a label name: each character a label name cannot
/// hold becomes `_`, and one that cannot start it gets `_` before it.
pub fn label_name_from(text: &str) -> String {
    if is_valid_label_name(text) {
        return text.to_owned();
    }
    let mut name: String = text
        .chars()
        .take(MAX_LABEL_NAME_BYTES - 1)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') { c } else { '_' })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        name.insert(0, '_');
    }
    name
}

impl SeriesKey {
    /// A series of `family` with `labels`, checked against the rules.
    pub fn new(family: &str, labels: BTreeMap<String, String>) -> Result<SeriesKey, SeriesKeyError> {
        let key = SeriesKey { family: family.to_owned(), labels };
        key.check()?;
        Ok(key)
    }

    /// Reads `text`: a family, then optionally `{name="value",...}` in any order (a trailing
    /// comma allowed, as Prometheus allows it).
    pub fn parse(text: &str) -> Result<SeriesKey, SeriesKeyError> {
        if text.len() > MAX_KEY_BYTES {
            return Err(SeriesKeyError::TooLong);
        }
        let (family, rest) = match text.find('{') {
            Some(open) => (&text[..open], Some(open)),
            None => (text, None),
        };
        let mut labels = BTreeMap::new();
        if let Some(open) = rest {
            let mut reader = Reader { text, at: open + 1 };
            loop {
                if reader.eat('}') {
                    break;
                }
                let name = reader.name();
                if !reader.eat('=') || !reader.eat('"') {
                    return Err(SeriesKeyError::Syntax(reader.at));
                }
                let value = reader.quoted()?;
                if labels.insert(name.to_owned(), value).is_some() {
                    return Err(SeriesKeyError::Duplicate(name.to_owned()));
                }
                if reader.eat('}') {
                    break;
                }
                if !reader.eat(',') {
                    return Err(SeriesKeyError::Syntax(reader.at));
                }
            }
            if reader.at != text.len() {
                return Err(SeriesKeyError::Syntax(reader.at));
            }
        }
        SeriesKey::new(family, labels)
    }

    fn check(&self) -> Result<(), SeriesKeyError> {
        if !is_valid_family(&self.family) {
            return Err(SeriesKeyError::Family(shown(&self.family)));
        }
        if self.labels.len() > MAX_LABELS {
            return Err(SeriesKeyError::TooManyLabels);
        }
        for (name, value) in &self.labels {
            if !is_valid_label_name(name) {
                return Err(SeriesKeyError::LabelName(shown(name)));
            }
            if value.len() > MAX_LABEL_VALUE_BYTES {
                return Err(SeriesKeyError::LabelValue(shown(name)));
            }
        }
        if self.to_string().len() > MAX_KEY_BYTES {
            return Err(SeriesKeyError::TooLong);
        }
        Ok(())
    }
}

/// The canonical key: names sorted (a `BTreeMap`'s order), values escaped, no spaces.
impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.family)?;
        if self.labels.is_empty() {
            return Ok(());
        }
        write_labels(f, &self.labels)
    }
}

/// `{name="value",...}` as a key writes its labels (`{}` for none).
pub fn write_labels(f: &mut impl fmt::Write, labels: &BTreeMap<String, String>) -> fmt::Result {
    f.write_str("{")?;
    for (index, (name, value)) in labels.iter().enumerate() {
        if index > 0 {
            f.write_str(",")?;
        }
        write!(f, "{name}=\"")?;
        write_escaped(f, value)?;
        f.write_str("\"")?;
    }
    f.write_str("}")
}

/// `value` as a label value is written between quotes: `\\`, `\"` and `\n` escaped.
pub fn write_escaped(f: &mut impl fmt::Write, value: &str) -> fmt::Result {
    for c in value.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '"' => f.write_str("\\\"")?,
            '\n' => f.write_str("\\n")?,
            c => f.write_char(c)?,
        }
    }
    Ok(())
}

/// `text`'s canonical key, or why it is not one: what ingest and configuration store.
/// Borrowed when `text` is canonical already (the common case, a bare family: no allocation
/// per metric on the ingest path).
pub fn canonical_key(text: &str) -> Result<Cow<'_, str>, SeriesKeyError> {
    if is_valid_family(text) {
        return Ok(Cow::Borrowed(text));
    }
    let written = SeriesKey::parse(text)?.to_string();
    Ok(if written == text { Cow::Borrowed(text) } else { Cow::Owned(written) })
}

/// A cursor over the label part of a key.
struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn eat(&mut self, wanted: char) -> bool {
        let found = self.text[self.at..].starts_with(wanted);
        if found {
            self.at += wanted.len_utf8();
        }
        found
    }

    /// Up to the next `=` (checked as a label name later).
    fn name(&mut self) -> &'a str {
        let rest: &'a str = &self.text[self.at..];
        let end = rest.find(['=', ',', '}']).unwrap_or(rest.len());
        self.at += end;
        &rest[..end]
    }

    /// A value after its opening quote, through its closing one, unescaped.
    fn quoted(&mut self) -> Result<String, SeriesKeyError> {
        let mut value = String::new();
        let mut chars = self.text[self.at..].char_indices();
        while let Some((offset, c)) = chars.next() {
            match c {
                '"' => {
                    self.at += offset + 1;
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err(SeriesKeyError::Syntax(self.at + offset)),
                },
                c => value.push(c),
            }
        }
        Err(SeriesKeyError::Syntax(self.text.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_are_written_one_way_whatever_order_they_came_in() {
        let key = SeriesKey::parse(r#"node_cpu_seconds_total{mode="idle",cpu="0"}"#).unwrap();
        assert_eq!(key.family, "node_cpu_seconds_total");
        assert_eq!(key.to_string(), r#"node_cpu_seconds_total{cpu="0",mode="idle"}"#);
        assert_eq!(canonical_key(r#"up{job="a",}"#).unwrap(), r#"up{job="a"}"#, "a trailing comma");
        assert_eq!(canonical_key("cpu").unwrap(), "cpu", "today's names are families");
        assert_eq!(canonical_key("cpu{}").unwrap(), "cpu");
        let escaped = SeriesKey::parse(r#"m{path="C:\\dir",say="\"hi\"\n"}"#).unwrap();
        assert_eq!(escaped.labels["path"], r"C:\dir");
        assert_eq!(escaped.labels["say"], "\"hi\"\n");
        assert_eq!(escaped.to_string(), r#"m{path="C:\\dir",say="\"hi\"\n"}"#);
        for family in ["http.server.duration", "a:b", "_x", "container/cpu", "k8s-pod"] {
            assert!(is_valid_family(family), "{family}");
        }
    }

    #[test]
    fn broken_keys_say_which_rule_they_break() {
        let error = |text: &str| SeriesKey::parse(text).unwrap_err().to_string();
        assert!(error("9x").contains("family '9x'"));
        assert!(error(r#"m{9="x"}"#).contains("label name '9'"));
        assert!(error(r#"m{a="x",a="y"}"#).contains("given twice"));
        assert!(error(r#"m{a="x""#).contains("at byte"));
        assert!(error(r#"m{a=x}"#).contains("at byte"));
        assert!(error(r#"m{a="x"}tail"#).contains("at byte"));
        assert!(error(&format!(r#"m{{a="{}"}}"#, "v".repeat(257))).contains("longer than 256"));
        let many: Vec<String> = (0..33).map(|i| format!(r#"l{i}="v""#)).collect();
        assert!(error(&format!("m{{{}}}", many.join(","))).contains("more than 32"));
        assert!(error(&"m".repeat(1025)).contains("longer than 1024"));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        /// Whatever the text, reading it never panics; what reads writes back to a key that
        /// reads as the same series.
        #[test]
        fn reading_never_panics_and_round_trips(text in "\\PC{0,80}") {
            if let Ok(key) = SeriesKey::parse(&text) {
                let written = key.to_string();
                prop_assert_eq!(SeriesKey::parse(&written).unwrap(), key);
                let canonical = canonical_key(&written).unwrap();
                prop_assert_eq!(canonical.as_ref(), written.as_str());
            }
        }

        #[test]
        fn any_label_set_round_trips(
            family in "[a-z_][a-z0-9_:]{0,20}",
            labels in proptest::collection::btree_map("[a-z_][a-z0-9_]{0,10}", "\\PC{0,20}", 0..6),
        ) {
            let key = SeriesKey::new(&family, labels).unwrap();
            prop_assert_eq!(SeriesKey::parse(&key.to_string()).unwrap(), key);
        }
    }
}

//! CSV as RFC 4180 writes it, for data going out (`format=csv` of the history and query APIs,
//! a panel's export): a header row, fields separated by commas, a field holding a comma, a
//! quote or a line break quoted with its quotes doubled (series keys hold both), rows ended by
//! CRLF.

use std::fmt::Write;

/// Appends one row of `fields` to `out`.
pub fn row<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (index, field) in fields.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        if field.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out.push_str("\r\n");
}

/// A number as a CSV field: as JSON writes it (shortest round trip), never `inf` or `NaN`.
pub fn number(value: f64) -> String {
    let mut text = String::new();
    if value.is_finite() {
        let _ = write!(text, "{value}");
    }
    text
}

/// Series in long form, as the query API and a panel's export write them: a `ts,series,value`
/// header, then a row per point, series after series.
pub fn series_table<'a>(series: impl IntoIterator<Item = (&'a str, &'a [(crate::protocol::Millis, f64)])>) -> String {
    let mut out = String::new();
    row(&mut out, ["ts", "series", "value"]);
    for (key, points) in series {
        for &(ts, value) in points {
            row(&mut out, [ts.to_string().as_str(), key, &number(value)]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_written_a_row_a_point() {
        let table = series_table([("a{x=\"1\"}", &[(1, 0.5), (2, f64::NAN)][..]), ("b", &[(1, 2.0)][..])]);
        assert_eq!(table, "ts,series,value\r\n1,\"a{x=\"\"1\"\"}\",0.5\r\n2,\"a{x=\"\"1\"\"}\",\r\n1,b,2\r\n");
    }

    #[test]
    fn fields_holding_commas_quotes_or_breaks_are_quoted() {
        let mut out = String::new();
        row(&mut out, ["ts", "series", "value"]);
        row(&mut out, ["1000", r#"http_requests_total{code="500",method="GET"}"#, &number(2.5)]);
        row(&mut out, ["2000", "plain", &number(f64::NAN)]);
        assert_eq!(
            out,
            "ts,series,value\r\n1000,\"http_requests_total{code=\"\"500\"\",method=\"\"GET\"\"}\",2.5\r\n2000,plain,\r\n"
        );
    }
}

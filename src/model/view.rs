//! What the URL of a dashboard holds (`/d/main?range=1h&from=..&to=..&compare=1d&panel=cpu`): the
//! view a link shares and the browser's back and forward walk. Read from and written to the
//! query string here, the one place both directions live.

use super::panel::Compare;
use super::url::encode_component;
use crate::protocol::Millis;

/// A dashboard's view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    /// The live window (`30s`, `5m`, `1h`, `24h`, `7d`, `30d`); `None`: the default.
    pub range: Option<String>,
    /// A zoomed span, absolute ms: not live while set.
    pub span: Option<(Millis, Millis)>,
    /// The earlier period every panel compares with (a panel's own `compare` adds to it).
    pub compare: Option<Compare>,
    /// One panel full-screen.
    pub panel: Option<String>,
    /// `light` or `dark`, overriding the remembered choice.
    pub theme: Option<String>,
    /// Panels only, no chrome, fitted to the screen.
    pub kiosk: bool,
    /// Cycle `dashboards` every so often (a wall screen).
    pub rotate: Option<Millis>,
    pub dashboards: Vec<String>,
}

impl View {
    /// Reads a query string's pairs (already decoded); what it does not know or cannot read is
    /// left out, so an old or mistyped link still opens the dashboard.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> View {
        let mut view = View::default();
        let (mut from, mut to) = (None, None);
        for (key, value) in pairs {
            match key {
                "range" if !value.is_empty() => view.range = Some(value.to_owned()),
                "from" => from = value.parse::<Millis>().ok(),
                "to" => to = value.parse::<Millis>().ok(),
                "compare" => view.compare = Compare::from_name(value),
                "panel" if !value.is_empty() => view.panel = Some(value.to_owned()),
                "theme" if value == "light" || value == "dark" => view.theme = Some(value.to_owned()),
                "kiosk" => view.kiosk = value != "0" && value != "false",
                "rotate" => view.rotate = parse_seconds(value),
                "dashboards" => {
                    view.dashboards = value.split(',').filter(|id| !id.is_empty()).map(str::to_owned).collect()
                }
                _ => {}
            }
        }
        view.span = match (from, to) {
            (Some(from), Some(to)) if from < to => Some((from, to)),
            _ => None,
        };
        view
    }

    /// The query string (without `?`), keys in a fixed order; empty for the default view.
    pub fn to_query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(range) = &self.range {
            pairs.push(("range", range.clone()));
        }
        if let Some((from, to)) = self.span {
            pairs.push(("from", from.to_string()));
            pairs.push(("to", to.to_string()));
        }
        if let Some(compare) = self.compare {
            pairs.push(("compare", compare.as_str().to_owned()));
        }
        if let Some(panel) = &self.panel {
            pairs.push(("panel", panel.clone()));
        }
        if let Some(theme) = &self.theme {
            pairs.push(("theme", theme.clone()));
        }
        if self.kiosk {
            pairs.push(("kiosk", "1".to_owned()));
        }
        if let Some(rotate) = self.rotate {
            pairs.push(("rotate", format!("{}s", rotate / 1_000)));
        }
        if !self.dashboards.is_empty() {
            pairs.push(("dashboards", self.dashboards.join(",")));
        }
        pairs.iter().map(|(key, value)| format!("{key}={}", encode_component(value))).collect::<Vec<_>>().join("&")
    }

    /// The dashboard a rotating wall screen shows after `current`, if it rotates.
    pub fn next_dashboard(&self, current: &str) -> Option<&str> {
        self.rotate?;
        let at = self.dashboards.iter().position(|id| id == current).map_or(0, |index| index + 1);
        self.dashboards.get(at % self.dashboards.len().max(1)).map(String::as_str)
    }
}

/// `30s`, `2m` or a bare number of seconds; at least a second.
fn parse_seconds(text: &str) -> Option<Millis> {
    let (number, unit) = match text.strip_suffix('s') {
        Some(number) => (number, 1_000),
        None => match text.strip_suffix('m') {
            Some(number) => (number, 60_000),
            None => (text, 1_000),
        },
    };
    let millis = number.parse::<Millis>().ok()?.checked_mul(unit)?;
    (millis >= 1_000).then_some(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_reads_back_what_it_writes() {
        let view = View {
            range: Some("1h".into()),
            span: Some((1_000, 61_000)),
            compare: Some(Compare::Day),
            panel: Some("cpu".into()),
            theme: Some("light".into()),
            kiosk: true,
            rotate: Some(30_000),
            dashboards: vec!["main".into(), "host".into()],
        };
        let query = view.to_query();
        assert_eq!(
            query,
            "range=1h&from=1000&to=61000&compare=1d&panel=cpu&theme=light&kiosk=1&rotate=30s&dashboards=main%2Chost"
        );
        let pairs: Vec<(String, String)> = query
            .split('&')
            .map(|pair| pair.split_once('=').unwrap())
            .map(|(key, value)| (key.to_owned(), value.replace("%2C", ",")))
            .collect();
        assert_eq!(View::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))), view);
        assert_eq!(View::default().to_query(), "");
    }

    #[test]
    fn what_a_link_gets_wrong_is_left_out() {
        let view =
            View::from_pairs([("from", "9"), ("to", "3"), ("compare", "2d"), ("theme", "pink"), ("rotate", "0s")]);
        assert_eq!(view, View::default(), "a backwards span, an unknown compare, theme or rotation");
        assert!(View::from_pairs([("kiosk", "")]).kiosk, "`?kiosk` alone turns it on");
        assert_eq!(View::from_pairs([("rotate", "2m")]).rotate, Some(120_000));
    }

    #[test]
    fn a_wall_screen_cycles_its_dashboards() {
        let view = View::from_pairs([("rotate", "30s"), ("dashboards", "a,b,c")]);
        assert_eq!(view.next_dashboard("a"), Some("b"));
        assert_eq!(view.next_dashboard("c"), Some("a"));
        assert_eq!(view.next_dashboard("elsewhere"), Some("a"));
        assert_eq!(View::from_pairs([("dashboards", "a,b")]).next_dashboard("a"), None, "no rotate, no cycling");
    }
}

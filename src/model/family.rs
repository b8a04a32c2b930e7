//! Series on the page: a family with several label sets is one chart with a line per series
//! (PROTOCOL.md 1.2 "Family"); each line keeps its colour across reloads (chosen from its key),
//! and its legend names only the labels that tell it from the others.

use crate::protocol::{ChartKind, MetricDefinition};
use std::collections::BTreeMap;

/// One chart: a family's series, or a metric of its own.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartGroup {
    /// The family when it has several series, else the metric's name (its chart's test id).
    pub key: String,
    pub caption: String,
    pub members: Vec<MetricDefinition>,
}

/// The charts of `definitions`, in the order their first series appears; series whose chart
/// is `none` are left out.
pub fn chart_groups(definitions: &[MetricDefinition]) -> Vec<ChartGroup> {
    let mut groups: Vec<ChartGroup> = Vec::new();
    for definition in definitions.iter().filter(|d| d.chart != ChartKind::None) {
        let joined = definition
            .family
            .as_ref()
            .and_then(|family| groups.iter_mut().find(|group| group.members[0].family.as_ref() == Some(family)));
        match joined {
            Some(group) => group.members.push(definition.clone()),
            None => groups.push(ChartGroup {
                key: definition.name.clone(),
                caption: String::new(),
                members: vec![definition.clone()],
            }),
        }
    }
    for group in &mut groups {
        if group.members.len() > 1 {
            group.key = group.members[0].family.clone().unwrap_or_default();
        }
        group.caption = caption(&group.members, &group.key);
    }
    groups
}

/// A chart's title: a lone series' label; for a family, what its series' given labels share
/// (their common start, to a word), or the family's name.
fn caption(members: &[MetricDefinition], key: &str) -> String {
    let first = &members[0].label;
    if members.len() == 1 {
        return first.clone();
    }
    if members.iter().all(|member| member.label == member.name) {
        return key.to_owned();
    }
    let mut common = members[1..]
        .iter()
        .map(|member| first.bytes().zip(member.label.bytes()).take_while(|(a, b)| a == b).count())
        .min()
        .unwrap_or(0);
    while !first.is_char_boundary(common) {
        common -= 1;
    }
    let shared = first[..common]
        .trim_end_matches(|c: char| c.is_alphanumeric())
        .trim_end_matches(['{', ' ', '(', ',', '='])
        .trim();
    if shared.is_empty() {
        key.to_owned()
    } else {
        shared.to_owned()
    }
}

/// Each series' legend text: the labels whose values differ among `members`
/// (`cpu=0 mode=idle`), or its name when none do.
pub fn legend_labels(members: &[MetricDefinition]) -> Vec<String> {
    let named: Vec<(&str, &BTreeMap<String, String>)> =
        members.iter().map(|member| (member.name.as_str(), &member.labels)).collect();
    legend_texts(&named)
}

/// The legend text of each `(name, labels)`: the labels whose values differ among them, or its
/// name when none do (a query's groups and a family's series alike).
pub fn legend_texts(members: &[(&str, &BTreeMap<String, String>)]) -> Vec<String> {
    let differing: Vec<&String> = {
        let mut names: Vec<&String> = members.iter().flat_map(|(_, labels)| labels.keys()).collect();
        super::sort::sort_by(&mut names, Ord::cmp);
        names.dedup();
        names.retain(|name| {
            let first = members[0].1.get(*name);
            members.iter().any(|(_, labels)| labels.get(*name) != first)
        });
        names
    };
    members
        .iter()
        .map(|(name, labels)| {
            let parts: Vec<String> = differing
                .iter()
                .filter_map(|label| labels.get(*label).map(|value| format!("{label}={value}")))
                .collect();
            if parts.is_empty() {
                (*name).to_owned()
            } else {
                parts.join(" ")
            }
        })
        .collect()
}

/// Which of `colours` a series is drawn in: from its key (FNV-1a), so it is the same on every
/// page load and does not move when other series come or go.
pub fn colour_index(key: &str, colours: usize) -> usize {
    let hash = key
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    (hash % colours.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(key: &str, label: &str) -> MetricDefinition {
        MetricDefinition { label: label.into(), ..MetricDefinition::inferred(key) }
    }

    #[test]
    fn a_family_is_one_chart_and_others_keep_their_own() {
        let definitions = vec![
            series(r#"node_cpu_seconds_total{cpu="0",mode="idle"}"#, r#"node_cpu_seconds_total{cpu="0",mode="idle"}"#),
            series("orders", "Orders"),
            series(r#"node_cpu_seconds_total{cpu="1",mode="idle"}"#, r#"node_cpu_seconds_total{cpu="1",mode="idle"}"#),
            series(r#"lone{a="b"}"#, r#"lone{a="b"}"#),
        ];
        let groups = chart_groups(&definitions);
        let keys: Vec<&str> = groups.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(keys, ["node_cpu_seconds_total", "orders", r#"lone{a="b"}"#]);
        assert_eq!(groups[0].members.len(), 2);
        assert_eq!(groups[0].caption, "node_cpu_seconds_total");
        assert_eq!(groups[1].caption, "Orders");
    }

    #[test]
    fn captions_keep_what_labels_share_and_legends_what_tells_series_apart() {
        let cores = vec![series(r#"cpu_core{core="0"}"#, "CPU core 0"), series(r#"cpu_core{core="1"}"#, "CPU core 1")];
        assert_eq!(chart_groups(&cores)[0].caption, "CPU core");
        let members = vec![
            series(r#"req{code="200",host="a",job="api"}"#, "x"),
            series(r#"req{code="500",host="a",job="api"}"#, "x"),
            series(r#"req{code="500",host="b",job="api"}"#, "x"),
        ];
        assert_eq!(legend_labels(&members), ["code=200 host=a", "code=500 host=a", "code=500 host=b"]);
    }

    #[test]
    fn colours_are_stable_per_key() {
        let a = colour_index(r#"cpu{core="0"}"#, 10);
        assert_eq!(a, colour_index(r#"cpu{core="0"}"#, 10));
        let spread: std::collections::HashSet<usize> =
            (0..32).map(|core| colour_index(&format!(r#"cpu{{core="{core}"}}"#), 10)).collect();
        assert!(spread.len() >= 6, "keys spread over the colours: {spread:?}");
    }
}

//! Silences and acks: what people say about alerts. A silence (matchers on an alert's labels,
//! a start and an end, who and why) keeps matching alerts evaluated and shown but not
//! notified; an ack ("I'm on it") on an alert as it stands stops its repeats until its state
//! changes. Both are kept in the history store's SQLite when there is one (so they outlive a
//! restart), in memory otherwise; this module owns both copies.
//!
//! Every delivery asks whether a silence holds its alert, so a silence is compiled once, when
//! it is made or read (its regexes bounded by `MAX_REGEX_BYTES`), and matching reads a shared
//! snapshot of the compiled set: no regex is built, and no lock held, while matching.

pub use crate::model::alerts::Ack;
use crate::protocol::{AlertChange, Millis};
use regex::{Regex, RegexBuilder};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    path::Path,
    sync::{Arc, Mutex, RwLock},
};

/// Silences kept at most (expired ones included, until they age out).
pub const MAX_SILENCES: usize = 1_000;
/// How long an expired silence stays listed.
const EXPIRED_KEPT_MS: Millis = 86_400_000;
/// The longest comment, author or matcher value.
const MAX_TEXT: usize = 1_024;
/// The largest program a matcher's regex may compile to (and its lazy DFA's cache): any
/// pattern people write fits in a few KiB; `(a{100}){100}` and the like are refused.
const MAX_REGEX_BYTES: usize = 64 * 1024;

/// One label test, as Alertmanager's silences write it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Matcher {
    pub name: String,
    pub value: String,
    #[serde(rename = "isRegex", default)]
    pub is_regex: bool,
    #[serde(rename = "isEqual", default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl Matcher {
    /// Ready to test labels: a regex compiled (anchored, as Alertmanager's, and bounded).
    fn compile(&self) -> Result<Test, String> {
        let wanted = match self.is_regex {
            true => RegexBuilder::new(&format!("^(?:{})$", self.value))
                .size_limit(MAX_REGEX_BYTES)
                .dfa_size_limit(MAX_REGEX_BYTES)
                .build()
                .map(Wanted::Matching)
                .map_err(|error| format!("matcher '{}': not a usable regular expression: {error}", self.name))?,
            false => Wanted::Exactly(self.value.clone()),
        };
        Ok(Test { name: self.name.clone(), wanted, is_equal: self.is_equal })
    }
}

/// A compiled matcher.
#[derive(Debug)]
struct Test {
    name: String,
    wanted: Wanted,
    is_equal: bool,
}

#[derive(Debug)]
enum Wanted {
    Exactly(String),
    Matching(Regex),
}

impl Test {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.name).map_or("", String::as_str);
        let found = match &self.wanted {
            Wanted::Exactly(wanted) => value == wanted,
            Wanted::Matching(regex) => regex.is_match(value),
        };
        found == self.is_equal
    }
}

/// A silence as matched: its times and compiled matchers.
#[derive(Debug)]
struct Compiled {
    id: i64,
    starts_at: Millis,
    ends_at: Millis,
    tests: Vec<Test>,
}

impl Compiled {
    fn new(silence: &Silence) -> Result<Compiled, String> {
        let tests = silence.matchers.iter().map(Matcher::compile).collect::<Result<_, _>>()?;
        Ok(Compiled { id: silence.id, starts_at: silence.starts_at, ends_at: silence.ends_at, tests })
    }

    fn silences(&self, labels: &BTreeMap<String, String>, now: Millis) -> bool {
        self.starts_at <= now && now < self.ends_at && self.tests.iter().all(|test| test.matches(labels))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: i64,
    pub matchers: Vec<Matcher>,
    #[serde(rename = "startsAt")]
    pub starts_at: Millis,
    #[serde(rename = "endsAt")]
    pub ends_at: Millis,
    #[serde(rename = "createdBy")]
    pub created_by: String,
    pub comment: String,
}

impl Silence {
    pub fn dashboard(&self) -> Option<&str> {
        dashboard_of(&self.matchers)
    }
}

/// The dashboard an equality matcher names, if any: whose write access a silence needs.
fn dashboard_of(matchers: &[Matcher]) -> Option<&str> {
    matchers
        .iter()
        .find(|matcher| matcher.name == "dashboard" && matcher.is_equal && !matcher.is_regex)
        .map(|matcher| matcher.value.as_str())
}

/// A silence as asked for (`POST /api/v1/alerts/silences`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    #[serde(rename = "startsAt", default)]
    pub starts_at: Option<Millis>,
    #[serde(rename = "endsAt")]
    pub ends_at: Millis,
    #[serde(rename = "createdBy", default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub comment: String,
}

impl NewSilence {
    pub fn dashboard(&self) -> Option<&str> {
        dashboard_of(&self.matchers)
    }

    /// What is wrong with it, if anything.
    pub fn check(&self, now: Millis) -> Result<(), String> {
        if self.matchers.is_empty() || self.matchers.len() > 32 {
            return Err("a silence needs between 1 and 32 matchers".into());
        }
        let mut tests = Vec::with_capacity(self.matchers.len());
        for matcher in &self.matchers {
            let name_ok = !matcher.name.is_empty()
                && matcher.name.len() <= 128
                && matcher.name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
            if !name_ok {
                return Err(format!("matcher name {:?} is not a label name", matcher.name));
            }
            if matcher.value.len() > MAX_TEXT {
                return Err(format!("matcher '{}': value longer than {MAX_TEXT} bytes", matcher.name));
            }
            tests.push(matcher.compile()?);
        }
        if tests.iter().all(|test| test.matches(&BTreeMap::new())) {
            return Err("at least one matcher must need a label value, or the silence would match every alert".into());
        }
        let starts_at = self.starts_at.unwrap_or(now);
        if self.ends_at <= starts_at.max(now) {
            return Err("endsAt must be after startsAt and in the future".into());
        }
        if self.comment.len() > MAX_TEXT || self.created_by.as_ref().is_some_and(|by| by.len() > 128) {
            return Err(format!("comment longer than {MAX_TEXT} bytes or createdBy longer than 128"));
        }
        Ok(())
    }
}

#[derive(Default)]
struct Held {
    silences: Vec<Silence>,
    acks: BTreeMap<(String, String), Ack>,
    next_id: i64,
}

/// The tables of silences and acks, kept in the history store's file (`StoreOptions::tables`).
pub const SCHEMA: &str = "
-- Silences and acks (`alerts::notify::silences`), as JSON.
CREATE TABLE IF NOT EXISTS alert_silences (
    id      INTEGER PRIMARY KEY,
    ends_at INTEGER NOT NULL,
    json    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_acks (
    dashboard TEXT NOT NULL,
    rule      TEXT NOT NULL,
    json      TEXT NOT NULL,
    PRIMARY KEY (dashboard, rule)
);
";

/// Silences and acks, with their SQLite copy when the server keeps history.
pub struct Controls {
    held: Mutex<Held>,
    /// The silences compiled, as of the last change: matching clones the `Arc` and lets go.
    matching: RwLock<Arc<[Arc<Compiled>]>>,
    connection: Option<Mutex<Connection>>,
}

impl Controls {
    /// In memory only (`--persist false`).
    pub fn in_memory() -> Self {
        Controls::holding(Held { next_id: 1, ..Held::default() }, None)
    }

    fn holding(held: Held, connection: Option<Mutex<Connection>>) -> Self {
        let controls = Controls { held: Mutex::new(held), matching: RwLock::new(Arc::new([])), connection };
        controls.republish(&controls.held());
        controls
    }

    /// Makes `held`'s silences the set matched against (after they changed), compiling only
    /// those not in the current set already (by id, with the same times).
    fn republish(&self, held: &Held) {
        let compiled = self.matching();
        let set: Vec<Arc<Compiled>> = held
            .silences
            .iter()
            .filter_map(|silence| {
                let same = |kept: &&Arc<Compiled>| {
                    kept.id == silence.id && kept.starts_at == silence.starts_at && kept.ends_at == silence.ends_at
                };
                if let Some(kept) = compiled.iter().find(same) {
                    return Some(kept.clone());
                }
                Compiled::new(silence)
                    .map_err(|error| tracing::warn!(id = silence.id, %error, "a silence cannot be matched; ignored"))
                    .ok()
                    .map(Arc::new)
            })
            .collect();
        *self.matching.write().expect("silence set lock poisoned") = set.into();
    }

    fn matching(&self) -> Arc<[Arc<Compiled>]> {
        self.matching.read().expect("silence set lock poisoned").clone()
    }

    /// Reads what the store holds (its tables are made by the store's schema).
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        let silences: Vec<Silence> = {
            let mut select = connection.prepare("SELECT json FROM alert_silences ORDER BY id")?;
            let rows = select.query_map([], |row| row.get::<_, String>(0))?;
            rows.filter_map(|json| serde_json::from_str(&json.ok()?).ok()).collect()
        };
        let acks = {
            let mut select = connection.prepare("SELECT json FROM alert_acks")?;
            let rows = select.query_map([], |row| row.get::<_, String>(0))?;
            rows.filter_map(|json| serde_json::from_str::<Ack>(&json.ok()?).ok())
                .map(|ack| ((ack.dashboard.clone(), ack.rule.clone()), ack))
                .collect()
        };
        let next_id = silences.iter().map(|silence| silence.id).max().unwrap_or(0) + 1;
        Ok(Controls::holding(Held { silences, acks, next_id }, Some(Mutex::new(connection))))
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().expect("alert controls lock poisoned")
    }

    /// Silences not expired for more than a day, newest first.
    pub fn silences(&self, now: Millis) -> Vec<Silence> {
        let held = self.held();
        held.silences.iter().rev().filter(|silence| silence.ends_at > now - EXPIRED_KEPT_MS).cloned().collect()
    }

    /// Whether an active silence matches `labels`.
    pub fn is_silenced(&self, labels: &BTreeMap<String, String>, now: Millis) -> bool {
        !self.silenced_by(labels, now).is_empty()
    }

    /// The active silences that match `labels`.
    pub fn silenced_by(&self, labels: &BTreeMap<String, String>, now: Millis) -> Vec<i64> {
        self.matching().iter().filter(|silence| silence.silences(labels, now)).map(|silence| silence.id).collect()
    }

    /// Adds a checked silence, numbered `id` or the next number here; blocking (SQLite).
    pub fn add_silence(
        &self,
        new: NewSilence,
        author: String,
        now: Millis,
        id: Option<i64>,
    ) -> Result<Silence, String> {
        let mut held = self.held();
        held.silences.retain(|silence| silence.ends_at > now - EXPIRED_KEPT_MS);
        if held.silences.len() >= MAX_SILENCES {
            return Err(format!("at most {MAX_SILENCES} silences are kept: expire some first"));
        }
        let silence = Silence {
            id: id.unwrap_or(held.next_id),
            matchers: new.matchers,
            starts_at: new.starts_at.unwrap_or(now),
            ends_at: new.ends_at,
            created_by: author,
            comment: new.comment,
        };
        self.save_silence(&silence, now).map_err(|error| format!("cannot keep the silence: {error}"))?;
        held.next_id = held.next_id.max(silence.id + 1);
        held.silences.push(silence.clone());
        self.republish(&held);
        Ok(silence)
    }

    /// Takes a silence made or changed by another instance (`shared`): added, or replacing
    /// the one with its id; blocking (SQLite).
    pub fn take_silence(&self, silence: Silence, now: Millis) -> Result<(), String> {
        let mut held = self.held();
        self.save_silence(&silence, now).map_err(|error| format!("cannot keep the silence: {error}"))?;
        held.next_id = held.next_id.max(silence.id + 1);
        match held.silences.iter_mut().find(|kept| kept.id == silence.id) {
            Some(kept) => *kept = silence,
            None => held.silences.push(silence),
        }
        self.republish(&held);
        Ok(())
    }

    /// Ends a silence now; `None` when there is no such silence.
    pub fn expire_silence(&self, id: i64, now: Millis) -> Result<Option<Silence>, String> {
        let mut held = self.held();
        let Some(silence) = held.silences.iter_mut().find(|silence| silence.id == id) else { return Ok(None) };
        silence.ends_at = silence.ends_at.min(now);
        silence.starts_at = silence.starts_at.min(silence.ends_at);
        let silence = silence.clone();
        self.republish(&held);
        self.save_silence(&silence, now).map_err(|error| format!("cannot keep the silence: {error}"))?;
        Ok(Some(silence))
    }

    fn save_silence(&self, silence: &Silence, now: Millis) -> rusqlite::Result<()> {
        let Some(connection) = &self.connection else { return Ok(()) };
        let connection = connection.lock().expect("alert controls lock poisoned");
        connection.execute(
            "INSERT OR REPLACE INTO alert_silences (id, ends_at, json) VALUES (?1, ?2, ?3)",
            params![silence.id, silence.ends_at, serde_json::to_string(silence).expect("silences serialize")],
        )?;
        connection.execute("DELETE FROM alert_silences WHERE ends_at <= ?1", [now - EXPIRED_KEPT_MS])?;
        Ok(())
    }

    /// The ack of `change` on `dashboard`, if one still holds.
    pub fn ack_of(&self, dashboard: &str, change: &AlertChange) -> Option<Ack> {
        let held = self.held();
        held.acks.get(&(dashboard.to_owned(), change.rule.clone())).filter(|ack| ack.covers(dashboard, change)).cloned()
    }

    /// Records an ack (replacing the rule's previous one); blocking (SQLite).
    pub fn ack(&self, ack: Ack) -> Result<(), String> {
        if ack.comment.len() > MAX_TEXT {
            return Err(format!("comment longer than {MAX_TEXT} bytes"));
        }
        if let Some(connection) = &self.connection {
            let connection = connection.lock().expect("alert controls lock poisoned");
            connection
                .execute(
                    "INSERT OR REPLACE INTO alert_acks (dashboard, rule, json) VALUES (?1, ?2, ?3)",
                    params![ack.dashboard, ack.rule, serde_json::to_string(&ack).expect("acks serialize")],
                )
                .map_err(|error| format!("cannot keep the ack: {error}"))?;
        }
        self.held().acks.insert((ack.dashboard.clone(), ack.rule.clone()), ack);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::alerts::Severity;
    use crate::protocol::AlertPhase;

    fn labels() -> BTreeMap<String, String> {
        [("alertname", "hot"), ("dashboard", "main"), ("severity", "critical"), ("team", "shop")]
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .into()
    }

    fn matcher(name: &str, value: &str, is_regex: bool, is_equal: bool) -> Test {
        Matcher { name: name.into(), value: value.into(), is_regex, is_equal }.compile().unwrap()
    }

    fn raw(name: &str, value: &str, is_regex: bool) -> Matcher {
        Matcher { name: name.into(), value: value.into(), is_regex, is_equal: true }
    }

    #[test]
    fn regexes_that_would_compile_huge_are_refused() {
        let huge = raw("team", "(((a{100}){100}){100})", true);
        assert!(huge.compile().unwrap_err().contains("not a usable regular expression"));
        assert!(raw("team", "shop|ops|infra-[0-9]+", true).compile().is_ok());
    }

    #[test]
    fn matchers_are_alertmanagers() {
        assert!(matcher("team", "shop", false, true).matches(&labels()));
        assert!(!matcher("team", "sho", false, true).matches(&labels()));
        assert!(matcher("team", "sho.*", true, true).matches(&labels()));
        assert!(!matcher("team", "ho", true, true).matches(&labels()), "regexes are anchored");
        assert!(matcher("team", "ops", false, false).matches(&labels()));
        assert!(matcher("missing", "", false, true).matches(&labels()), "a missing label is empty");
    }

    #[test]
    fn silences_hold_between_start_and_end_and_survive_a_reopen() {
        let file = tempfile::NamedTempFile::new().unwrap();
        Connection::open(file.path()).unwrap().execute_batch(SCHEMA).unwrap();
        let controls = Controls::open(file.path()).unwrap();
        let new = |starts_at, ends_at| NewSilence {
            matchers: vec![raw("alertname", "hot", false)],
            starts_at,
            ends_at,
            created_by: None,
            comment: "deploy".into(),
        };
        assert!(new(None, 500).check(1_000).is_err(), "ends in the past");
        let bad_regex = NewSilence { matchers: vec![raw("team", "(", true)], ..new(None, 5_000) };
        assert!(bad_regex.check(1_000).unwrap_err().contains("regular expression"));
        let silence = controls.add_silence(new(Some(2_000), 5_000), "ana".into(), 1_000, None).unwrap();
        assert!(!controls.is_silenced(&labels(), 1_500), "not started");
        assert!(controls.is_silenced(&labels(), 2_000));
        let ack = Ack {
            dashboard: "main".into(),
            rule: "hot".into(),
            state: AlertPhase::Firing,
            severity: Severity::Critical,
            since: 900,
            by: "ana".into(),
            comment: String::new(),
            at: 1_000,
        };
        controls.ack(ack.clone()).unwrap();
        drop(controls);

        let reopened = Controls::open(file.path()).unwrap();
        assert_eq!(reopened.silences(3_000), vec![silence.clone()]);
        let change = AlertChange {
            rule: "hot".into(),
            severity: Severity::Critical,
            state: AlertPhase::Firing,
            metric: "cpu".into(),
            value: Some(90.0),
            threshold: Some(85.0),
            since: 900,
            message: String::new(),
        };
        assert_eq!(reopened.ack_of("main", &change), Some(ack));
        let escalated_later = AlertChange { since: 1_200, ..change };
        assert_eq!(reopened.ack_of("main", &escalated_later), None, "a new state ends the ack");
        reopened.expire_silence(silence.id, 3_000).unwrap();
        assert!(!reopened.is_silenced(&labels(), 3_000));
        let next = reopened.add_silence(new(None, 9_000), "bo".into(), 3_000, None).unwrap();
        assert_eq!(next.id, silence.id + 1);
    }
}

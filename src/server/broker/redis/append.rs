//! Publishing through Redis: a dashboard's keys (`Keys`), `publish.lua`'s arguments, and
//! `RedisBroker::append`, which runs the script for each update of a batch (all in one
//! `MULTI` when there are several) and hands back each one's frame as the script published
//! it; `update_head` reads that frame's head back, to skip this instance's own updates when
//! pub/sub brings them again.

use super::{RedisBroker, CHANNEL, INDEX, PUBLISH_DEADLINE};
use crate::protocol::Update;
use crate::server::broker::{frame::UpdateTail, hub::new_epoch, Frame};
use std::sync::Arc;

/// A dashboard's keys, with its hash tag.
pub(super) struct Keys {
    pub(super) meta: String,
    pub(super) log: String,
    pub(super) latest: String,
    /// Each alert rule's last announced change (JSON), by rule name.
    pub(super) alerts: String,
}

impl Keys {
    pub(super) fn of(dashboard: &str) -> Keys {
        Keys {
            meta: format!("livedash:{{{dashboard}}}:meta"),
            log: format!("livedash:{{{dashboard}}}:log"),
            latest: format!("livedash:{{{dashboard}}}:latest"),
            alerts: format!("livedash:{{{dashboard}}}:alerts"),
        }
    }
}

impl RedisBroker {
    /// Appends `drafts` (updates without their seq) in Redis: one script per update, all in
    /// one transaction when there are several. Returns each one's epoch and frame, in order.
    pub(super) async fn append(&self, drafts: Vec<Update>) -> Result<Vec<(String, Frame)>, redis::RedisError> {
        let tails: Vec<UpdateTail> = drafts.iter().map(UpdateTail::of).collect();
        let capacity = self.cache.limits().replay_capacity;
        let mut connection = self.redis.clone();
        let answers: Vec<(String, u64, u8)> = if let [draft] = &drafts[..] {
            let keys = Keys::of(&draft.dashboard);
            let mut invocation = self.publish.prepare_invoke();
            invocation.key(&keys.meta).key(&keys.log).key(&keys.latest);
            for arg in script_args(draft, &tails[0], capacity) {
                invocation.arg(arg);
            }
            vec![invocation.invoke_async(&mut connection).await?]
        } else {
            // EVAL, not EVALSHA: inside MULTI a missing script could not be loaded and retried.
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (draft, tail) in drafts.iter().zip(&tails) {
                let keys = Keys::of(&draft.dashboard);
                pipe.cmd("EVAL")
                    .arg(include_str!("publish.lua"))
                    .arg(3)
                    .arg(&keys.meta)
                    .arg(&keys.log)
                    .arg(&keys.latest);
                for arg in script_args(draft, tail, capacity) {
                    pipe.arg(arg);
                }
            }
            pipe.query_async(&mut connection).await?
        };
        let created: Vec<&str> = drafts
            .iter()
            .zip(&answers)
            .filter(|(draft, (_, _, created))| *created == 1 || !self.is_listed(&draft.dashboard))
            .map(|(draft, _)| draft.dashboard.as_str())
            .collect();
        if !created.is_empty() {
            redis::cmd("SADD").arg(INDEX).arg(&created).exec_async(&mut connection).await?;
            self.listed.lock().expect("listed lock poisoned").extend(created.iter().map(|id| id.to_string()));
        }
        Ok(drafts
            .into_iter()
            .zip(tails)
            .zip(answers)
            .map(|((mut update, tail), (epoch, seq, _))| {
                update.seq = seq;
                // The same bytes the script published.
                (epoch, Frame::update_with_tail(Arc::new(update), &tail))
            })
            .collect())
    }

    /// Whether the update `json` of `epoch` is one this instance's hub already has, read from
    /// the head the script writes (`{"type":"update","dashboard":"<id>","seq":<n>,`) without
    /// parsing the rest. Seqs only grow, so a yes stays true; anything unexpected is a no.
    pub(super) fn already_applied(&self, epoch: &str, json: &str) -> bool {
        let Some((dashboard, seq)) = update_head(json) else { return false };
        self.cache.hub(dashboard).is_ok_and(|hub| &*hub.epoch == epoch && seq <= hub.seq())
    }

    pub(super) fn is_listed(&self, dashboard: &str) -> bool {
        self.listed.lock().expect("listed lock poisoned").contains(dashboard)
    }
}

/// The script's arguments after its keys (see `publish.lua`).
fn script_args(draft: &Update, tail: &UpdateTail, capacity: usize) -> Vec<String> {
    let mut args = Vec::with_capacity(7 + 2 * draft.metrics.len());
    args.push(new_epoch());
    args.push(capacity.to_string());
    args.push(CHANNEL.to_owned());
    args.push(serde_json::to_string(&draft.dashboard).expect("strings serialize"));
    args.push(draft.ts.to_string());
    args.push(tail.after_brace().to_owned());
    // Redis compares it with its own `TIME`: the machine's clock, whatever the server's `Clock`.
    let system = crate::server::clock::Clock::system();
    args.push((system.now_millis() + PUBLISH_DEADLINE).to_string());
    for (name, value) in &draft.metrics {
        args.push(name.clone());
        // Debug: the shortest text that reads back as the same f64.
        args.push(format!("{value:?}"));
    }
    args
}

/// The dashboard and seq at the head of an update's JSON as the script writes it.
pub(super) fn update_head(json: &str) -> Option<(&str, u64)> {
    let rest = json.strip_prefix(r#"{"type":"update","dashboard":""#)?;
    let (dashboard, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(r#","seq":"#)?;
    Some((dashboard, rest.split(',').next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_of_an_update_is_read_as_the_script_writes_it() {
        let update = Update {
            dashboard: "web-1".into(),
            seq: 42,
            from_seq: None,
            ts: 1_000,
            metrics: [("x".to_owned(), 1.5)].into(),
            kinds: Default::default(),
            alerts: Vec::new(),
        };
        let tail = UpdateTail::of(&update);
        // `publish.lua` writes exactly this head before the tail.
        let scripted = format!(r#"{{"type":"update","dashboard":"web-1","seq":42,{}"#, tail.after_brace());
        let frame = Frame::update_with_tail(Arc::new(update), &tail);
        assert_eq!(frame.json.as_str(), scripted);
        assert_eq!(update_head(&scripted), Some(("web-1", 42)));
        assert_eq!(update_head(r#"{"type":"snapshot","dashboard":"web-1","seq":42}"#), None);
        assert_eq!(update_head(r#"{"type":"update","dashboard":"d","seq":x,"#), None);
    }
}

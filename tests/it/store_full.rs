//! A full disk, for real: the history store on a small tmpfs that fills up and then grows.
//! Ingest is refused with 503 and nothing is half applied, `/healthz` says what is wrong, and
//! once there is room again everything continues by itself: ingest, subscribers (the seqs go
//! on without a gap), and a restart resumes where it stopped. (Small writes may still fit in
//! space SQLite already holds, so the checks are made while the writer is backing off.)
//! Mounting needs root, as CI and this project's machines run.

use crate::common;

use common::*;
use livedash::protocol::Position;
use std::{path::Path, process::Command, time::Duration};

/// A tmpfs mounted at a temporary folder, unmounted when dropped.
struct SmallDisk {
    folder: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let folder = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(folder.path())
            .status()
            .expect("mount runs");
        assert!(mounted.success(), "mounting a tmpfs needs root (this test fills a real filesystem)");
        SmallDisk { folder }
    }

    fn path(&self) -> &Path {
        self.folder.path()
    }

    fn grow(&self, size: &str) {
        let grown =
            Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(self.path()).status().unwrap();
        assert!(grown.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.folder.path()).status();
    }
}

/// One request of `count` new metrics on `dashboard`: about 100 bytes of store each.
fn wide_update(dashboard: &str, batch: usize, count: usize) -> String {
    let metrics: Vec<String> = (0..count).map(|i| format!(r#""m{batch}_{i}":{i}"#)).collect();
    format!(r#"{{"dashboard":"{dashboard}","metrics":{{{}}}}}"#, metrics.join(","))
}

async fn health(running: &livedash::server::Running) -> (u16, String) {
    let response = reqwest::get(http_url(running, "/healthz")).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_full_disk_refuses_writes_then_recovers_by_itself_when_space_returns() {
    let disk = SmallDisk::mount("1m");
    let mut settings = persisted_settings(disk.path());
    settings.max_metrics_per_dashboard = 1_000_000;
    let running = start(settings).await;
    push(&running, "shop", 1.0).await;
    let mut socket = connect(&running).await;
    send(&mut socket, &subscribe("shop", None)).await;
    let before = expect_snapshot(&mut socket).await;

    // Fill the disk with wide updates until the store refuses one.
    let mut refused = None;
    for batch in 0..400 {
        let (status, answer) = ingest(&running, &wide_update("filler", batch, 500)).await;
        if status != 202 {
            refused = Some((status, answer));
            break;
        }
    }
    let (status, answer) = refused.expect("a 1 MiB disk fills up");
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["code"], "unavailable", "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("full"), "{answer}");
    let (status, text) = health(&running).await;
    assert_eq!(status, 503, "healthz tells an orchestrator: {text}");
    assert!(text.contains("failing") && text.contains("disk full"), "{text}");
    assert!(!text.contains(disk.path().to_str().unwrap()), "no path in a public answer: {text}");
    // What the page's banner asks.
    let problem = reqwest::Client::new().post(http_url(&running, "/api/store_problem")).send().await.unwrap();
    let problem: Option<String> = problem.json().await.unwrap();
    assert!(problem.is_some_and(|text| text.contains("full") && text.contains("not saved or shown")));

    // Refused, and nothing of it was applied: the subscriber sees nothing, the seq is unchanged.
    // The log said so once, when it started: not once more per refused request.
    let (logs, logging) = capture_logs();
    for _ in 0..50 {
        let (status, answer) = ingest(&running, r#"{"dashboard":"shop","metrics":{"x":2}}"#).await;
        assert_eq!(status, 503, "{answer}");
    }
    drop(logging);
    let logged = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logged.lines().count() <= 2, "50 refusals, {} log lines:\n{logged}", logged.lines().count());
    expect_silence(&mut socket, Duration::from_millis(100)).await;
    assert_eq!(snapshot(&running, "shop").await["seq"], before.seq);

    // Room again: the store notices by itself (no request needed), and everything moves on.
    disk.grow("64m");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while health(&running).await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "the store did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(health(&running).await.1, "ok");
    let problem = reqwest::Client::new().post(http_url(&running, "/api/store_problem")).send().await.unwrap();
    assert_eq!(problem.json::<Option<String>>().await.unwrap(), None, "the banner goes away");
    push(&running, "shop", 3.0).await;
    let update = expect_update(&mut socket).await;
    assert_eq!((update.seq, update.metrics["x"]), (before.seq + 1, 3.0), "no gap: refused seqs were taken back");
    let (status, answer) = ingest(&running, &wide_update("filler", 999, 500)).await;
    assert_eq!(status, 202, "what did not fit before fits now: {answer}");

    // What was acknowledged is on disk: a restart resumes right after it.
    running.shutdown().await;
    let running = start(persisted_settings(disk.path())).await;
    let mut socket = connect(&running).await;
    send(&mut socket, &subscribe("shop", Some(Position { epoch: before.epoch.clone(), seq: before.seq }))).await;
    let replayed = expect_update(&mut socket).await;
    assert_eq!((replayed.seq, replayed.metrics["x"]), (before.seq + 1, 3.0));
    running.shutdown().await;
}

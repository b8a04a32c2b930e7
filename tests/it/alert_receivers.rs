//! Alert delivery to real peers: Debian's `prometheus-alertmanager` on loopback (installed by
//! `make test`) takes livedash's alerts on its `/api/v2/alerts` and lists them in its API; a
//! real SMTP server (aiosmtpd, from `make python-deps`) receives the critical mail and not the
//! warning, and past `max_per_hour` one digest.

use crate::common;

use common::*;
use livedash::server::{settings::Settings, Running};
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

fn settings(folder: &Path, receivers: &str) -> Settings {
    let text = format!(
        r#"
[[alerts]]
name = "hot_cpu"
dashboard = "servers"
metric = "cpu"
warn = {{ above = 70, clear = 65 }}
crit = {{ above = 85, clear = 75 }}
labels = {{ team = "infra" }}
summary = "CPU {{{{value}}}}% above {{{{threshold}}}}%"
{receivers}
"#
    );
    alerting_settings(folder, &text, Duration::from_millis(200))
}

async fn cpu(running: &Running, value: f64) {
    push_metric(running, "servers", "cpu", value).await;
}

/// Debian's Alertmanager on a free loopback port, clustering off, its data in `folder`.
async fn alertmanager(folder: &Path) -> (Peer, String) {
    let binary = ["/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .expect("prometheus-alertmanager is not installed: `make test` installs it (scripts/install-services.sh)");
    let config = folder.join("alertmanager.yml");
    std::fs::write(&config, "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n").unwrap();
    let url = format!("http://127.0.0.1:{}", free_port());
    let child = tokio::process::Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", folder.join("alertmanager").display()))
        .arg(format!("--web.listen-address={}", url.trim_start_matches("http://")))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus-alertmanager starts");
    answering("alertmanager ready", &format!("{url}/-/ready")).await;
    (Peer(child), url)
}

/// The alerts Alertmanager lists for `alertname`.
async fn listed(alertmanager: &str, alertname: &str) -> Vec<Value> {
    let url = format!("{alertmanager}/api/v2/alerts?filter=alertname%3D%22{alertname}%22");
    let answer: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    answer.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn alertmanager_takes_livedash_alerts_keeps_them_while_firing_and_ends_them_on_resolve() {
    let folder = tempfile::tempdir().unwrap();
    let (_alertmanager, url) = alertmanager(folder.path()).await;
    let receivers = format!("[[receivers]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"{url}\"\n");
    let mut config = settings(folder.path(), &receivers);
    config.delivery.resend = Duration::from_millis(700);
    let running = start(config).await;
    cpu(&running, 50.0).await;
    cpu(&running, 93.0).await;

    let alerts = eventually("the alert listed by Alertmanager", async || {
        let alerts = listed(&url, "hot_cpu").await;
        (alerts.len() == 1, alerts)
    })
    .await;
    let alert = &alerts[0];
    assert_eq!(alert["labels"]["dashboard"], "servers");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["team"], "infra");
    assert_eq!(alert["annotations"]["summary"], "CPU 93% above 85%");
    assert_eq!(alert["status"]["state"], "active");
    assert_eq!(alert["generatorURL"], format!("http://{}/d/servers", running.addr));

    // Re-sent while firing: Alertmanager sees it updated, with a later end.
    let first_end = alert["endsAt"].as_str().unwrap().to_owned();
    eventually("a resend moving endsAt", async || {
        let alerts = listed(&url, "hot_cpu").await;
        let end = alerts.first().map(|alert| alert["endsAt"].as_str().unwrap_or_default().to_owned());
        (end.as_ref().is_some_and(|end| *end > first_end), end)
    })
    .await;

    // Resolved: it ends there, and the API no longer lists it as active.
    cpu(&running, 10.0).await;
    eventually("the alert resolved in Alertmanager", async || {
        let alerts = listed(&url, "hot_cpu").await;
        (alerts.is_empty(), alerts)
    })
    .await;
    let (_, deliveries) = get_json(http_url(&running, "/api/v1/alerts/deliveries")).await;
    let statuses: Vec<_> =
        deliveries.as_array().unwrap().iter().map(|d| (d["state"].clone(), d["status"].clone())).collect();
    assert_eq!(
        statuses,
        [("resolved".into(), "delivered".into()), ("firing".into(), "delivered".into())].to_vec(),
        "{deliveries}"
    );
    running.shutdown().await;
}

/// aiosmtpd writing each message it accepts into a maildir.
async fn smtp_sink(folder: &Path) -> (Peer, u16, PathBuf) {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/pyvenv/bin/python");
    assert!(python.exists(), "{} is missing: run `make python-deps`", python.display());
    let port = free_port();
    let maildir = folder.join("maildir");
    let child = tokio::process::Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("aiosmtpd starts");
    eventually("the SMTP server listening", async || {
        let up = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok();
        (up, port)
    })
    .await;
    (Peer(child), port, maildir)
}

/// The mails in the maildir, oldest first.
fn mails(maildir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else { return Vec::new() };
    let mut files: Vec<(std::time::SystemTime, String)> = entries
        .flatten()
        .map(|entry| (entry.metadata().unwrap().modified().unwrap(), std::fs::read_to_string(entry.path()).unwrap()))
        .collect();
    files.sort();
    files.into_iter().map(|(_, text)| text).collect()
}

fn subject(mail: &str) -> &str {
    mail.lines().find_map(|line| line.strip_prefix("Subject: ")).unwrap_or_default()
}

#[tokio::test]
async fn the_critical_mail_arrives_the_warning_does_not_and_past_the_hourly_limit_one_digest() {
    let folder = tempfile::tempdir().unwrap();
    let (_sink, port, maildir) = smtp_sink(folder.path()).await;
    let receivers = format!(
        r#"[[receivers]]
name = "oncall-mail"
kind = "email"
smtp = "smtp://127.0.0.1:{port}"
from = "livedash@example.com"
to = ["oncall@example.com"]
severities = ["critical"]
max_per_hour = 2
"#
    );
    let running = start(settings(folder.path(), &receivers)).await;
    cpu(&running, 72.0).await; // warning: not for this receiver
    cpu(&running, 91.0).await; // critical
    let sent = eventually("the critical mail", async || {
        let sent = mails(&maildir);
        (!sent.is_empty(), sent)
    })
    .await;
    assert_eq!(sent.len(), 1, "the warning sent no mail: {sent:?}");
    let mail = &sent[0];
    assert_eq!(subject(mail), "[CRITICAL] servers: hot_cpu");
    assert!(mail.contains("To: oncall@example.com") && mail.contains("From: livedash@example.com"), "{mail}");
    for line in ["CPU 91% above 85%", "Value:     91", "Threshold: 85", "Since:     20", "/d/servers"] {
        assert!(mail.contains(line), "{line:?} missing from\n{mail}");
    }

    cpu(&running, 10.0).await; // resolved: mail 2 of 2 this hour
    eventually("the resolved mail", async || {
        let sent = mails(&maildir);
        (sent.len() == 2, sent.iter().map(|mail| subject(mail).to_owned()).collect::<Vec<_>>())
    })
    .await;
    assert_eq!(subject(&mails(&maildir)[1]), "[RESOLVED] servers: hot_cpu");

    // Over the limit: held, not sent.
    cpu(&running, 95.0).await;
    cpu(&running, 12.0).await;
    eventually("two deliveries held", async || {
        let (_, deliveries) = get_json(http_url(&running, "/api/v1/alerts/deliveries")).await;
        let held = deliveries.as_array().unwrap().iter().filter(|d| d["status"] == "held").count();
        (held == 2, deliveries)
    })
    .await;
    assert_eq!(mails(&maildir).len(), 2);

    // An hour later (the record of mails sent is what the limit counts): one digest of both.
    let store = rusqlite::Connection::open(folder.path().join("livedash.sqlite")).unwrap();
    store.execute("UPDATE alert_mails SET sent = sent - 3600000", []).unwrap();
    let sent = eventually("the digest", async || {
        let sent = mails(&maildir);
        (sent.len() == 3, sent.len())
    })
    .await;
    assert_eq!(sent, 3);
    let digest = &mails(&maildir)[2];
    assert_eq!(subject(digest), "[livedash] 2 alert changes held back (at most 2 mails per hour)");
    assert!(digest.contains("[FIRING] servers: hot_cpu") && digest.contains("[RESOLVED] servers: hot_cpu"), "{digest}");
    let (_, deliveries) = get_json(http_url(&running, "/api/v1/alerts/deliveries")).await;
    assert!(deliveries.as_array().unwrap().iter().all(|d| d["status"] == "delivered"), "{deliveries}");
    running.shutdown().await;
}

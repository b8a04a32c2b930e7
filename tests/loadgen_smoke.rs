//! Keeps the load generator from rotting: a tiny run (a few subscribers, about a second)
//! against a real server must finish with no loss and print its report.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_load_run_reports_no_loss() {
    let running = start(quiet_settings()).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--server", &running.addr.to_string(), "--subscribers", "5", "--rate", "20"])
        .args(["--duration", "1", "--server-pid", &std::process::id().to_string()])
        .arg("--require-no-loss")
        .output()
        .await
        .expect("loadgen runs");
    let report = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}\n{errors}");
    for line in ["subscribers         5", "seq gaps            0", "latency fast (ms)", "server CPU", "converged           5 of 5 fast"] {
        assert!(report.contains(line), "missing {line:?} in\n{report}");
    }
    running.shutdown().await;
}

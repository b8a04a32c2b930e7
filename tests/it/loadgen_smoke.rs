//! Keeps the benchmark programs from rotting: a tiny run of each (a few connections, about a
//! second) must finish and print its report; the load generator also with no loss.

use crate::common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_load_run_reports_no_loss() {
    // Pings every 100 ms: a subscriber that does not answer them is dropped after two, and
    // the run loses its updates (the generator reads the wire itself and must pong).
    let mut settings = quiet_settings();
    settings.stream.heartbeat = std::time::Duration::from_millis(100);
    let running = start(settings).await;
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
    for line in [
        "subscribers         5",
        "seq gaps            0",
        "latency fast (ms)",
        "server CPU",
        "converged           5 of 5 fast",
        "ended early         0",
    ] {
        assert!(report.contains(line), "missing {line:?} in\n{report}");
    }
    running.shutdown().await;
}

/// The same for the write-floor measurement: a few connections for half a second, every write
/// counted and the reader process gone when it ends.
#[test]
fn a_tiny_write_floor_run_reports_the_cost_per_write() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_write_floor"))
        .args(["--connections", "4", "--rate", "20", "--duration", "0.5"])
        .output()
        .expect("write_floor runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(report.contains("connections         4"), "{report}");
    assert!(report.contains("us per write"), "{report}");
}

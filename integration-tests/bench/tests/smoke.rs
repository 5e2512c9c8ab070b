//! The harness in smoke mode: tiny sizes, one round, every server. Checks that every server
//! starts, every scenario completes and every delivery is accounted for; it asserts nothing
//! about timing (the budgets are read from the full report, `docs/benchmarks.md`).
//!
//! Needs `node` and `npm` (the harness runs `npm ci` in `node/` when needed). Set
//! `BENCH_SMOKE_SERVERS` (e.g. `switchboard,socketioxide,raw`) to leave Node out.
use std::process::Command;

#[test]
fn smoke_run_accounts_for_every_delivery() {
    let servers = std::env::var("BENCH_SMOKE_SERVERS")
        .unwrap_or_else(|_| "switchboard,socketioxide,node,raw".to_owned());
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["--smoke", "--servers", &servers])
        .env(
            "BENCH_SOCKETIOXIDE_BIN",
            env!("CARGO_BIN_EXE_socketioxide-seed"),
        )
        .env("BENCH_RAW_BIN", env!("CARGO_BIN_EXE_raw-floor"))
        .output()
        .expect("the harness binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("bench: every delivery accounted for"),
        "the smoke run failed ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    for server in servers.split(',') {
        assert!(
            stderr.contains(&format!("  {server:<12} ")),
            "no measurement of {server} in the smoke run\n{stderr}"
        );
    }
}

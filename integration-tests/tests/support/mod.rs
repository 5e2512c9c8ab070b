//! Runs `js/security.mjs` (the security scenarios) for the tests of this directory.
use std::process::Stdio;
use std::time::Duration;

use integration_tests::{ensure_node_modules, js_dir};
use serde_json::Value;

/// How long one `security.mjs` run may take before it is killed; the script's own deadline
/// (`--deadline`, 30 s) is shorter.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `node security.mjs <name> <base_url> <args…>` and returns the JSON object it printed
/// on its last line. Panics with its output when it fails, prints no JSON or hangs.
pub(crate) async fn security(name: &str, base_url: &str, args: &[&str]) -> Value {
    tokio::task::spawn_blocking(ensure_node_modules)
        .await
        .expect("installing the JavaScript dependencies");
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    let what = format!("security.mjs {name} {base_url} {args:?}");
    let child = tokio::process::Command::new(&node)
        .arg("security.mjs")
        .arg(name)
        .arg(base_url)
        .args(args)
        .current_dir(js_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start `{node}`: {e}"));
    let output = tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} ran longer than {TIMEOUT:?} and was killed"))
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| {
            panic!(
                "{what} printed no JSON object\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
            )
        })
}

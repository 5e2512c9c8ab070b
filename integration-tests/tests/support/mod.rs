//! Runs `js/security.mjs` (the security scenarios) for the tests of this directory.
use std::time::Duration;

use integration_tests::run_node_async;
use serde_json::Value;

/// How long one `security.mjs` run may take before it is killed; the script's own deadline
/// (`--deadline`, 30 s) is shorter.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `node security.mjs <name> <base_url> <args…>` and returns the JSON object it printed
/// on its last line. Panics with its output when it fails, prints no JSON or hangs.
pub(crate) async fn security(name: &str, base_url: &str, args: &[&str]) -> Value {
    let mut all = vec![name, base_url];
    all.extend_from_slice(args);
    run_node_async("security.mjs", &all, TIMEOUT).await
}

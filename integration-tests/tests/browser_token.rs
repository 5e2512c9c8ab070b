//! seed-chat's page with `CHAT_TOKEN`: headless Chromium sees the namespaces refused, the page
//! asks for the token, and both namespaces connect once it is given.
use std::process::Command;

use integration_tests::{SeedChat, chromium_path, ensure_node_modules, js_dir, test_output_dir};
use serde_json::Value;

#[test]
fn the_page_asks_for_the_token_and_connects_with_it() {
    let chromium = chromium_path();
    ensure_node_modules();
    let server = SeedChat::spawn(&[("CHAT_TOKEN", "page-secret")]);
    let out_dir = test_output_dir("the_page_asks_for_the_token_and_connects_with_it");
    let output = Command::new(std::env::var("NODE").unwrap_or_else(|_| "node".into()))
        .arg("browser-token.mjs")
        .arg(server.base_url())
        .arg(&out_dir)
        .arg("page-secret")
        .env("CHROMIUM_PATH", &chromium)
        .current_dir(js_dir())
        .output()
        .expect("run node browser-token.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "browser-token.mjs failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let o: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(o["formShown"], true, "{o}");
    for ns in ["sports", "movies"] {
        let status = o["refused"][ns]["status"].as_str().unwrap();
        assert!(
            status.contains("a token is required") && status.contains("(HTTP 401)"),
            "{o}"
        );
    }
    let after = &o["afterToken"]["seen"];
    assert_eq!(after["sports"]["items"][0], "Hello soccer fans!", "{o}");
    assert_eq!(after["movies"]["items"][0], "Hello comedy fans!", "{o}");
    assert_eq!(o["pageErrors"], serde_json::json!([]), "{o}");
    let png = std::fs::read(out_dir.join("token.png")).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
}

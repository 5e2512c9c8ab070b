//! `seed-chat`'s page in headless Chromium: the browser loads the Socket.IO client from the
//! same server (`/socket.io/socket.io.js`), connects to `/sports` and `/movies`, shows both
//! greetings, and a chat typed into the `/sports` form arrives in `/sports` only.
//!
//! The browser is driven by `integration-tests/js/browser.mjs` (playwright-core, Debian's
//! Chromium); this file asserts on what it observed. Without Chromium the test fails with a
//! message saying how to install it; it never skips. The screenshot lands in
//! `integration-tests/output/seed_chat_page_in_chromium/seed-chat.png`.

use std::fs;
use std::path::Path;

use integration_tests::{SeedChat, chromium_path, run_browser, test_output_dir};
use serde_json::Value;

const SOCCER_GREETING: &str = "Hello soccer fans!";
const COMEDY_GREETING: &str = "Hello comedy fans!";
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The texts of the list items of one section (`sports` or `movies`) of the page.
fn items<'a>(observed: &'a Value, section: &str) -> Vec<&'a str> {
    observed["sections"][section]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items for section {section} in {observed:#}"))
        .iter()
        .map(|item| item.as_str().unwrap_or_default())
        .collect()
}

/// The media type of a `Content-Type` value, lower-cased, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn assert_png(path: &Path) {
    let bytes = fs::read(path)
        .unwrap_or_else(|e| panic!("the screenshot {} was not written: {e}", path.display()));
    assert!(
        bytes.len() > PNG_SIGNATURE.len() && bytes.starts_with(PNG_SIGNATURE),
        "the screenshot {} is not a non-empty PNG ({} bytes)",
        path.display(),
        bytes.len()
    );
}

#[test]
fn seed_chat_page_in_chromium() {
    // Before building and starting anything: no browser is a failure that says what to do.
    chromium_path();
    let server = SeedChat::spawn(&[]);
    let output_dir = test_output_dir("seed_chat_page_in_chromium");
    let observed = run_browser(&server.base_url(), &output_dir);
    let show = format!("browser observations: {observed:#}");

    assert_eq!(observed["ok"], true, "{show}");
    assert_eq!(observed["title"], "seed-chat", "{show}");

    // The client came from this server, as a script, and defined the `io` global.
    assert_eq!(observed["ioGlobal"], "function", "no io() global: {show}");
    let scripts = observed["scriptResponses"]
        .as_array()
        .unwrap_or_else(|| panic!("no scriptResponses: {show}"));
    assert_eq!(
        scripts.len(),
        1,
        "expected one response for /socket.io/socket.io.js: {show}"
    );
    let script = &scripts[0];
    assert_eq!(
        script["url"],
        format!("{}/socket.io/socket.io.js", server.base_url()),
        "{show}"
    );
    assert_eq!(script["sameOrigin"], true, "{show}");
    assert_eq!(script["status"], 200, "{show}");
    let content_type = script["headers"]["content-type"].as_str().unwrap_or("");
    assert!(
        matches!(
            media_type(content_type).as_str(),
            "application/javascript" | "text/javascript"
        ),
        "the client bundle was served as {content_type:?}, not JavaScript: {show}"
    );

    // Both namespaces connected, over one websocket after the upgrade.
    for section in ["sports", "movies"] {
        let s = &observed["sections"][section];
        assert_eq!(s["connected"], true, "{section} not connected: {show}");
        assert_eq!(
            s["transport"], "websocket",
            "{section} did not end on websocket: {show}"
        );
        assert_eq!(s["status"], "connected (websocket)", "{section}: {show}");
        assert_eq!(
            s["errorItems"],
            serde_json::json!([]),
            "{section} shows errors: {show}"
        );
    }
    assert_eq!(observed["sections"]["sports"]["namespace"], "/sports");
    assert_eq!(observed["sections"]["movies"]["namespace"], "/movies");

    // Each greeting once, in its own namespace only.
    let sports = items(&observed, "sports");
    let movies = items(&observed, "movies");
    assert_eq!(sports.first(), Some(&SOCCER_GREETING), "{show}");
    assert_eq!(movies.first(), Some(&COMEDY_GREETING), "{show}");
    assert!(!sports.contains(&COMEDY_GREETING), "{show}");
    assert!(!movies.contains(&SOCCER_GREETING), "{show}");

    // The chat typed into /sports arrived there once, and not in /movies.
    let message = observed["chat"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no chat message: {show}"));
    assert_eq!(observed["chat"]["room"], "soccer", "{show}");
    assert_eq!(
        sports.iter().filter(|m| **m == message).count(),
        1,
        "the chat should arrive once in /sports: {show}"
    );
    assert!(
        !movies.contains(&message),
        "the /sports chat leaked into /movies: {show}"
    );
    assert_eq!(sports, [SOCCER_GREETING, message], "{show}");
    assert_eq!(movies, [COMEDY_GREETING], "{show}");
    assert_eq!(observed["chat"]["inputCleared"], true, "{show}");

    // A clean console: no errors logged, no uncaught exceptions.
    assert_eq!(
        observed["consoleErrors"],
        serde_json::json!([]),
        "console errors: {show}"
    );
    assert_eq!(
        observed["pageErrors"],
        serde_json::json!([]),
        "page errors: {show}"
    );

    let screenshot = output_dir.join("seed-chat.png");
    assert_eq!(
        observed["screenshot"],
        screenshot.to_string_lossy().as_ref(),
        "{show}"
    );
    assert_png(&screenshot);
}

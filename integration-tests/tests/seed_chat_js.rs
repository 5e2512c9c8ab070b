//! The `seed-chat` example, driven by the official `socket.io-client` from Node.
//!
//! Each test starts its own `seed-chat` process on its own port, runs one scenario of
//! `integration-tests/js/scenario.mjs` against it and asserts on what the client observed.

use integration_tests::{SeedChat, run_scenario};
use serde_json::Value;

const SOCCER_GREETING: &str = "Hello soccer fans!";
const COMEDY_GREETING: &str = "Hello comedy fans!";

/// The string payloads of the `message` events a client received, in order.
fn messages(client: &Value) -> Vec<&str> {
    client["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no `messages` in {client:#}"))
        .iter()
        .map(|m| {
            m.as_str()
                .unwrap_or_else(|| panic!("a `message` payload is not a string: {m}"))
        })
        .collect()
}

/// Events other than `message` that a client received (there should be none).
fn other_events(client: &Value) -> Vec<&Value> {
    client["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no `events` in {client:#}"))
        .iter()
        .filter(|e| e["event"] != "message")
        .collect()
}

/// Asserts that an ack result is `{ error: { message: <non-empty>, code?: .. } }` and
/// returns the error object.
fn ack_error<'a>(result: &'a Value, case: &str) -> &'a Value {
    assert_ne!(result["ackTimeout"], true, "{case}: no ack: {result:#}");
    let error = &result["ack"]["error"];
    let message = error["message"].as_str().unwrap_or("");
    assert!(
        !message.is_empty(),
        "{case}: expected an ack {{ error: {{ message }} }}, got {result:#}"
    );
    error
}

/// Asserts that an ack result is a single `null`.
fn ack_ok(result: &Value, case: &str) {
    assert_eq!(
        result["ackArgs"],
        serde_json::json!([null]),
        "{case}: expected a null ack, got {result:#}"
    );
}

fn greetings_over(transports: &str) -> Value {
    let server = SeedChat::spawn(&[]);
    let observed = run_scenario(
        "greetings",
        &server.base_url(),
        &["--transports", transports],
    );
    let clients = observed["clients"].as_array().expect("two clients");
    assert_eq!(clients.len(), 2, "{observed:#}");
    assert_eq!(clients[0]["namespace"], "/sports");
    assert_eq!(messages(&clients[0]), [SOCCER_GREETING], "{observed:#}");
    assert_eq!(clients[1]["namespace"], "/movies");
    assert_eq!(messages(&clients[1]), [COMEDY_GREETING], "{observed:#}");
    for client in clients {
        assert_eq!(client["connected"], true, "{client:#}");
        assert!(other_events(client).is_empty(), "{client:#}");
    }
    assert_eq!(
        observed["sameConnection"], true,
        "multiplexed on one connection"
    );
    observed
}

#[test]
fn greetings_over_polling_only() {
    let observed = greetings_over("polling");
    assert_eq!(observed["initialTransport"], "polling");
    assert_eq!(observed["transport"], "polling", "{observed:#}");
}

#[test]
fn greetings_over_websocket_only() {
    let observed = greetings_over("websocket");
    assert_eq!(observed["initialTransport"], "websocket");
    assert_eq!(observed["transport"], "websocket", "{observed:#}");
}

#[test]
fn greetings_with_default_transports_end_on_websocket() {
    let observed = greetings_over("default");
    assert_eq!(observed["initialTransport"], "polling", "{observed:#}");
    assert_eq!(
        observed["transport"], "websocket",
        "the client should have upgraded: {observed:#}"
    );
    assert_eq!(
        observed["upgrades"],
        serde_json::json!([{ "kind": "upgrade", "transport": "websocket" }]),
        "{observed:#}"
    );
}

fn chat_reaches_every_member(transports: &str) {
    let server = SeedChat::spawn(&[]);
    let observed = run_scenario(
        "chat",
        &server.base_url(),
        &["--transports", transports, "--clients", "3"],
    );
    let first = observed["first"].as_str().expect("first message");
    let second = observed["second"].as_str().expect("second message");
    ack_ok(&observed["withAck"], "chat with an ack");

    let members = observed["members"].as_array().expect("members");
    assert_eq!(members.len(), 3, "{observed:#}");
    // member i was greeted once for itself and once per member who joined after it; then
    // both chat messages arrive, the sender's own included, in the order they were sent.
    for (i, member) in members.iter().enumerate() {
        let mut expected = vec![SOCCER_GREETING; members.len() - i];
        expected.extend([first, second]);
        assert_eq!(messages(member), expected, "member{i}: {observed:#}");
        assert!(other_events(member).is_empty(), "member{i}: {member:#}");
        assert_eq!(member["connected"], true);
    }
    // The /movies socket is in another namespace: it sees its own greeting and nothing else.
    assert_eq!(
        messages(&observed["outsider"]),
        [COMEDY_GREETING],
        "{observed:#}"
    );
}

#[test]
fn chat_reaches_every_member_including_sender() {
    chat_reaches_every_member("default");
}

#[test]
fn chat_reaches_every_member_over_polling() {
    chat_reaches_every_member("polling");
}

#[test]
fn namespaces_are_isolated_even_on_one_connection() {
    let server = SeedChat::spawn(&[]);
    let observed = run_scenario("isolation", &server.base_url(), &[]);
    assert_eq!(observed["sameConnection"], true);
    let to_main = observed["toMain"].as_str().expect("toMain");
    let to_other = observed["toOther"].as_str().expect("toOther");
    ack_ok(&observed["toMainAck"], "chat to soccer");
    ack_ok(&observed["toOtherAck"], "chat to comedy");

    let clients = &observed["clients"];
    // Multiplexed sockets joined first, so they also saw the greeting of the later socket.
    assert_eq!(
        messages(&clients["muxMain"]),
        [SOCCER_GREETING, SOCCER_GREETING, to_main],
        "{observed:#}"
    );
    assert_eq!(
        messages(&clients["muxOther"]),
        [COMEDY_GREETING, COMEDY_GREETING, to_other],
        "{observed:#}"
    );
    assert_eq!(
        messages(&clients["main"]),
        [SOCCER_GREETING, to_main],
        "{observed:#}"
    );
    assert_eq!(
        messages(&clients["other"]),
        [COMEDY_GREETING, to_other],
        "{observed:#}"
    );

    // Chatting to the other namespace's room is refused: not a member of it here.
    ack_error(&observed["crossMainAck"], "/sports chat to comedy");
    ack_error(&observed["crossOtherAck"], "/movies chat to soccer");
    assert_eq!(
        observed["eventsDuringCross"],
        serde_json::json!([0, 0, 0, 0]),
        "a refused chat must not reach anyone: {observed:#}"
    );
}

#[test]
fn unknown_namespace_is_refused_with_connect_error() {
    let server = SeedChat::spawn(&[]);
    let observed = run_scenario("unknown-namespace", &server.base_url(), &[]);
    assert_eq!(
        observed["connectError"]["message"], "Invalid namespace",
        "{observed:#}"
    );
    assert_eq!(observed["unknownConnected"], false);
    // A refused namespace is final: the client does not retry it.
    assert_eq!(observed["unknownActive"], false);
    assert!(messages(&observed["unknown"]).is_empty());
    // The connection the refused namespace shared still serves a valid one.
    assert_eq!(observed["afterwards"]["connected"], true);
    assert_eq!(messages(&observed["afterwards"]), [SOCCER_GREETING]);
}

#[test]
fn refused_and_malformed_events_get_error_acks_and_the_socket_keeps_working() {
    let server = SeedChat::spawn(&[]);
    let observed = run_scenario("ack-errors", &server.base_url(), &[]);
    let cases = &observed["cases"];

    for case in ["notMember", "otherNamespaceRoom"] {
        ack_error(&cases[case], case);
    }
    for case in [
        "string",
        "number",
        "array",
        "emptyObject",
        "missingMessage",
        "missingRoom",
        "wrongFieldType",
        "noPayload",
    ] {
        let error = ack_error(&cases[case], case);
        assert_eq!(
            error["code"], "invalid_payload",
            "{case}: {:#}",
            cases[case]
        );
    }
    let error = ack_error(&cases["unknownEvent"], "unknownEvent");
    assert_eq!(
        error["code"], "unknown_event",
        "{:#}",
        cases["unknownEvent"]
    );

    let all_cases = cases.as_object().expect("cases");
    assert_eq!(all_cases.len(), 11, "every case ran: {cases:#}");
    for (case, result) in all_cases {
        assert_eq!(
            result["stillConnected"], true,
            "{case} disconnected the socket"
        );
        assert_eq!(
            result["ackArgs"].as_array().map(Vec::len),
            Some(1),
            "{case}"
        );
    }

    // Nothing was broadcast by any of the refused events...
    assert_eq!(
        observed["senderMessagesBeforeValid"],
        serde_json::json!([SOCCER_GREETING, SOCCER_GREETING]),
        "{observed:#}"
    );
    assert_eq!(
        observed["bystanderMessagesBeforeValid"],
        serde_json::json!([SOCCER_GREETING]),
        "{observed:#}"
    );
    // ...and a valid chat afterwards works as usual.
    let valid = observed["valid"].as_str().expect("valid");
    ack_ok(&observed["validAck"], "valid chat after errors");
    assert_eq!(
        messages(&observed["sender"]),
        [SOCCER_GREETING, SOCCER_GREETING, valid]
    );
    assert_eq!(messages(&observed["bystander"]), [SOCCER_GREETING, valid]);
    assert!(other_events(&observed["sender"]).is_empty());
}

fn reconnects(extra_args: &[&str], disconnect_reason: &str) {
    let server = SeedChat::spawn(&[]);
    let observed = run_scenario("reconnect", &server.base_url(), extra_args);
    ack_ok(&observed["beforeAck"], "chat before the drop");
    ack_ok(&observed["afterAck"], "chat after the reconnect");
    let client = &observed["client"];
    assert_eq!(
        messages(client),
        [
            SOCCER_GREETING,
            "before the drop",
            SOCCER_GREETING,
            "after the reconnect"
        ],
        "{observed:#}"
    );
    let lifecycle: Vec<(&str, &str)> = client["lifecycle"]
        .as_array()
        .expect("lifecycle")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or(""),
                e["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        lifecycle,
        [
            ("connect", ""),
            ("disconnect", disconnect_reason),
            ("connect", "")
        ],
        "{observed:#}"
    );
    let ids = client["socketIds"].as_array().expect("socketIds");
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1], "a reconnect is a new socket");
    assert_eq!(
        observed["managerEvents"],
        serde_json::json!([
            { "event": "reconnect_attempt", "arg": 1 },
            { "event": "reconnect", "arg": 1 }
        ]),
        "{observed:#}"
    );
}

#[test]
fn client_reconnects_after_its_engine_is_closed() {
    reconnects(&[], "forced close");
}

#[test]
fn client_reconnects_after_the_websocket_drops() {
    reconnects(
        &["--transports", "websocket", "--how", "transport"],
        "transport close",
    );
}

#[test]
fn client_reconnects_after_a_polling_drop() {
    reconnects(
        &["--transports", "polling", "--how", "transport"],
        "transport close",
    );
}

#[test]
fn index_page_is_served_next_to_socket_io() {
    let server = SeedChat::spawn(&[]);
    let observed = run_scenario("http-get", &server.base_url(), &["--target", "/"]);
    assert_eq!(observed["status"], 200, "{observed:#}");
    let content_type = observed["contentType"].as_str().unwrap_or("");
    assert!(
        content_type.starts_with("text/html"),
        "content-type {content_type:?}"
    );
    let body = observed["body"].as_str().unwrap_or("");
    assert!(
        body.to_ascii_lowercase().contains("<html")
            || body.to_ascii_lowercase().contains("<!doctype html"),
        "not an HTML page: {body:?}"
    );
}

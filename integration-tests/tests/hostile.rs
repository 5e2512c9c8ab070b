//! Hostile and broken input, end to end: oversized payloads, malformed engine.io and
//! socket.io frames, binary attachments where JSON is expected, hundreds of namespaces and
//! thousands of rooms on one connection, handlers that never finish.
//!
//! In-process servers, driven by the official socket.io-client and by raw HTTP long-polling
//! and websocket sessions (`js/hostile.mjs`). Every case asserts what the hostile client sees
//! and that the server, and a well-behaved client next to it, keep working.
use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use integration_tests::{
    inprocess::{InProcess, run_probe},
    run_node_async,
};
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::{NamespaceDef, SwitchboardBuilder, adapter::DefinedAdapter, prelude::*};
use tower::timeout::TimeoutLayer;

/// Runs `node hostile.mjs <scenario> <base_url> <config>` and returns the JSON object it
/// printed last. Panics with its output when it fails, prints no JSON or hangs.
async fn hostile(scenario: &str, base_url: &str, config: Value) -> Value {
    let config = config.to_string();
    run_node_async(
        "hostile.mjs",
        &[scenario, base_url, &config],
        Duration::from_secs(120),
    )
    .await
}

#[derive(Debug, Deserialize)]
struct Chat {
    room: String,
    text: String,
}

/// The namespace every hostile client talks to.
struct Hostile;

#[switchboard::namespace("/h")]
impl Hostile {
    #[on("echo")]
    async fn echo(&self, Data(value): Data<Value>) -> Ack<Value> {
        Ack(value)
    }

    #[on("chat")]
    async fn chat(&self, Data(chat): Data<Chat>) -> Ack<String> {
        Ack(format!("{}: {}", chat.room, chat.text))
    }

    #[on("text")]
    async fn text(&self, Data(text): Data<String>) -> Ack<usize> {
        Ack(text.len())
    }

    #[on("pair")]
    async fn pair(&self, Data((name, n)): Data<(String, i64)>) -> Ack<String> {
        Ack(format!("{name}={n}"))
    }

    /// Joins a room the client names; acks how many rooms the socket is in.
    #[on("join")]
    async fn join<A: Adapter>(&self, socket: SocketRef<A>, Data(room): Data<String>) -> Ack<usize> {
        socket.join(room);
        Ack(socket.rooms().len())
    }

    #[on("rooms")]
    async fn rooms<A: Adapter>(&self, socket: SocketRef<A>) -> Ack<usize> {
        Ack(socket.rooms().len())
    }
}

/// Per-tenant namespaces, to multiplex into by the hundred.
struct Tenants;

#[switchboard::namespace("/tenant/{id}")]
impl Tenants {
    #[on("whoami")]
    async fn whoami(&self, params: NsParams) -> Ack<String> {
        Ack(params.get("id").unwrap_or_default().to_owned())
    }
}

async fn start<A: Adapter + DefinedAdapter>(builder: SwitchboardBuilder<A>) -> InProcess<A> {
    InProcess::start(builder.namespace(Hostile).namespace(Tenants))
        .await
        .expect("the server builds")
}

/// The server still answers a fresh, well-behaved client.
async fn assert_serving<A: Adapter>(server: &InProcess<A>) {
    let out = run_probe(
        &server.base_url(),
        json!({
            "clients": { "a": { "ns": "/h" } },
            "steps": [
                { "op": "connect", "client": "a" },
                { "op": "ack", "client": "a", "event": "echo", "args": ["still here"], "as": "echo" },
            ],
        }),
    )
    .await;
    assert_eq!(out["results"]["echo"], "still here", "{out}");
}

/// Resident memory of this process (the server runs in it), in kB.
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Waits (bounded) until `done()` holds; panics naming `what` after 20 s.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A raw `echo` EVENT on `/h` with ack id `ack_id` and a string of `fill` characters.
fn echo_frame(ack_id: u32, fill: usize) -> Value {
    json!({ "prefix": format!("42/h,{ack_id}[\"echo\",\""), "fill": fill, "suffix": "\"]" })
}

const SESSION_UNKNOWN: &str = r#"{"code":"1","message":"Session ID unknown"}"#;

/// A polling session the server dropped: the next request is refused with 400. (A binary
/// event still waiting for its attachments is dropped by the next packet, the echo, so there
/// the poll after it is refused.)
#[track_caller]
fn assert_session_gone(r: &Value) {
    assert_eq!(r["alive"], false, "{r}");
    let refused = if r["echo"]["status"] == 400 {
        &r["echo"]
    } else {
        &r["answer"]
    };
    assert_eq!(refused["status"], 400, "{r}");
    assert_eq!(refused["body"], SESSION_UNKNOWN, "{r}");
}

/// Whether the server answered a raw polling frame with a packet starting with `prefix`.
fn replied(r: &Value, prefix: &str) -> bool {
    r["reply"]["packets"].as_array().is_some_and(|packets| {
        packets
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.starts_with(prefix)))
    })
}

/// The bystander (an official client on `/h` for the whole run) answered every echo and was
/// never disconnected.
#[track_caller]
fn assert_bystander_untouched(o: &Value, frames: usize) {
    let acks = o["bystander"]["acks"].as_array().expect("bystander acks");
    assert_eq!(acks.len(), frames + 1, "{o}");
    assert!(acks.iter().all(|a| a == "ok"), "{o}");
    assert_eq!(o["bystander"]["disconnects"], json!([]), "{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_bodies_over_max_payload_get_413_and_lose_their_session() {
    let default = start(Switchboard::builder()).await;
    let url = default.base_url();
    // The default limit is 100 kB per POST body.
    let o = hostile(
        "raw-polling",
        &url,
        json!({ "frames": [echo_frame(2, 150_000), echo_frame(2, 50_000)] }),
    )
    .await;
    let over = &o["results"][0];
    assert_eq!(over["post"], json!({ "status": 413, "body": "" }), "{o}");
    assert_eq!(over["reply"]["status"], 400, "{o}");
    assert_session_gone(over);
    let under = &o["results"][1];
    assert_eq!(under["post"]["status"], 200, "{o}");
    assert!(replied(under, "43/h,2[\"aaaa"), "{o}");
    assert_eq!(under["alive"], true, "{o}");
    assert_bystander_untouched(&o, 2);

    // The official client: no ack, and the connection ends with `transport error`.
    let o = hostile(
        "oversized",
        &url,
        json!({ "transports": "polling", "bytes": 150_000 }),
    )
    .await;
    assert_eq!(o["ackTimeout"], true, "{o}");
    assert_eq!(o["disconnects"], json!(["transport error"]), "{o}");
    assert_eq!(o["freshAck"], json!({ "ack": "fresh" }), "{o}");

    // The limit is the builder's `max_payload`: a small one refuses what the default
    // accepts, a large one accepts what the default refuses.
    let small = start(Switchboard::builder().max_payload(1_000)).await;
    let large = start(Switchboard::builder().max_payload(1_000_000)).await;
    let o = hostile(
        "raw-polling",
        &small.base_url(),
        json!({ "frames": [echo_frame(2, 2_000), echo_frame(2, 900)] }),
    )
    .await;
    assert_eq!(o["results"][0]["post"]["status"], 413, "{o}");
    assert_session_gone(&o["results"][0]);
    assert_eq!(o["results"][1]["alive"], true, "{o}");
    let o = hostile(
        "oversized",
        &small.base_url(),
        json!({ "transports": "polling", "bytes": 2_000 }),
    )
    .await;
    assert_eq!(o["disconnects"], json!(["transport error"]), "{o}");
    let o = hostile(
        "raw-polling",
        &large.base_url(),
        json!({ "frames": [echo_frame(2, 150_000)] }),
    )
    .await;
    assert_eq!(o["results"][0]["post"]["status"], 200, "{o}");
    assert_eq!(o["results"][0]["alive"], true, "{o}");
    for server in [&default, &small, &large] {
        assert_serving(server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_messages_over_ws_max_message_size_close_the_connection() {
    let small = start(Switchboard::builder().ws_max_message_size(10_000)).await;
    let o = hostile(
        "raw-websocket",
        &small.base_url(),
        json!({ "frames": [echo_frame(2, 20_000), echo_frame(2, 5_000)] }),
    )
    .await;
    let over = &o["results"][0];
    assert_eq!(over["closed"], true, "{o}");
    assert_eq!(
        over["received"],
        json!([]),
        "no answer, no close packet: {o}"
    );
    // The connection is dropped without a close status (1005, or 1006 if the TCP connection
    // goes first).
    let code = over["closeCode"].as_u64().unwrap_or_default();
    assert!(code == 1005 || code == 1006, "{o}");
    eprintln!("websocket over ws_max_message_size: close code {code}");
    let under = &o["results"][1];
    assert_eq!(under["alive"], true, "{o}");
    assert_bystander_untouched(&o, 2);
    let o = hostile(
        "oversized",
        &small.base_url(),
        json!({ "transports": "websocket", "bytes": 20_000 }),
    )
    .await;
    assert_eq!(o["ackTimeout"], true, "{o}");
    assert_eq!(o["disconnects"], json!(["transport close"]), "{o}");
    assert_eq!(o["freshAck"], json!({ "ack": "fresh" }), "{o}");

    // `max_payload` does not apply to websocket messages: by default (64 MiB) a message far
    // over it is accepted.
    let default = start(Switchboard::builder()).await;
    let o = hostile(
        "oversized",
        &default.base_url(),
        json!({ "transports": "websocket", "bytes": 150_000 }),
    )
    .await;
    assert_eq!(o["ackLength"], 150_000, "{o}");
    assert_eq!(o["disconnects"], json!([]), "{o}");
    assert_serving(&small).await;
    assert_serving(&default).await;
}

/// What one malformed frame does to the hostile session.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// The frame is ignored (or answered) and the session goes on: a later echo is acked.
    Kept,
    /// The server ends the session: polling answers 400 `Session ID unknown` from then on,
    /// a websocket is closed.
    Closed,
}
use Outcome::{Closed, Kept};

struct Case {
    frame: String,
    /// HTTP status of the POST that carries the frame.
    post: u16,
    polling: Outcome,
    websocket: Outcome,
    /// A packet the server answers with, on both transports.
    reply: Option<&'static str>,
}

fn case(frame: impl Into<String>, post: u16, polling: Outcome, websocket: Outcome) -> Case {
    Case {
        frame: frame.into(),
        post,
        polling,
        websocket,
        reply: None,
    }
}

fn malformed_cases() -> Vec<Case> {
    let with_reply = |mut c: Case, reply| {
        c.reply = Some(reply);
        c
    };
    vec![
        // engine.io level
        case("", 200, Kept, Closed),
        case("garbage", 400, Closed, Closed),
        case("9", 400, Closed, Closed),
        case("0", 400, Closed, Closed),
        case("6", 400, Kept, Closed),
        case("1", 200, Closed, Closed),
        // socket.io level
        case("4", 200, Closed, Closed),
        case("4garbage", 200, Closed, Closed),
        case("49", 200, Closed, Closed),
        case(r#"42/h,["echo""#, 200, Closed, Closed),
        case(r#"42/h,{"not":"an array"}"#, 200, Closed, Closed),
        case("42/h,[]", 200, Closed, Closed),
        case("42/h,[42]", 200, Closed, Closed),
        case(r#"42/h,-1["echo","x"]"#, 200, Closed, Closed),
        case(r#"44/h,{"message":"x"}"#, 200, Closed, Closed),
        case("46/h,1[]", 200, Closed, Closed),
        case(
            r#"45/h,1-["echo",{"_placeholder":true,"num":0}]"#,
            200,
            Closed,
            Closed,
        ),
        // A binary event whose attachment never comes, followed by a text packet.
        case(
            r#"451-/h,["echo",{"_placeholder":true,"num":5}]"#,
            200,
            Closed,
            Closed,
        ),
        // Well-formed packets the server has nothing to do with: ignored.
        case(
            r#"42/h,99999999999999999999999["echo","x"]"#,
            200,
            Kept,
            Kept,
        ),
        case(r#"42/nope,7["echo","x"]"#, 200, Kept, Kept),
        case(r#"43/h,5["x"]"#, 200, Kept, Kept),
        with_reply(
            case(r#"42/h,9223372036854775807["echo","x"]"#, 200, Kept, Kept),
            r#"43/h,9223372036854775807["x"]"#,
        ),
        with_reply(
            case("40/nope,", 200, Kept, Kept),
            r#"44/nope,{"message":"Invalid namespace"}"#,
        ),
        with_reply(
            case(r#"42/h,3["chat",{"room":1}]"#, 200, Kept, Kept),
            r#"43/h,3[{"error":{"code":"invalid_payload""#,
        ),
        with_reply(
            case(
                format!(
                    "42/h,3[\"echo\",{}1{}]",
                    "[".repeat(10_000),
                    "]".repeat(10_000)
                ),
                200,
                Kept,
                Kept,
            ),
            r#"43/h,3[{"error":{"code":"invalid_payload""#,
        ),
        with_reply(
            case(
                format!("42/h,3[\"pair\",\"n\",{}1]", "1,".repeat(10_000)),
                200,
                Kept,
                Kept,
            ),
            r#"43/h,3[{"error":{"code":"invalid_payload""#,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_over_polling_end_only_their_own_session() {
    let server = start(Switchboard::builder()).await;
    let cases = malformed_cases();
    let frames: Vec<&str> = cases.iter().map(|c| c.frame.as_str()).collect();
    let o = hostile(
        "raw-polling",
        &server.base_url(),
        json!({ "frames": frames }),
    )
    .await;
    for (c, r) in cases.iter().zip(o["results"].as_array().expect("results")) {
        assert_eq!(r["post"]["status"], c.post, "{r}");
        match c.polling {
            Kept => assert_eq!(r["alive"], true, "{r}"),
            Closed => assert_session_gone(r),
        }
        if let Some(reply) = c.reply {
            assert!(replied(r, reply), "{r}");
        }
    }
    assert_bystander_untouched(&o, cases.len());
    assert_serving(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_over_websocket_end_only_their_own_connection() {
    let server = start(Switchboard::builder()).await;
    let mut cases = malformed_cases();
    // A binary message that no binary event announced.
    cases.push(case("", 200, Kept, Closed));
    let mut frames: Vec<Value> = cases.iter().map(|c| json!(c.frame)).collect();
    *frames.last_mut().expect("a frame") = json!({ "binary": "AAECAwQ=" });
    let o = hostile(
        "raw-websocket",
        &server.base_url(),
        json!({ "frames": frames }),
    )
    .await;
    for (c, r) in cases.iter().zip(o["results"].as_array().expect("results")) {
        match c.websocket {
            Kept => assert_eq!(r["alive"], true, "{r}"),
            Closed => {
                assert_eq!(r["closed"], true, "{r}");
                assert_eq!(r["alive"], false, "{r}");
            }
        }
        if let Some(reply) = c.reply {
            let received = r["received"].as_array().expect("received");
            assert!(
                received
                    .iter()
                    .any(|m| m.as_str().unwrap_or_default().starts_with(reply)),
                "{r}"
            );
        }
    }
    assert_bystander_untouched(&o, cases.len());
    assert_serving(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_attachments_where_json_is_expected_are_refused_with_invalid_payload() {
    let server = start(Switchboard::builder()).await;
    let bytes = json!({ "$bytes": 16 });
    let o = hostile(
        "binary",
        &server.base_url(),
        json!({ "calls": [
            { "event": "chat", "args": [bytes] },
            { "event": "chat", "args": [{ "room": bytes, "text": "x" }] },
            { "event": "text", "args": [bytes] },
            { "event": "pair", "args": ["x", bytes] },
            { "event": "echo", "args": [bytes] },
            { "event": "chat", "args": [{ "room": "r", "text": "ok" }] },
        ] }),
    )
    .await;
    let results = o["results"].as_array().expect("results");
    for (i, event) in ["chat", "chat", "text", "pair", "echo"].iter().enumerate() {
        let error = &results[i]["ack"]["error"];
        assert_eq!(error["code"], "invalid_payload", "{o}");
        let message = error["message"].as_str().expect("a message");
        assert!(
            message.starts_with(&format!("invalid payload for event `{event}`: ")),
            "{o}"
        );
    }
    // A `serde_json::Value` is not a byte array either.
    assert!(
        results[4]["ack"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid type: byte array"),
        "{o}"
    );
    // Refused, not disconnected: the same socket goes on.
    assert_eq!(results[5]["ack"], "r: ok", "{o}");
    assert_eq!(o["disconnects"], json!([]), "{o}");
    assert_eq!(o["connected"], true, "{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_namespaces_on_one_connection() {
    const VALID: usize = 300;
    const INVALID: usize = 300;
    let server = start(Switchboard::builder()).await;
    let url = server.base_url();
    let rss_before = rss_kb();
    let started = Instant::now();
    let driver = tokio::spawn({
        let url = url.clone();
        async move {
            hostile(
                "many-namespaces",
                &url,
                json!({
                    "count": VALID, "invalid": INVALID, "prefix": "/tenant/",
                    "invalidPrefix": "/nope/", "timeoutMs": 20_000, "holdMs": 1_500,
                }),
            )
            .await
        }
    });
    let tenant_sockets = |io: &switchboard::socketioxide::SocketIo<_>| -> usize {
        io.nsps()
            .into_iter()
            .map(|ns| ns.sockets().len())
            .sum::<usize>()
    };
    eventually("every tenant socket to connect", || {
        tenant_sockets(server.io()) == VALID
    })
    .await;
    let rss_connected = rss_kb();
    let namespaces = server.io().nsps().len();
    let o = driver.await.expect("the driver task");
    assert_eq!(o["valid"], json!({ "connected": VALID }), "{o}");
    assert_eq!(o["invalid"], json!({ "Invalid namespace": INVALID }), "{o}");
    assert_eq!(
        o["whoamiOk"], VALID,
        "every socket is in its own tenant: {o}"
    );
    assert_eq!(
        o["engineOpen"], true,
        "the refusals left the connection up: {o}"
    );
    eventually("every tenant socket to leave", || {
        tenant_sockets(server.io()) == 0
    })
    .await;
    // socketioxide keeps a dynamic namespace once created, with no socket left in it.
    let retained = server.io().nsps().len();
    assert_eq!(namespaces, VALID + 1, "`/h` and one per tenant");
    assert_eq!(retained, VALID + 1, "dynamic namespaces are kept");
    eprintln!(
        "{VALID} dynamic + {INVALID} invalid namespaces on one connection: connected in {} ms, \
         {VALID} acks in {} ms, whole run {} ms; RSS {rss_before} kB -> {rss_connected} kB while \
         connected, {} kB after; {retained} namespaces kept after the sockets left",
        o["connectMs"],
        o["ackMs"],
        started.elapsed().as_millis(),
        rss_kb()
    );
    assert_serving(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_rooms_on_one_socket() {
    const ROOMS: usize = 5_000;
    let server = start(Switchboard::builder()).await;
    let url = server.base_url();
    let rss_before = rss_kb();
    let driver = tokio::spawn({
        let url = url.clone();
        async move {
            hostile(
                "many-rooms",
                &url,
                json!({ "count": ROOMS, "batch": 100, "timeoutMs": 20_000, "holdMs": 1_000 }),
            )
            .await
        }
    });
    let ns = server.io().of("/h").expect("the namespace");
    let deadline = Instant::now() + Duration::from_secs(60);
    while ns.clone().rooms().await.expect("rooms").len() < ROOMS {
        assert!(Instant::now() < deadline, "the rooms were never all joined");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rss_joined = rss_kb();
    let o = driver.await.expect("the driver task");
    assert_eq!(o["failed"], 0, "{o}");
    assert_eq!(
        o["last"], ROOMS,
        "the socket is in exactly the rooms it joined: {o}"
    );
    assert_eq!(o["rooms"], json!({ "ack": ROOMS }), "{o}");
    assert_eq!(o["disconnects"], json!([]), "{o}");
    // Leaving the namespace leaves every room: nothing is kept.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ns.clone().rooms().await.expect("rooms").is_empty() {
        assert!(
            Instant::now() < deadline,
            "rooms outlived their only socket"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "{ROOMS} rooms joined by one socket in {} ms ({} acks in flight at a time); RSS \
         {rss_before} kB -> {rss_joined} kB while joined, {} kB after",
        o["joinMs"],
        100,
        rss_kb()
    );
    assert_serving(&server).await;
}

/// Counts handler futures alive: incremented when one starts, decremented when it is dropped
/// (finished or cancelled).
#[derive(Clone, Default)]
struct InFlight(Arc<AtomicUsize>);

struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl InFlight {
    fn now(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// A handler that never finishes.
    fn stuck(
        &self,
    ) -> impl FnOnce() -> Pin<Box<dyn Future<Output = Ack<&'static str>> + Send>>
    + Clone
    + Send
    + Sync
    + 'static {
        let count = self.0.clone();
        move || {
            Box::pin(async move {
                count.fetch_add(1, Ordering::SeqCst);
                let _running = Running(count);
                std::future::pending::<()>().await;
                Ack("never")
            })
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_never_finishes_blocks_neither_its_socket_nor_others() {
    let in_flight = InFlight::default();
    let ns = NamespaceDef::new("/stuck")
        .on("hang", in_flight.stuck())
        .on("echo", async |Data(v): Data<Value>| Ack(v));
    let server = InProcess::start(Switchboard::builder().namespace(ns))
        .await
        .expect("the server builds");
    let out = run_probe(
        &server.base_url(),
        json!({
            "clients": { "a": { "ns": "/stuck" }, "b": { "ns": "/stuck" } },
            "steps": [
                { "op": "connect", "client": "a" },
                { "op": "connect", "client": "b" },
                { "op": "emit", "client": "a", "event": "hang" },
                { "op": "emit", "client": "a", "event": "hang" },
                { "op": "ack", "client": "a", "event": "echo", "args": [1], "as": "same" },
                { "op": "ack", "client": "b", "event": "echo", "args": [2], "as": "other" },
            ],
        }),
    )
    .await;
    assert_eq!(out["results"]["same"], 1, "{out}");
    assert_eq!(out["results"]["other"], 2, "{out}");
    assert_eq!(in_flight.now(), 2, "both stuck handlers are running");
    // The clients have closed. switchboard does not cancel a running handler when its socket
    // leaves: without a deadline (a `TimeoutLayer`), a handler that never finishes stays.
    let sockets = || server.io().of("/stuck").expect("namespace").sockets().len();
    eventually("the sockets to leave", || sockets() == 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(in_flight.now(), 2, "handlers outlive their socket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_timeout_layer_a_stuck_handler_is_acked_timeout_and_dropped() {
    let in_flight = InFlight::default();
    let ns = NamespaceDef::new("/deadline")
        .layer(TimeoutLayer::new(Duration::from_millis(300)))
        .on("hang", in_flight.stuck())
        .on("echo", async |Data(v): Data<Value>| Ack(v));
    let server = InProcess::start(Switchboard::builder().namespace(ns))
        .await
        .expect("the server builds");
    let out = run_probe(
        &server.base_url(),
        json!({
            "clients": { "a": { "ns": "/deadline" }, "b": { "ns": "/deadline" } },
            "steps": [
                { "op": "connect", "client": "a" },
                { "op": "connect", "client": "b" },
                { "op": "emit", "client": "b", "event": "hang" },
                { "op": "ack", "client": "a", "event": "hang", "as": "hang" },
                { "op": "ack", "client": "a", "event": "echo", "args": [1], "as": "same" },
                { "op": "emit", "client": "b", "event": "hang" },
                { "op": "close", "client": "b" },
            ],
        }),
    )
    .await;
    assert_eq!(
        out["results"]["hang"],
        json!({ "error": { "code": "timeout", "message": "the handler for event `hang` took too long" } }),
        "{out}"
    );
    assert_eq!(out["results"]["same"], 1, "{out}");
    // The last `hang` was sent by a client that disconnected at once: the deadline still
    // drops it, so nothing is left running.
    eventually("every stuck handler to be dropped", || in_flight.now() == 0).await;
}

//! The namespace API end to end: in-process servers built with `#[namespace]` and
//! `NamespaceDef`, driven by the official socket.io-client.
use std::time::Duration;

use integration_tests::inprocess::{InProcess, run_probe};
use serde_json::{Value, json};
use switchboard::prelude::*;
use switchboard::{AckError, NamespaceDef};

/// A connect hook that takes its time, and an event the client sends the instant it connects.
struct Slow;

#[switchboard::namespace("/slow")]
impl Slow {
    #[on_connect]
    async fn welcome<A: Adapter>(&self, socket: SocketRef<A>) {
        tokio::time::sleep(Duration::from_millis(800)).await;
        socket.emit("ready", &()).ok();
    }

    #[on("echo")]
    async fn echo(&self, Data(v): Data<Value>) -> Ack<Value> {
        Ack(v)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_sent_right_after_connecting_reach_their_handler() {
    let server = InProcess::start(Switchboard::builder().namespace(Slow))
        .await
        .unwrap();
    let out = run_probe(
        &server.base_url(),
        json!({
            "clients": { "a": { "ns": "/slow" } },
            "steps": [
                { "op": "connect", "client": "a" },
                { "op": "ack", "client": "a", "event": "echo", "args": [1], "as": "first" },
                { "op": "ack", "client": "a", "event": "echo", "args": [{"x": 2}], "as": "second" },
                { "op": "wait", "client": "a", "event": "ready" },
            ],
        }),
    )
    .await;
    assert_eq!(out["connect"]["a"]["ok"], true);
    assert_eq!(out["results"]["first"], 1);
    assert_eq!(out["results"]["second"], json!({"x": 2}));
    // The acks came while the hook was still sleeping: handlers did not wait for it.
    let ready_at = out["events"]["a"][0]["at"].as_u64().unwrap();
    assert!(out["times"]["first"].as_u64().unwrap() < 500, "{out}");
    assert!(ready_at >= 700, "{out}");
}

/// Per-tenant namespaces: one pattern, one namespace per matching path.
struct Tenants;

#[switchboard::namespace("/tenant/{id}")]
impl Tenants {
    #[on_connect]
    async fn welcome<A: Adapter>(&self, socket: SocketRef<A>, params: NsParams) {
        socket.join("all");
        let id = params.get("id").unwrap_or_default().to_owned();
        socket.emit("welcome", &id).ok();
    }

    #[on("whoami")]
    async fn whoami(&self, params: NsParams) -> Ack<String> {
        Ack(params.get("id").unwrap_or_default().to_owned())
    }

    #[on("shout")]
    async fn shout<A: Adapter>(
        &self,
        socket: SocketRef<A>,
        Data(text): Data<String>,
    ) -> Result<(), String> {
        socket
            .within("all")
            .emit("shout", &text)
            .await
            .map_err(|e| e.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_namespaces_expose_their_parameters_and_keep_rooms_apart() {
    let server = InProcess::start(Switchboard::builder().namespace(Tenants))
        .await
        .unwrap();
    let out = run_probe(
        &server.base_url(),
        json!({
            "clients": {
                "acme": { "ns": "/tenant/acme" },
                "acme2": { "ns": "/tenant/acme" },
                "globex": { "ns": "/tenant/globex" },
            },
            "steps": [
                { "op": "connect", "client": "acme" },
                { "op": "connect", "client": "acme2" },
                { "op": "connect", "client": "globex" },
                { "op": "wait", "client": "globex", "event": "welcome" },
                { "op": "ack", "client": "globex", "event": "whoami", "as": "globex_id" },
                { "op": "ack", "client": "acme", "event": "shout", "args": ["hi acme"], "as": "shout" },
                { "op": "wait", "client": "acme2", "event": "shout" },
                { "op": "sleep", "ms": 200 },
            ],
        }),
    )
    .await;
    assert_eq!(out["results"]["globex_id"], "globex");
    assert_eq!(out["results"]["shout"], Value::Null);
    let names = |label: &str, event: &str| -> Vec<Value> {
        out["events"][label]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == event)
            .map(|e| e["args"][0].clone())
            .collect()
    };
    assert_eq!(names("acme", "welcome"), vec![json!("acme")]);
    assert_eq!(names("globex", "welcome"), vec![json!("globex")]);
    assert_eq!(names("acme", "shout"), vec![json!("hi acme")]);
    assert_eq!(names("acme2", "shout"), vec![json!("hi acme")]);
    assert!(
        names("globex", "shout").is_empty(),
        "a shout crossed tenants: {out}"
    );
}

/// Every kind of return value, the catch-all, and a handler that panics.
struct Acks;

#[derive(Debug, thiserror::Error)]
#[error("the answer is not {0}")]
struct Wrong(i64);

#[switchboard::namespace("/acks")]
impl Acks {
    #[on("check")]
    async fn check(&self, Data(n): Data<i64>) -> Result<&'static str, Wrong> {
        if n == 42 { Ok("right") } else { Err(Wrong(n)) }
    }

    #[on("coded")]
    async fn coded(&self) -> Result<(), AckError> {
        Err(AckError::new("no_luck", "try again tomorrow"))
    }

    #[on("boom")]
    async fn boom(&self) -> Ack<u8> {
        panic!("handler failure on purpose")
    }

    #[on("slow")]
    async fn slow(&self) -> Ack<&'static str> {
        tokio::time::sleep(Duration::from_millis(800)).await;
        Ack("done")
    }

    #[on_any]
    async fn other(&self, Event(name): Event) -> Ack<String> {
        Ack(format!("caught {name}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_values_become_acks_and_panics_are_contained() {
    let server = InProcess::start(Switchboard::builder().namespace(Acks))
        .await
        .unwrap();
    let out = run_probe(
        &server.base_url(),
        json!({
            "clients": { "a": { "ns": "/acks" } },
            "steps": [
                { "op": "connect", "client": "a" },
                { "op": "ack", "client": "a", "event": "check", "args": [42], "as": "ok" },
                { "op": "ack", "client": "a", "event": "check", "args": [7], "as": "err" },
                { "op": "ack", "client": "a", "event": "check", "args": ["x"], "as": "bad" },
                { "op": "ack", "client": "a", "event": "coded", "as": "coded" },
                { "op": "ack", "client": "a", "event": "boom", "as": "boom" },
                { "op": "ack", "client": "a", "event": "whatever", "as": "any" },
                { "op": "ack", "client": "a", "event": "check", "args": [42], "as": "after" },
            ],
        }),
    )
    .await;
    let r = &out["results"];
    assert_eq!(r["ok"], "right");
    assert_eq!(
        r["err"],
        json!({ "error": { "message": "the answer is not 7" } })
    );
    assert_eq!(r["bad"]["error"]["code"], "invalid_payload");
    assert!(
        r["bad"]["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid payload for event `check`")
    );
    assert_eq!(
        r["coded"],
        json!({ "error": { "message": "try again tomorrow", "code": "no_luck" } })
    );
    assert_eq!(r["boom"]["error"]["code"], "internal_error");
    assert_eq!(r["any"], "caught whatever");
    assert_eq!(
        r["after"], "right",
        "the socket keeps working after a panic"
    );
    assert_eq!(out["disconnects"]["a"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_macro_free_builder_and_state_extractor_work_alike() {
    #[derive(Clone)]
    struct Motd(&'static str);
    let ns = NamespaceDef::new("/plain")
        .on_connect(async |socket: SocketRef, State(motd): State<Motd>| {
            socket.emit("motd", motd.0).ok();
        })
        // Several arguments (`emit("add", 2, 3)`) deserialize into a tuple.
        .on("add", async |Data((a, b)): Data<(i64, i64)>| Ack(a + b));
    let server = InProcess::start(
        Switchboard::builder()
            .with_state(Motd("hello"))
            .namespace(ns),
    )
    .await
    .unwrap();
    let out = run_probe(
        &server.base_url(),
        json!({
            "clients": { "a": { "ns": "/plain" } },
            "steps": [
                { "op": "connect", "client": "a" },
                { "op": "wait", "client": "a", "event": "motd" },
                { "op": "ack", "client": "a", "event": "add", "args": [2, 3], "as": "sum" },
            ],
        }),
    )
    .await;
    assert_eq!(out["events"]["a"][0]["args"][0], "hello");
    assert_eq!(out["results"]["sum"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_lets_running_handlers_ack_then_disconnects_every_socket() {
    let server = InProcess::start(Switchboard::builder().namespace(Acks))
        .await
        .unwrap();
    let url = server.base_url();
    let probe = tokio::spawn(async move {
        run_probe(
            &url,
            json!({
                "clients": {
                    "a": { "ns": "/acks", "transports": ["websocket"] },
                    "b": { "ns": "/acks", "transports": ["polling"] },
                },
                "steps": [
                    { "op": "connect", "client": "a" },
                    { "op": "connect", "client": "b" },
                    // In flight (800 ms) when the shutdown starts.
                    { "op": "ack", "client": "a", "event": "slow" },
                    { "op": "waitDisconnect", "client": "a" },
                    { "op": "waitDisconnect", "client": "b" },
                ],
            }),
        )
        .await
    });
    // Wait (bounded) until both clients are connected, then until the slow handler runs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let sockets = server
            .io()
            .of("/acks")
            .unwrap()
            .fetch_sockets()
            .await
            .unwrap();
        if sockets.len() == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the clients should connect before shutdown"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addr = server.addr();
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), server.stop())
        .await
        .expect("shutdown within the grace period")
        .expect("server stops cleanly");
    let took = started.elapsed();
    let out = probe.await.unwrap();
    assert_eq!(out["results"]["slow"], json!("done"), "{out}");
    assert_eq!(
        out["disconnects"]["a"],
        json!(["io server disconnect"]),
        "{out}"
    );
    assert_eq!(
        out["disconnects"]["b"],
        json!(["io server disconnect"]),
        "{out}"
    );
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    // No longer accepting.
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener should be closed after shutdown"
    );
}

/// Sends more messages to one socket, from its connect hook, than a connection queue holds.
struct Counter;

#[switchboard::namespace("/count")]
impl Counter {
    #[on_connect]
    async fn count(&self, socket: SocketRef) {
        for n in 0..3000u32 {
            switchboard::delivery::emit_to(&socket, "n", &n).expect("the socket is connected");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_to_one_socket_loses_nothing_past_the_queue() {
    let server = InProcess::start(Switchboard::builder().namespace(Counter))
        .await
        .unwrap();
    let out = run_probe(
        &server.base_url(),
        json!({
            "clients": { "a": { "ns": "/count", "transports": ["websocket"] } },
            "steps": [
                { "op": "connect", "client": "a" },
                { "op": "wait", "client": "a", "event": "n", "count": 3000 },
            ],
        }),
    )
    .await;
    let received: Vec<u64> = out["events"]["a"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["event"] == "n")
        .map(|e| e["args"][0].as_u64().expect("a number"))
        .collect();
    assert_eq!(
        received,
        (0..3000).collect::<Vec<u64>>(),
        "in order, each once"
    );
}

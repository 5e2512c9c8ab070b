//! The delivery guarantee seen by the official client: acknowledgements, direct emits and
//! broadcasts to one socket keep one order behind a backlog, on both runtime flavours; the
//! server-wide backlog budget cuts the clients that stopped reading, not the one that reads.
use integration_tests::inprocess::{InProcess, run_probe};
use serde_json::{Value, json};
use switchboard::delivery::emit_to;
use switchboard::prelude::*;
use switchboard::{DeliveryConfig, Switchboard};

/// Answers `fill(n)` with `n` direct emits, a room broadcast, one more direct emit, then the
/// acknowledgement: far more than a connection queue may hold, so most of it waits in the
/// socket's backlog.
struct Order;

#[switchboard::namespace("/order")]
impl Order {
    #[on_connect]
    async fn join(&self, socket: SocketRef) {
        socket.join("room");
    }

    #[on("fill")]
    async fn fill(&self, socket: SocketRef, Data(n): Data<u32>) -> Ack<&'static str> {
        for i in 0..n {
            emit_to(&socket, "n", &i).expect("the socket is connected");
        }
        socket
            .within("room")
            .emit("broadcast", "to the room")
            .await
            .expect("the broadcast is taken");
        emit_to(&socket, "after", "direct").expect("the socket is connected");
        Ack("done")
    }
}

/// The events of `client` in `out`, as (name, first argument).
fn events(out: &Value, client: &str) -> Vec<(String, Value)> {
    out["events"][client]
        .as_array()
        .expect("the client's events")
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().to_owned(),
                e["args"][0].clone(),
            )
        })
        .collect()
}

async fn ack_and_emits_keep_one_order() {
    const N: u32 = 3000;
    let server = InProcess::start(Switchboard::builder().namespace(Order))
        .await
        .expect("the server starts");
    let out = run_probe(
        &server.base_url(),
        json!({
            "clients": { "a": { "ns": "/order", "transports": ["websocket"] } },
            "steps": [
                { "op": "connect", "client": "a" },
                // Not reading: the server has to keep what it sends in the socket's backlog.
                { "op": "pause", "client": "a" },
                { "op": "ackLater", "client": "a", "event": "fill", "args": [N], "as": "fill" },
                { "op": "sleep", "ms": 300 },
                { "op": "resume", "client": "a" },
                { "op": "wait", "client": "a", "event": "ack:fill" },
            ],
            "timeoutMs": 15000,
        }),
    )
    .await;
    let seen = events(&out, "a");
    let mut expected: Vec<(String, Value)> = (0..N).map(|i| ("n".to_owned(), json!(i))).collect();
    expected.push(("broadcast".to_owned(), json!("to the room")));
    expected.push(("after".to_owned(), json!("direct")));
    expected.push(("ack:fill".to_owned(), json!("done")));
    assert_eq!(
        seen.len(),
        expected.len(),
        "events: {:?}",
        &seen[seen.len().saturating_sub(5)..]
    );
    for (i, (got, want)) in seen.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "event {i} out of order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_and_emits_keep_one_order_behind_a_backlog_multi_thread() {
    ack_and_emits_keep_one_order().await;
}

#[tokio::test(flavor = "current_thread")]
async fn ack_and_emits_keep_one_order_behind_a_backlog_current_thread() {
    ack_and_emits_keep_one_order().await;
}

/// Relays `chat(i)` to the rest of its room as a message of 1 KiB.
struct Flood;

#[switchboard::namespace("/flood")]
impl Flood {
    #[on_connect]
    async fn join(&self, socket: SocketRef) {
        socket.join("room");
    }

    #[on("chat")]
    async fn chat(&self, socket: SocketRef, Data(i): Data<u32>) {
        let message = format!("{i:06}:{}", "x".repeat(1000));
        socket
            .to("room")
            .emit("m", &message)
            .await
            .expect("the broadcast is taken");
    }
}

/// The budget scenarios load both cores: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The number at the start of a `m` message.
fn index(arg: &Value) -> Option<u32> {
    arg.as_str()?.split(':').next()?.parse().ok()
}

async fn the_budget_cuts_the_stalest_backlogs(flavor: &str) {
    const N: u32 = 30_000;
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    // The budget, not the bound of one socket, is what cuts here.
    let config = DeliveryConfig {
        max_total_backlog_bytes: 8 << 20,
        max_backlog_bytes: 64 << 20,
        ..DeliveryConfig::default()
    };
    let server = InProcess::start(Switchboard::builder().delivery(config).namespace(Flood))
        .await
        .expect("the server starts");
    let client = json!({ "ns": "/flood", "transports": ["websocket"] });
    let out = run_probe(
        &server.base_url(),
        json!({
            "clients": { "a": client, "b": client, "reader": client, "sender": client },
            "steps": [
                { "op": "connect", "client": "a" },
                { "op": "connect", "client": "b" },
                { "op": "connect", "client": "reader" },
                { "op": "connect", "client": "sender" },
                { "op": "pause", "client": "a" },
                { "op": "pause", "client": "b" },
                // About 25 000 chats a second: the reader keeps up.
                { "op": "emitMany", "client": "sender", "event": "chat", "count": N, "pauseMs": 2 },
                { "op": "wait", "client": "reader", "event": "m", "count": N },
                { "op": "resume", "client": "a" },
                { "op": "resume", "client": "b" },
                { "op": "waitDisconnect", "client": "a" },
                { "op": "waitDisconnect", "client": "b" },
            ],
            "timeoutMs": 30000,
            "brief": true,
        }),
    )
    .await;
    // The reader keeps up and gets everything.
    let reader: Vec<u32> = events(&out, "reader")
        .iter()
        .filter(|(e, _)| e == "m")
        .filter_map(|(_, a)| index(a))
        .collect();
    assert_eq!(
        reader,
        (0..N).collect::<Vec<_>>(),
        "{flavor}: the reader's messages"
    );
    // Each client that stopped reading (its backlog never moved, so it is cut before the
    // reader's) gets an unbroken prefix, the notice naming the budget, and the disconnection.
    for label in ["a", "b"] {
        let seen = events(&out, label);
        let prefix: Vec<u32> = seen
            .iter()
            .take_while(|(e, _)| e == "m")
            .filter_map(|(_, a)| index(a))
            .collect();
        assert_eq!(
            prefix,
            (0..prefix.len() as u32).collect::<Vec<_>>(),
            "{flavor}: {label}'s prefix"
        );
        assert!(
            (prefix.len() as u32) < N,
            "{flavor}: {label} got everything"
        );
        let rest = &seen[prefix.len()..];
        assert_eq!(
            rest.len(),
            1,
            "{flavor}: {label} after its prefix: {rest:?}"
        );
        assert_eq!(rest[0].0, "switchboard:slow_consumer", "{flavor}: {label}");
        assert_eq!(
            rest[0].1["cause"], "memory_budget",
            "{flavor}: {label}: {:?}",
            rest[0].1
        );
        // What it missed until the notice was sent; what came after is counted by the server.
        let dropped = rest[0].1["dropped"].as_u64().unwrap_or_default();
        assert!(
            dropped > 0 && prefix.len() as u64 + dropped <= u64::from(N),
            "{flavor}: {label}: the notice counts what it missed ({dropped}, after {} received)",
            prefix.len()
        );
        assert_eq!(
            out["disconnects"][label],
            json!(["io server disconnect"]),
            "{flavor}: {label}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_cuts_the_stalest_backlogs_multi_thread() {
    the_budget_cuts_the_stalest_backlogs("multi-thread").await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_budget_cuts_the_stalest_backlogs_current_thread() {
    the_budget_cuts_the_stalest_backlogs("current-thread").await;
}

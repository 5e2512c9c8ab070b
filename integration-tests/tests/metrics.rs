//! switchboard's metrics, end to end.
//!
//! - The `prometheus-example` binary (`examples/prometheus`) is driven by the official
//!   socket.io-client (`js/metrics.mjs`) and its `GET /metrics` is read while the clients are
//!   connected and after they left: every count is exact, and a client-chosen event name never
//!   becomes a label.
//! - In-process servers with a `DebuggingRecorder` (installed for this whole test binary; the
//!   example runs in its own process with its own recorder) check the connections gauge on the
//!   paths no client starts: an abuse disconnect and the server's shutdown.
use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::TcpStream,
    sync::{Mutex, OnceLock},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use integration_tests::{
    SeedChat, inprocess::InProcess, inprocess::run_probe, package_binary, run_script,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::{Value, json};
use switchboard::{
    Ack, NamespaceDef, Switchboard,
    metrics::{CONNECTIONS, CONNECTS_TOTAL},
};
use tower::ServiceBuilder;

const TOKEN: &str = "metrics-secret";

/// One series of a Prometheus text exposition: its name and its labels, sorted.
type Series = (String, Vec<(String, String)>);

/// Parses the text format into series → value (comments and blank lines skipped). Enough for
/// the label values switchboard writes (no commas, quotes or escapes inside them).
fn parse_exposition(text: &str) -> BTreeMap<Series, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample line: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|e| panic!("bad value in {line:?}: {e}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').expect("labels end with }");
                let mut labels: Vec<(String, String)> = rest
                    .split(',')
                    .filter(|l| !l.is_empty())
                    .map(|l| {
                        let (k, v) = l.split_once('=').expect("label=value");
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                labels.sort();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), Vec::new()),
        };
        out.insert((name, labels), value);
    }
    out
}

/// The value of series `name{labels}`, or `None` when the exposition does not have it.
fn sample(metrics: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    metrics.get(&(name.to_owned(), labels)).copied()
}

/// `GET <path>` on 127.0.0.1:`port`: the body of a 200 response.
fn http_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the example");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {response:?}"));
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    body.to_owned()
}

fn random_event_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("made-up-{}-{nanos}", std::process::id())
}

#[test]
fn the_prometheus_example_counts_what_three_clients_did() {
    let server = SeedChat::spawn_binary(
        &package_binary("prometheus-example"),
        &[("CHAT_TOKEN", TOKEN), ("RUST_LOG", "info")],
    );
    let random = random_event_name();
    let auth = json!({ "token": TOKEN }).to_string();
    let o = run_script(
        "metrics.mjs",
        "drive",
        &server.base_url(),
        &[
            "--clients",
            "3",
            "--auth",
            &auth,
            "--unknown",
            "nope",
            "--random",
            &random,
            "--refused",
            "2",
        ],
    );
    // What the clients saw, so that the counts below are about what they think they are.
    assert_eq!(o["status"], 200, "{o}");
    assert_eq!(o["connected"], json!([true, true, true]), "{o}");
    assert_eq!(o["chatAck"]["ack"], Value::Null, "{o}");
    assert_eq!(
        o["unknownAck"]["ack"]["error"]["code"], "unknown_event",
        "{o}"
    );
    assert_eq!(
        o["randomAck"]["ack"]["error"]["code"], "unknown_event",
        "{o}"
    );
    for refusal in o["refusals"].as_array().expect("refusals") {
        assert_eq!(refusal["connected"], false, "{o}");
        assert!(
            refusal["message"]
                .as_str()
                .is_some_and(|m| m.contains("HTTP 401")),
            "{o}"
        );
    }
    assert_eq!(o["refusals"].as_array().map(Vec::len), Some(2), "{o}");

    let text = o["metrics"].as_str().expect("the exposition text");
    let m = parse_exposition(text);
    let ns = ("ns", "/sports");
    let get = |name: &str, labels: &[(&str, &str)]| sample(&m, name, labels);
    assert_eq!(
        get("switchboard_connects_total", &[ns]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(get("switchboard_connections", &[ns]), Some(3.0), "{text}");
    assert_eq!(
        get(
            "switchboard_events_received_total",
            &[ns, ("event", "chat")]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        get(
            "switchboard_events_received_total",
            &[ns, ("event", "<unknown>")]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        get(
            "switchboard_events_refused_total",
            &[ns, ("reason", "unknown_event")]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        get(
            "switchboard_connect_refusals_total",
            &[ns, ("reason", "guard"), ("status", "401")]
        ),
        Some(2.0),
        "{text}"
    );
    for reason in ["guard_failed", "guard_timeout"] {
        assert_eq!(
            get(
                "switchboard_connect_refusals_total",
                &[ns, ("reason", reason)]
            ),
            Some(0.0),
            "{text}"
        );
    }
    // The bounded-label rule: the name a client made up is counted as `<unknown>`, and
    // appears nowhere in the exposition.
    assert!(!text.contains(&random), "{random} became a label:\n{text}");
    assert!(!text.contains("\"nope\""), "{text}");

    // The script has ended: its clients are gone, and so is every connection on the gauge.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = http_get(server.port(), "/metrics");
        let m = parse_exposition(&text);
        if sample(&m, "switchboard_connections", &[ns]) == Some(0.0) {
            assert_eq!(
                sample(&m, "switchboard_connects_total", &[ns]),
                Some(3.0),
                "{text}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the connections gauge did not return to 0:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The recorder of the in-process tests, installed once for this test binary.
fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::set_global_recorder(recorder).expect("no other recorder in this test binary");
        snapshotter
    })
}

/// The current value of gauge or counter `name{ns}`. A debugging snapshot hands out what
/// changed since the previous one, so the totals are kept here.
fn value(name: &str, ns: &str) -> f64 {
    static TOTALS: Mutex<BTreeMap<(String, String), f64>> = Mutex::new(BTreeMap::new());
    let mut totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    for (key, _, _, value) in snapshotter().snapshot().into_vec() {
        let key = key.key();
        let Some(label) = key.labels().find(|l| l.key() == "ns") else {
            continue;
        };
        let delta = match value {
            DebugValue::Gauge(g) => g.into_inner(),
            DebugValue::Counter(c) => c as f64,
            DebugValue::Histogram(_) => continue,
        };
        *totals
            .entry((key.name().to_owned(), label.value().to_owned()))
            .or_default() += delta;
    }
    totals
        .get(&(name.to_owned(), ns.to_owned()))
        .copied()
        .unwrap_or(0.0)
}

/// Waits (bounded) until gauge `name{ns}` reads `want`.
async fn until(name: &str, ns: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let have = value(name, ns);
        if have == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}{{ns={ns}}} is {have}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abuse_disconnects_and_the_shutdown_take_sockets_off_the_gauge() {
    snapshotter();
    let abused = NamespaceDef::new("/metrics-abuse")
        .layer(
            ServiceBuilder::new()
                .load_shed()
                .rate_limit(1, Duration::from_secs(60)),
        )
        .disconnect_abusers(1, Duration::from_secs(60))
        .on("ping", async || Ack("pong"));
    let stays = NamespaceDef::new("/metrics-stays").on("ping", async || Ack("pong"));
    let server = InProcess::start(Switchboard::builder().namespace(abused).namespace(stays))
        .await
        .expect("the server builds");
    let url = server.base_url();
    let probe = tokio::spawn(async move {
        run_probe(
            &url,
            json!({
                "clients": {
                    "abuser": { "ns": "/metrics-abuse", "transports": ["websocket"] },
                    "stays": { "ns": "/metrics-stays", "transports": ["websocket"] },
                },
                "steps": [
                    { "op": "connect", "client": "stays" },
                    { "op": "connect", "client": "abuser" },
                    // One allowed, then two refusals: past `max` (1), so it is disconnected.
                    { "op": "emit", "client": "abuser", "event": "ping" },
                    { "op": "emit", "client": "abuser", "event": "ping" },
                    { "op": "emit", "client": "abuser", "event": "ping" },
                    { "op": "waitDisconnect", "client": "abuser" },
                    { "op": "waitDisconnect", "client": "stays" },
                ],
                "timeoutMs": 20000,
            }),
        )
        .await
    });
    until(CONNECTS_TOTAL, "/metrics-abuse", 1.0).await;
    until(CONNECTS_TOTAL, "/metrics-stays", 1.0).await;
    // The abuser leaves the gauge once, whichever way socketioxide ended its connection.
    until(CONNECTIONS, "/metrics-abuse", 0.0).await;
    assert_eq!(value(CONNECTIONS, "/metrics-stays"), 1.0);
    assert_eq!(
        value("switchboard_abuse_disconnects_total", "/metrics-abuse"),
        1.0
    );

    // switchboard's shutdown disconnects every socket (running its disconnect handler) before
    // socketioxide closes the transports: the socket leaves the gauge once.
    tokio::time::timeout(Duration::from_secs(5), server.stop())
        .await
        .expect("shutdown within the grace period")
        .expect("the server stops cleanly");
    until(CONNECTIONS, "/metrics-stays", 0.0).await;
    let out = probe.await.expect("the probe task");
    assert_eq!(
        out["disconnects"]["stays"],
        json!(["io server disconnect"]),
        "{out}"
    );
    assert_eq!(
        value(CONNECTIONS, "/metrics-abuse"),
        0.0,
        "never below zero"
    );
}

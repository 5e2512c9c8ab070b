//! Event middleware end to end: tower's own layers around event handlers of in-process servers,
//! driven by the official socket.io-client (`js/security.mjs event-flood` / `attempt`).
//!
//! What the client sees (the error acks), what the server counts (the `metrics` counters, read
//! through a `DebuggingRecorder` installed for this whole test binary) and that per-socket
//! state dies with its socket.
mod support;

use std::{
    collections::BTreeMap,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use integration_tests::inprocess::InProcess;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::{Value, json};
use switchboard::{
    Ack, InMemory, NamespaceDef, Switchboard,
    middleware::{EventCall, EventService},
};
use tower::{BoxError, Layer, Service, ServiceBuilder, timeout::TimeoutLayer};

use support::security;

/// The recorder of this test binary, installed before the first test emits anything.
fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::set_global_recorder(recorder).expect("no other recorder in this test binary");
        snapshotter
    })
}

/// The total of counter `name` with exactly `labels`.
///
/// A snapshot resets the counters it reads, and tests run in parallel, so every snapshot is
/// added to totals kept here; each test uses namespaces of its own, so its labels are its own.
fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    type Totals = BTreeMap<(String, Vec<(String, String)>), u64>;
    static TOTALS: Mutex<Totals> = Mutex::new(BTreeMap::new());
    let mut totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    for (key, _, _, value) in snapshotter().snapshot().into_vec() {
        if let DebugValue::Counter(n) = value {
            let key = key.key();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            *totals.entry((key.name().to_owned(), labels)).or_default() += n;
        }
    }
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    wanted.sort();
    totals.get(&(name.to_owned(), wanted)).copied().unwrap_or(0)
}

fn refused(ns: &str, reason: &str) -> u64 {
    counter(
        "switchboard_events_refused_total",
        &[("ns", ns), ("reason", reason)],
    )
}

async fn start(namespace: NamespaceDef) -> InProcess<InMemory> {
    snapshotter();
    InProcess::start(Switchboard::builder().namespace(namespace))
        .await
        .expect("the server builds")
}

/// How many acks had each code (`ok`, `timeout`, `overloaded`, `refused`, `no-ack`).
fn tally(codes: &Value) -> BTreeMap<String, usize> {
    let mut tally = BTreeMap::new();
    for code in codes.as_array().expect("codes") {
        *tally
            .entry(code.as_str().expect("a code").to_owned())
            .or_default() += 1;
    }
    tally
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_over_budget_is_acked_timeout_and_cancelled() {
    let finished = Arc::new(AtomicBool::new(false));
    let done = finished.clone();
    let server = start(
        NamespaceDef::new("/budget")
            .layer(TimeoutLayer::new(Duration::from_millis(300)))
            .on("slow", move || {
                let done = done.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(1_000)).await;
                    done.store(true, Ordering::SeqCst);
                    Ack("too late")
                }
            })
            .on("fast", async || Ack("in time")),
    )
    .await;
    let url = server.base_url();
    let started = Instant::now();
    let o = security(
        "event-flood",
        &url,
        &["--ns", "/budget", "--event", "slow", "--flood", "1"],
    )
    .await;
    assert_eq!(
        o["acks"][0]["ack"],
        json!({ "error": { "code": "timeout", "message": "the handler for event `slow` took too long" } }),
        "{o}"
    );
    let o = security(
        "event-flood",
        &url,
        &["--ns", "/budget", "--event", "fast", "--flood", "3"],
    )
    .await;
    assert_eq!(o["acks"][0]["ack"], "in time", "{o}");
    assert_eq!(tally(&o["codes"]), counts(&[("ok", 3)]), "{o}");
    // The handler was cancelled at the deadline, not left running.
    tokio::time::sleep(Duration::from_millis(1_500).saturating_sub(started.elapsed())).await;
    assert!(
        !finished.load(Ordering::SeqCst),
        "the slow handler ran to its end"
    );
    assert_eq!(refused("/budget", "timeout"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_refuses_the_excess_of_one_socket_and_spares_the_others() {
    let server = start(
        NamespaceDef::new("/rated")
            .layer(
                ServiceBuilder::new()
                    .load_shed()
                    .rate_limit(3, Duration::from_secs(60)),
            )
            .on("ping", async || Ack("pong")),
    )
    .await;
    let o = security(
        "event-flood",
        &server.base_url(),
        &[
            "--ns", "/rated", "--event", "ping", "--flood", "10", "--calm", "3",
        ],
    )
    .await;
    assert_eq!(
        tally(&o["codes"]),
        counts(&[("ok", 3), ("overloaded", 7)]),
        "{o}"
    );
    for ack in o["acks"].as_array().expect("acks") {
        if ack["ack"] != "pong" {
            assert_eq!(
                ack["ack"],
                json!({ "error": { "code": "overloaded", "message": "too many `ping` events: slow down" } }),
                "{o}"
            );
        }
    }
    // The calm socket has a budget of its own: the flood did not spend it.
    assert_eq!(o["calmCodes"], json!(["ok", "ok", "ok"]), "{o}");
    // Refused is not disconnected (no `disconnect_abusers` here).
    assert_eq!(o["flooder"]["connected"], true, "{o}");
    assert_eq!(refused("/rated", "overloaded"), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_socket_is_disconnected_and_counted_once() {
    let server = start(
        NamespaceDef::new("/abuse")
            .layer(
                ServiceBuilder::new()
                    .load_shed()
                    .rate_limit(2, Duration::from_secs(60)),
            )
            .disconnect_abusers(3, Duration::from_secs(60))
            .on("ping", async || Ack("pong")),
    )
    .await;
    let o = security(
        "event-flood",
        &server.base_url(),
        &[
            "--ns", "/abuse", "--event", "ping", "--flood", "20", "--calm", "2",
        ],
    )
    .await;
    let lifecycle = &o["flooder"]["lifecycle"];
    assert_eq!(
        lifecycle[1]["kind"], "disconnect",
        "the flooder was disconnected: {o}"
    );
    // Usually `io server disconnect`. When the flood keeps arriving after the socket was
    // removed, socketioxide closes the whole connection instead (`transport close`) and what
    // was still queued for it, acks included, is lost (docs/guards.md, "What belongs
    // upstream"). Either way the flooder is gone, and only the acks it got are checked.
    let reason = lifecycle[1]["reason"].as_str().unwrap_or_default();
    assert!(
        reason == "io server disconnect" || reason == "transport close",
        "{o}"
    );
    assert_eq!(o["flooder"]["connected"], false, "{o}");
    let codes = tally(&o["codes"]);
    assert!(codes.get("ok").copied().unwrap_or(0) <= 2, "{o}");
    if reason == "io server disconnect" {
        assert_eq!(codes.get("ok"), Some(&2), "{o}");
        assert!(
            codes.get("overloaded").copied().unwrap_or(0) >= 3,
            "refused at least `max` times before the disconnect: {o}"
        );
    }
    // The other socket of the namespace is untouched.
    assert_eq!(o["calm"]["connected"], true, "{o}");
    assert_eq!(o["calmCodes"], json!(["ok", "ok"]), "{o}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        counter("switchboard_abuse_disconnects_total", &[("ns", "/abuse")]),
        1,
        "one socket, one abuse disconnect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_on_one_event_is_per_socket() {
    let work = async || {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Ack("done")
    };
    let server = start(
        NamespaceDef::new("/one-by-one")
            .on_layered(
                "work",
                ServiceBuilder::new().load_shed().concurrency_limit(1),
                work,
            )
            .on("free", work),
    )
    .await;
    let url = server.base_url();
    let o = security(
        "event-flood",
        &url,
        &[
            "--ns",
            "/one-by-one",
            "--event",
            "work",
            "--flood",
            "3",
            "--calm",
            "3",
        ],
    )
    .await;
    assert_eq!(
        tally(&o["codes"]),
        counts(&[("ok", 1), ("overloaded", 2)]),
        "{o}"
    );
    // Each socket has its own permit: the calm one got one while the flooder held its own.
    assert_eq!(
        tally(&o["calmCodes"]),
        counts(&[("ok", 1), ("overloaded", 2)]),
        "{o}"
    );
    // An event without the layer is not limited.
    let o = security(
        "event-flood",
        &url,
        &["--ns", "/one-by-one", "--event", "free", "--flood", "3"],
    )
    .await;
    assert_eq!(o["codes"], json!(["ok", "ok", "ok"]), "{o}");
    assert_eq!(refused("/one-by-one", "overloaded"), 4);
}

/// A layer of our own: counts its live instances (one per socket and event), refuses the
/// event `forbidden` with an error of its own and panics on `explode`.
#[derive(Clone)]
struct Watch {
    live: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

struct Watched<S> {
    inner: S,
    live: Arc<AtomicUsize>,
}

impl<S> Layer<S> for Watch {
    type Service = Watched<S>;
    fn layer(&self, inner: S) -> Watched<S> {
        let now = self.live.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Watched {
            inner,
            live: self.live.clone(),
        }
    }
}

impl<S> Drop for Watched<S> {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Service<EventCall<InMemory>> for Watched<EventService<InMemory>> {
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: EventCall<InMemory>) -> Self::Future {
        if call.event() == "explode" {
            panic!("the middleware exploded");
        }
        if call.event() == "forbidden" {
            return Box::pin(std::future::ready(Err("not for you".into())));
        }
        Box::pin(self.inner.call(call))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_layer_refuses_with_code_refused() {
    let watch = Watch {
        live: Arc::default(),
        peak: Arc::default(),
    };
    let server = start(
        NamespaceDef::new("/custom")
            .layer(watch)
            .on("forbidden", async || Ack("should not run"))
            .on("allowed", async || Ack("ran")),
    )
    .await;
    let url = server.base_url();
    let o = security(
        "attempt",
        &url,
        &["--ns", "/custom", "--event", "forbidden"],
    )
    .await;
    assert_eq!(
        o["ack"]["ack"],
        json!({ "error": { "code": "refused", "message": "event `forbidden` refused: not for you" } }),
        "{o}"
    );
    let o = security("attempt", &url, &["--ns", "/custom", "--event", "allowed"]).await;
    assert_eq!(o["ack"]["ack"], "ran", "{o}");
    assert_eq!(refused("/custom", "refused"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_socket_middleware_state_is_dropped_with_the_socket() {
    let watch = Watch {
        live: Arc::default(),
        peak: Arc::default(),
    };
    let (live, peak) = (watch.live.clone(), watch.peak.clone());
    let server = start(
        NamespaceDef::new("/churn")
            .layer(watch)
            .layer(
                ServiceBuilder::new()
                    .load_shed()
                    .rate_limit(100, Duration::from_secs(60)),
            )
            .on("ping", async || Ack("pong"))
            .on_any(async || Ack("any")),
    )
    .await;
    let url = server.base_url();
    for round in 0..3 {
        let o = security(
            "attempt",
            &url,
            &["--ns", "/churn", "--event", "ping", "--count", "8"],
        )
        .await;
        for r in o["results"].as_array().expect("results") {
            assert_eq!(r["ack"]["ack"], "pong", "round {round}: {o}");
        }
        // The clients closed when the scenario ended: wait for the server to see it.
        let sockets = || server.io().of("/churn").expect("namespace").sockets().len();
        let deadline = Instant::now() + Duration::from_secs(10);
        while (sockets() > 0 || live.load(Ordering::SeqCst) > 0) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(sockets(), 0, "round {round}: sockets left");
        assert_eq!(
            live.load(Ordering::SeqCst),
            0,
            "round {round}: middleware instances outlived their sockets"
        );
    }
    // Every socket had its own instances (one per event with a stack: `ping` and the
    // catch-all), all alive at once in a round.
    assert!(peak.load(Ordering::SeqCst) >= 16, "peak {peak:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_layer_still_answers_and_the_socket_keeps_working() {
    let watch = Watch {
        live: Arc::default(),
        peak: Arc::default(),
    };
    let server = start(
        NamespaceDef::new("/fragile")
            .layer(watch)
            .on("explode", async || Ack("should not run"))
            .on("allowed", async || Ack("ran")),
    )
    .await;
    let o = security(
        "event-flood",
        &server.base_url(),
        &[
            "--ns",
            "/fragile",
            "--event",
            "explode",
            "--flood",
            "1",
            "--timeout",
            "2000",
        ],
    )
    .await;
    // Like a panicking handler: an error ack, never silence.
    assert_eq!(
        o["acks"][0]["ack"]["error"]["code"], "internal_error",
        "{o}"
    );
    assert_eq!(o["flooder"]["connected"], true, "{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_events_pass_the_namespace_middleware_too() {
    let server = start(
        NamespaceDef::new("/unknown-flood")
            .layer(
                ServiceBuilder::new()
                    .load_shed()
                    .rate_limit(2, Duration::from_secs(60)),
            )
            .disconnect_abusers(3, Duration::from_secs(60))
            .on("ping", async || Ack("pong")),
    )
    .await;
    let o = security(
        "event-flood",
        &server.base_url(),
        &[
            "--ns",
            "/unknown-flood",
            "--event",
            "no-such-event",
            "--flood",
            "20",
        ],
    )
    .await;
    // An event nobody handles costs the server a log line and an ack: a flood of them is a
    // flood like any other, limited and, past `disconnect_abusers`, disconnected.
    // socketioxide closes the whole connection when events keep arriving for a socket it has
    // just removed, which can cut off acks still queued: at most the 2 the rate allows arrive.
    let codes = tally(&o["codes"]);
    assert!(codes.get("unknown_event").copied().unwrap_or(0) <= 2, "{o}");
    assert_eq!(codes.get("ok"), None, "{o}");
    assert_eq!(o["flooder"]["connected"], false, "{o}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        counter(
            "switchboard_abuse_disconnects_total",
            &[("ns", "/unknown-flood")]
        ),
        1,
        "the unknown-event flood tripped the abuse limit once"
    );
}

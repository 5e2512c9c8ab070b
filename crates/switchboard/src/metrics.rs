//! Every metric switchboard emits, through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! switchboard only *emits*: install any `metrics` recorder (Prometheus, StatsD, OpenTelemetry,
//! a test's `DebuggingRecorder`) and the numbers below appear; without one they cost a no-op
//! call. The names are the constants of this module; [the observability
//! guide](https://github.com/switchboard-rs/switchboard/blob/main/docs/observability.md) shows
//! how to serve them to Prometheus on the application's own router.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | [`CONNECTIONS`] | gauge | `ns` |
//! | [`CONNECTS_TOTAL`] | counter | `ns` |
//! | [`CONNECT_REFUSALS_TOTAL`] | counter | `ns`, `reason`, `status` (with `reason="guard"` only) |
//! | [`EVENTS_RECEIVED_TOTAL`] | counter | `ns`, `event` |
//! | [`EVENTS_REFUSED_TOTAL`] | counter | `ns`, `reason` |
//! | [`ABUSE_DISCONNECTS_TOTAL`] | counter | `ns` |
//! | [`UNACKED_ERRORS_TOTAL`] | counter | none |
//! | [`ACKS_SENT_TOTAL`] | counter | `ns`, `outcome` |
//! | [`MESSAGES_SENT_TOTAL`] | counter | `ns` |
//! | [`MESSAGES_DROPPED_TOTAL`] | counter | `ns`, `reason` |
//! | [`SLOW_CONSUMER_DISCONNECTS_TOTAL`] | counter | `ns` |
//! | [`BACKLOG_BYTES`] | gauge | `ns` |
//!
//! # Bounded labels
//!
//! No label value is chosen by a client. `ns` is the path the namespace was *registered* with,
//! so every connection to a dynamic namespace `/tenant/{id}` counts under `/tenant/{id}`, not
//! under `/tenant/42`; `event` is an event name the namespace registered, or [`UNKNOWN_EVENT`]
//! for anything else. A client inventing event names cannot create time series.
//!
//! # When the handles are bound
//!
//! The per-namespace handles (a `metrics::Counter` per registered event, the gauge, …) are
//! resolved once, when the namespace sees its first connection, and reused for every event
//! after that: counting an event is one atomic add, with no allocation. They are bound to the
//! recorder installed *at that moment*, so install the recorder before the server accepts
//! connections (first thing in `main`); a namespace that saw connections before a recorder was
//! installed keeps reporting to the no-op recorder until the process restarts.
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU8, Ordering},
};

use ::metrics::{Counter, Gauge, SharedString};

/// Gauge, labels `ns`: sockets connected to the namespace right now.
///
/// Goes up when a socket has passed the guards and its CONNECT was acknowledged; goes down
/// exactly once when it leaves, whichever way: the client disconnects or its transport drops,
/// the server disconnects it (`socket.disconnect()`, an abuse disconnect), or the server shuts
/// down (`SocketIo::close`, which socketioxide 0.18 does without running disconnect handlers:
/// switchboard notices within a second and takes the namespace's sockets off the gauge).
pub const CONNECTIONS: &str = "switchboard_connections";

/// Counter, labels `ns`: sockets that connected to the namespace (guards passed, CONNECT
/// acknowledged). Moves together with the increments of [`CONNECTIONS`].
pub const CONNECTS_TOTAL: &str = "switchboard_connects_total";

/// Counter, labels `ns`, `reason`, and `status` when `reason` is `guard`: CONNECTs refused
/// before the socket joined.
///
/// `reason` is `guard` when a guard answered a non-2xx status (`status` is that HTTP status,
/// e.g. `401`; a `load_shed` layer that refused counts as `503`), `guard_timeout` when the
/// guards did not answer within the guard timeout (or a `tower::timeout` inside a guard
/// expired), and `guard_failed` when a guard panicked, failed with another error, or answered
/// 2xx without letting the connection through. Unknown namespaces are refused by socketioxide
/// before switchboard sees them and are not counted.
pub const CONNECT_REFUSALS_TOTAL: &str = "switchboard_connect_refusals_total";

/// Counter, labels `ns`, `event`: events that reached the namespace, counted on arrival, before
/// their arguments are extracted or their middleware runs.
///
/// `event` is the name the handler was registered with, or [`UNKNOWN_EVENT`] for an event
/// with no handler of its own (handled by `#[on_any]` or refused as `unknown_event`).
pub const EVENTS_RECEIVED_TOTAL: &str = "switchboard_events_received_total";

/// Counter, labels `ns`, `reason`: events refused without running their handler.
///
/// `reason` is `unknown_event` (no handler and no `#[on_any]`), or, for event middleware,
/// `timeout`, `overloaded` or `refused` (see [`middleware`](crate::middleware)).
pub const EVENTS_REFUSED_TOTAL: &str = "switchboard_events_refused_total";

/// Counter, labels `ns`: sockets disconnected because their events were refused too often
/// ([`NamespaceDef::disconnect_abusers`](crate::NamespaceDef::disconnect_abusers)).
pub const ABUSE_DISCONNECTS_TOTAL: &str = "switchboard_abuse_disconnects_total";

/// Counter, no labels: handlers that returned an error to a client that asked for no
/// acknowledgement, so the error was only logged.
pub const UNACKED_ERRORS_TOTAL: &str = "switchboard_unacked_errors_total";

/// Counter, labels `ns`, `outcome` (`ok` or `error`): acknowledgements sent for handlers'
/// return values.
pub const ACKS_SENT_TOTAL: &str = "switchboard_acks_sent_total";

/// Counter, labels `ns`: messages handed to a client's connection.
pub const MESSAGES_SENT_TOTAL: &str = "switchboard_messages_sent_total";

/// Counter, labels `ns`, `reason`: messages for a client that were dropped instead of sent.
pub const MESSAGES_DROPPED_TOTAL: &str = "switchboard_messages_dropped_total";

/// Counter, labels `ns`: sockets disconnected because they did not read their messages fast
/// enough.
pub const SLOW_CONSUMER_DISCONNECTS_TOTAL: &str = "switchboard_slow_consumer_disconnects_total";

/// Gauge, labels `ns`: bytes queued for the namespace's clients and not yet written.
pub const BACKLOG_BYTES: &str = "switchboard_backlog_bytes";

/// The `event` label of [`EVENTS_RECEIVED_TOTAL`] for every event without a handler of its own.
pub const UNKNOWN_EVENT: &str = "<unknown>";

/// The label naming the namespace: the path it was registered with.
pub const LABEL_NS: &str = "ns";
/// The label naming a registered event.
pub const LABEL_EVENT: &str = "event";
/// The label saying why something was refused or dropped.
pub const LABEL_REASON: &str = "reason";
/// The label carrying a guard's HTTP status.
pub const LABEL_STATUS: &str = "status";
/// The label saying whether an acknowledgement carried a value or an error.
pub const LABEL_OUTCOME: &str = "outcome";

/// Why a CONNECT was refused, as [`CONNECT_REFUSALS_TOTAL`] counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectRefusal {
    /// A guard answered this non-2xx HTTP status.
    Guard(http::StatusCode),
    /// A guard panicked, failed, or answered 2xx without passing the connection on.
    Failed,
    /// The guards ran out of time.
    Timeout,
}

/// The handles of one namespace, resolved once (see the module docs) and shared by its
/// sockets.
pub(crate) struct NsMetrics {
    ns: SharedString,
    connections: Connections,
    /// [`EVENTS_RECEIVED_TOTAL`] per registered event, in registration order.
    received: Vec<Counter>,
    received_unknown: Counter,
    refused_unknown_event: Counter,
    refused_timeout: Counter,
    refused_overloaded: Counter,
    refused_other: Counter,
    abuse_disconnects: Counter,
    refusal_failed: Counter,
    refusal_timeout: Counter,
    acks_ok: Counter,
    acks_error: Counter,
}

impl NsMetrics {
    /// Registers every handle of namespace `ns` (its registered path) with the current
    /// recorder; `events` are its registered event names.
    pub(crate) fn new<'a>(ns: &str, events: impl IntoIterator<Item = &'a str>) -> Self {
        let ns = SharedString::from(Arc::<str>::from(ns));
        let refused = |reason: &'static str| ::metrics::counter!(EVENTS_REFUSED_TOTAL, LABEL_NS => ns.clone(), LABEL_REASON => reason);
        let refusal = |reason: &'static str| ::metrics::counter!(CONNECT_REFUSALS_TOTAL, LABEL_NS => ns.clone(), LABEL_REASON => reason);
        let received = |event: SharedString| ::metrics::counter!(EVENTS_RECEIVED_TOTAL, LABEL_NS => ns.clone(), LABEL_EVENT => event);
        Self {
            connections: Connections {
                connects: ::metrics::counter!(CONNECTS_TOTAL, LABEL_NS => ns.clone()),
                gauge: ::metrics::gauge!(CONNECTIONS, LABEL_NS => ns.clone()),
                state: Mutex::new(LiveState::default()),
            },
            received: events
                .into_iter()
                .map(|e| received(SharedString::from(Arc::<str>::from(e))))
                .collect(),
            received_unknown: received(SharedString::const_str(UNKNOWN_EVENT)),
            refused_unknown_event: refused("unknown_event"),
            refused_timeout: refused("timeout"),
            refused_overloaded: refused("overloaded"),
            refused_other: refused("refused"),
            abuse_disconnects: ::metrics::counter!(ABUSE_DISCONNECTS_TOTAL, LABEL_NS => ns.clone()),
            refusal_failed: refusal("guard_failed"),
            refusal_timeout: refusal("guard_timeout"),
            acks_ok: ::metrics::counter!(ACKS_SENT_TOTAL, LABEL_NS => ns.clone(), LABEL_OUTCOME => "ok"),
            acks_error: ::metrics::counter!(ACKS_SENT_TOTAL, LABEL_NS => ns.clone(), LABEL_OUTCOME => "error"),
            ns,
        }
    }

    /// The [`EVENTS_RECEIVED_TOTAL`] handle of the `index`th registered event, or of
    /// [`UNKNOWN_EVENT`] for `None` (the catch-all).
    pub(crate) fn received(&self, index: Option<usize>) -> Counter {
        index
            .and_then(|i| self.received.get(i))
            .unwrap_or(&self.received_unknown)
            .clone()
    }

    /// Counts an event refused by the middleware stack or for having no handler; `reason` is
    /// one of the reasons [`EVENTS_REFUSED_TOTAL`] documents.
    pub(crate) fn event_refused(&self, reason: &str) {
        match reason {
            "unknown_event" => &self.refused_unknown_event,
            "timeout" => &self.refused_timeout,
            "overloaded" => &self.refused_overloaded,
            _ => &self.refused_other,
        }
        .increment(1);
    }

    /// Counts an acknowledgement handed to the connection: `ok` for a value, else an error.
    pub(crate) fn ack_sent(&self, ok: bool) {
        if ok { &self.acks_ok } else { &self.acks_error }.increment(1);
    }

    /// Counts an abuse disconnect.
    pub(crate) fn abuse_disconnect(&self) {
        self.abuse_disconnects.increment(1);
    }

    /// Counts a refused CONNECT. A guard's status is a label of its own, so that one series is
    /// registered per status seen (a handful: 401, 403, 429, 503).
    pub(crate) fn connect_refused(&self, why: ConnectRefusal) {
        match why {
            ConnectRefusal::Guard(status) => ::metrics::counter!(
                CONNECT_REFUSALS_TOTAL,
                LABEL_NS => self.ns.clone(),
                LABEL_REASON => "guard",
                LABEL_STATUS => status.as_u16().to_string()
            )
            .increment(1),
            ConnectRefusal::Failed => self.refusal_failed.increment(1),
            ConnectRefusal::Timeout => self.refusal_timeout.increment(1),
        }
    }

    /// The live-connection bookkeeping behind [`CONNECTIONS`].
    pub(crate) fn connections(&self) -> &Connections {
        &self.connections
    }
}

/// The sockets of one namespace that are counted in [`CONNECTIONS`], so that a server shutdown
/// (which runs no disconnect handler) can take them all off the gauge at once.
pub(crate) struct Connections {
    connects: Counter,
    gauge: Gauge,
    state: Mutex<LiveState>,
}

#[derive(Default)]
struct LiveState {
    /// Sockets counted in the gauge.
    open: u64,
    /// The server was closed: nothing moves the gauge any more.
    server_closed: bool,
    /// A task is watching for the server's shutdown (there is one while `open > 0`).
    watching: bool,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, LiveState> {
        // The state stays consistent at every point a holder could panic: no poisoning.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A socket connected; true when the caller must start a shutdown watcher.
    fn opened(&self) -> bool {
        let mut state = self.lock();
        if state.server_closed {
            return false;
        }
        state.open += 1;
        self.connects.increment(1);
        self.gauge.increment(1);
        !std::mem::replace(&mut state.watching, true)
    }

    /// A counted socket left.
    fn closed(&self) {
        let mut state = self.lock();
        if !state.server_closed {
            state.open = state.open.saturating_sub(1);
            self.gauge.decrement(1);
        }
    }

    /// One check of the shutdown watcher: `server_closed` is whether the server is gone.
    /// Returns whether the watcher must keep watching; when it does not, it is no longer
    /// counted as running.
    pub(crate) fn keep_watching(&self, server_closed: bool) -> bool {
        let mut state = self.lock();
        if server_closed && !state.server_closed {
            state.server_closed = true;
            self.gauge.decrement(state.open as f64);
            state.open = 0;
        }
        let keep = state.open > 0 && !state.server_closed;
        state.watching = keep;
        keep
    }
}

/// Where one socket is in its life, so that it is added to and taken off the gauge at most
/// once each, even when socketioxide runs the disconnect before the connect hook.
pub(crate) struct Tracked(AtomicU8);

const PENDING: u8 = 0;
const OPEN: u8 = 1;
const CLOSED: u8 = 2;

impl Tracked {
    /// A socket accepted by the guards, not acknowledged yet.
    pub(crate) fn new() -> Self {
        Self(AtomicU8::new(PENDING))
    }

    /// The CONNECT was acknowledged: counts the socket unless it already left. Returns true
    /// when the caller must start a shutdown watcher for `ns`.
    pub(crate) fn open(&self, ns: &NsMetrics) -> bool {
        if self
            .0
            .compare_exchange(PENDING, OPEN, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        ns.connections.opened()
    }

    /// The socket left: takes it off the gauge if it was on it.
    pub(crate) fn close(&self, ns: &NsMetrics) {
        if self.0.swap(CLOSED, Ordering::AcqRel) == OPEN {
            ns.connections.closed();
        }
    }
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    fn gauge_and_connects(snapshot: metrics_util::debugging::Snapshot) -> (f64, u64) {
        let (mut gauge, mut connects) = (0.0, 0);
        for (key, _, _, value) in snapshot.into_vec() {
            match (key.key().name(), value) {
                (CONNECTIONS, DebugValue::Gauge(g)) => gauge = g.into_inner(),
                (CONNECTS_TOTAL, DebugValue::Counter(c)) => connects = c,
                _ => {}
            }
        }
        (gauge, connects)
    }

    #[test]
    fn every_socket_leaves_the_gauge_once_whatever_the_order() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        ::metrics::with_local_recorder(&recorder, || {
            let ns = NsMetrics::new("/t", ["a"]);
            let (a, b, c) = (Tracked::new(), Tracked::new(), Tracked::new());
            assert!(a.open(&ns), "the first socket starts the watcher");
            assert!(!b.open(&ns), "one watcher per namespace");
            assert!(!a.open(&ns), "a socket is counted once");
            a.close(&ns);
            a.close(&ns);
            // Disconnected before its connect hook: never on the gauge.
            c.close(&ns);
            assert!(!c.open(&ns));
            // The debugging recorder's snapshot resets what it reads: later ones are deltas.
            let (gauge, connects) = gauge_and_connects(snapshotter.snapshot());
            assert_eq!((gauge, connects), (1.0, 2));
            // The server shuts down: the remaining socket leaves the gauge, and a disconnect
            // reported afterwards does not take it below zero.
            assert!(!ns.connections().keep_watching(true));
            b.close(&ns);
            assert!(!Tracked::new().open(&ns), "nothing counts after shutdown");
            assert_eq!(gauge_and_connects(snapshotter.snapshot()), (-1.0, 0));
        });
    }

    #[test]
    fn the_watcher_stops_when_the_namespace_is_empty_and_restarts_with_the_next_socket() {
        let recorder = DebuggingRecorder::new();
        ::metrics::with_local_recorder(&recorder, || {
            let ns = NsMetrics::new("/t", []);
            let a = Tracked::new();
            assert!(a.open(&ns));
            assert!(ns.connections().keep_watching(false));
            a.close(&ns);
            assert!(!ns.connections().keep_watching(false));
            assert!(
                Tracked::new().open(&ns),
                "a new watcher for the next socket"
            );
        });
    }

    #[test]
    fn unknown_and_out_of_range_events_share_one_label() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        ::metrics::with_local_recorder(&recorder, || {
            let ns = NsMetrics::new("/t", ["chat"]);
            ns.received(Some(0)).increment(1);
            ns.received(None).increment(2);
            ns.received(Some(7)).increment(1);
        });
        let mut seen: Vec<(String, u64)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(k, ..)| k.key().name() == EVENTS_RECEIVED_TOTAL)
            .filter_map(|(k, _, _, v)| match v {
                DebugValue::Counter(n) => Some((
                    k.key()
                        .labels()
                        .find(|l| l.key() == LABEL_EVENT)
                        .map(|l| l.value().to_owned())
                        .unwrap_or_default(),
                    n,
                )),
                _ => None,
            })
            .collect();
        seen.sort();
        assert_eq!(seen, [("<unknown>".to_owned(), 3), ("chat".to_owned(), 1)]);
    }
}

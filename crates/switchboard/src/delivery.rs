//! Delivery: every socket receives every message addressed to it, in order, or is disconnected
//! as a slow consumer, with a reason it can read and a count of what it missed.
//!
//! socketioxide hands each packet to a per-connection queue of
//! [`max_buffer_size`](crate::SwitchboardBuilder::max_buffer_size) packets and, when that queue
//! is full, drops the packet and returns an error that names no socket; a room broadcast keeps
//! going and the application usually never learns who missed what. [`InMemory`], the room
//! adapter of [`Switchboard::builder`](crate::Switchboard::builder), delivers a broadcast socket
//! by socket instead:
//!
//! 1. A socket whose queue has room gets the packet at once, as before.
//! 2. A socket whose queue is full gets a *backlog*: the packet and every later one for it wait,
//!    in order, and a background task hands them over as the queue drains. The `emit(..).await`
//!    that had to queue waits until its packet is handed over (backpressure on the sender).
//! 3. A backlog that passes [`DeliveryConfig::max_backlog_bytes`], or that makes no progress
//!    for [`DeliveryConfig::max_stall`], marks the socket a *slow consumer*: its backlog is
//!    dropped and counted, nothing more is queued for it, and as soon as its queue has room it
//!    receives the event [`SLOW_CONSUMER_EVENT`] (`{ reason, dropped }`) and is disconnected
//!    (`io server disconnect` on the client). A client that never reads again is closed by the
//!    engine.io heartbeat (ping interval + ping timeout).
//!
//! Every drop is logged (warn) and counted in `switchboard_messages_dropped_total{ns,reason}`;
//! `docs/delivery.md` gives the exact semantics and what stays outside them.
use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, OnceLock, Weak,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use socketioxide::adapter::Emitter;
use socketioxide_core::{
    Sid, Value,
    adapter::{
        BroadcastFlags, BroadcastOptions, CoreAdapter, CoreLocalAdapter, DefinedAdapter,
        SocketEmitter,
        errors::{BroadcastError, SocketError},
    },
    packet::{Packet, PacketData},
    parser::Parse,
};
use tokio::sync::watch;

use crate::metrics::{
    BACKLOG_BYTES, LABEL_NS, LABEL_REASON, MESSAGES_DROPPED_TOTAL, MESSAGES_SENT_TOTAL,
    SLOW_CONSUMER_DISCONNECTS_TOTAL,
};

/// Default of [`DeliveryConfig::max_backlog_bytes`]: 4 MiB per socket.
pub const DEFAULT_MAX_BACKLOG_BYTES: usize = 4 << 20;

/// Default of [`DeliveryConfig::max_stall`]: 10 s.
pub const DEFAULT_MAX_STALL: Duration = Duration::from_secs(10);

/// The event a slow consumer receives just before it is disconnected, with
/// `{ "reason": "slow_consumer", "dropped": <messages it missed> }`.
pub const SLOW_CONSUMER_EVENT: &str = "switchboard:slow_consumer";

/// Bounds on what the server keeps for a socket that reads slower than it is sent to.
///
/// A socket first fills its connection queue
/// ([`max_buffer_size`](crate::SwitchboardBuilder::max_buffer_size) packets, 1024 by default);
/// past that, broadcasts wait in its backlog, bounded here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Largest backlog, in bytes of encoded payload, before the socket is a slow consumer.
    pub max_backlog_bytes: usize,
    /// Longest time a backlog may go without handing a packet over before the socket is a
    /// slow consumer.
    pub max_stall: Duration,
}

impl DeliveryConfig {
    /// The longest a sender waits for a backlog: it either moves or is dropped within
    /// `max_stall`; the margin covers the drain task's tick.
    fn wait_limit(&self) -> Duration {
        self.max_stall + Duration::from_secs(1)
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_backlog_bytes: DEFAULT_MAX_BACKLOG_BYTES,
            max_stall: DEFAULT_MAX_STALL,
        }
    }
}

/// The in-memory room adapter with switchboard's delivery guarantee; the default adapter of
/// [`Switchboard::builder`](crate::Switchboard::builder). Rooms work as in socketioxide's
/// `LocalAdapter`; broadcasts are delivered as described in the [module docs](self).
///
/// Its state is the [`DeliveryConfig`], shared by every namespace.
pub struct InMemory {
    local: CoreLocalAdapter<Emitter>,
    config: DeliveryConfig,
    /// Sockets with a backlog or being disconnected as slow consumers.
    backlogs: Mutex<HashMap<Sid, Backlog>>,
    /// `backlogs.len()`, read without the lock on the common path.
    backlogged: AtomicUsize,
    /// This adapter, for the tasks that drain backlogs; set by `init`.
    this: OnceLock<Weak<InMemory>>,
    /// When each socket's engine.io session began, to know when its heartbeat pings fall.
    epochs: Mutex<HashMap<Sid, Handshake>>,
    /// The `ns` label of this adapter's metrics: the path the namespace was registered with
    /// (`/tenant/{id}` for every tenant), learnt from its first socket.
    label: OnceLock<String>,
    /// This namespace's sent counter and backlog gauge, bound on first use.
    handles: OnceLock<Handles>,
}

/// The metric handles a broadcast and a drain pass touch, resolved once per namespace.
struct Handles {
    sent: metrics::Counter,
    backlog_bytes: metrics::Gauge,
}

/// When an engine.io handshake request reached switchboard's layer, and the server's ping
/// interval: a socket's request parts then tell when its session, and with it the heartbeat,
/// began.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Handshake {
    pub(crate) at: Instant,
    pub(crate) ping_interval: Duration,
}

/// engine.io sends a ping at the start of a session and every ping interval after it, and
/// closes the session if the connection queue is full at that moment. A backlog is not handed
/// over from this long before a ping is due...
const PING_GUARD_BEFORE: Duration = Duration::from_secs(1);
/// ...until this long after it.
const PING_GUARD_AFTER: Duration = Duration::from_millis(200);

impl Handshake {
    /// Whether a heartbeat ping of this session is due soon or was just due.
    fn near_ping(&self, now: Instant) -> bool {
        let interval = self.ping_interval.as_nanos().max(1);
        let into = now.saturating_duration_since(self.at).as_nanos() % interval;
        let until = interval - into;
        into < PING_GUARD_AFTER.as_nanos() || until < PING_GUARD_BEFORE.as_nanos()
    }
}

/// What is waiting for one socket.
struct Backlog {
    queue: VecDeque<Queued>,
    bytes: usize,
    next_seq: u64,
    /// The sequence number of the last packet handed over; `u64::MAX` once the backlog is
    /// finished (drained, dropped or the socket gone), which releases every waiting sender.
    handed: watch::Sender<u64>,
    last_progress: Instant,
    /// Since when the queue has been empty; the backlog is kept a moment longer, so that a
    /// socket that keeps falling behind is not switched back and forth.
    empty_since: Option<Instant>,
    slow: Option<Slow>,
}

impl Backlog {
    fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            bytes: 0,
            next_seq: 1,
            handed: watch::channel(0).0,
            last_progress: Instant::now(),
            empty_since: None,
            slow: None,
        }
    }
}

struct Queued {
    seq: u64,
    packet: Packet,
    bytes: usize,
}

/// A slow consumer on its way out.
struct Slow {
    dropped: u64,
    notified: bool,
}

/// Why a socket became a slow consumer.
#[derive(Debug, Clone, Copy)]
enum SlowReason {
    Bytes,
    Stalled,
    Ack,
}

impl SlowReason {
    fn as_str(self) -> &'static str {
        match self {
            SlowReason::Bytes => "backlog_bytes",
            SlowReason::Stalled => "stalled",
            SlowReason::Ack => "ack_undeliverable",
        }
    }
}

/// A sender waiting for its packet to be handed to a backlogged socket.
struct Wait {
    handed: watch::Receiver<u64>,
    seq: u64,
}

/// The payload size of a packet, as the backlog bound counts it.
fn packet_bytes(packet: &Packet) -> usize {
    let value = match &packet.inner {
        PacketData::Event(v, _)
        | PacketData::BinaryEvent(v, _)
        | PacketData::EventAck(v, _)
        | PacketData::BinaryAck(v, _) => Some(v),
        PacketData::Connect(v) => v.as_ref(),
        PacketData::Disconnect | PacketData::ConnectError(_) => None,
    };
    let payload = match value {
        Some(Value::Str(s, bins)) => {
            s.len() + bins.as_ref().map_or(0, |b| b.iter().map(|b| b.len()).sum())
        }
        Some(Value::Bytes(b)) => b.len(),
        None => 0,
    };
    payload + packet.ns.len() + 16
}

fn single(sid: Sid) -> BroadcastOptions {
    BroadcastOptions::new(sid)
}

impl InMemory {
    fn path(&self) -> &str {
        self.local.path()
    }

    fn handles(&self) -> &Handles {
        self.handles.get_or_init(|| Handles {
            sent: metrics::counter!(MESSAGES_SENT_TOTAL, LABEL_NS => self.label()),
            backlog_bytes: metrics::gauge!(BACKLOG_BYTES, LABEL_NS => self.label()),
        })
    }

    /// The `ns` label of this namespace's metrics.
    fn label(&self) -> String {
        self.label
            .get()
            .cloned()
            .unwrap_or_else(|| self.path().to_owned())
    }

    /// Hands `packet` to one socket's queue. A socket that is no longer in the namespace takes
    /// it as `Ok` and nothing is sent: callers check [`is_connected`](Self::is_connected)
    /// where that matters.
    fn hand_over(&self, sid: Sid, packet: Packet) -> Result<(), SocketError> {
        match self.local.broadcast(packet, single(sid)) {
            Ok(()) => Ok(()),
            Err(mut errors) => Err(errors.pop().unwrap_or(SocketError::Closed)),
        }
    }

    fn is_connected(&self, sid: Sid) -> bool {
        !self.local.fetch_sockets(single(sid)).is_empty()
    }

    /// Delivers `packet` to each of `sids`, socket by socket; returns the senders' waits for
    /// the sockets where it had to queue.
    fn deliver(&self, packet: &Packet, sids: Vec<Sid>) -> Vec<Wait> {
        let mut waits = Vec::new();
        let mut sent = 0u64;
        let mut closed = 0u64;
        for sid in sids {
            if self.backlogged.load(Ordering::Acquire) > 0
                && let Some(wait) = self.enqueue_existing(sid, packet)
            {
                waits.extend(wait);
                continue;
            }
            match self.hand_over(sid, packet.clone()) {
                Ok(()) => sent += 1,
                Err(SocketError::InternalChannelFull) => {
                    tracing::trace!(ns = self.path(), %sid, "queue full: backlogging");
                    waits.extend(self.enqueue(sid, packet))
                }
                // The socket is closing: its client sees the disconnection.
                Err(SocketError::Closed) => closed += 1,
            }
        }
        if sent > 0 {
            self.handles().sent.increment(sent);
        }
        if closed > 0 {
            tracing::debug!(
                ns = self.path(),
                closed,
                "broadcast skipped sockets that are closing"
            );
            self.count_dropped("closed", closed);
        }
        waits
    }

    /// Queues `packet` behind an existing backlog of `sid`: `None` if it has none.
    fn enqueue_existing(&self, sid: Sid, packet: &Packet) -> Option<Option<Wait>> {
        let mut backlogs = self.backlogs.lock().unwrap_or_else(|e| e.into_inner());
        let backlog = backlogs.get_mut(&sid)?;
        Some(self.push(sid, backlog, packet))
    }

    /// Queues `packet` for `sid`, starting a backlog and its drain task if there is none.
    fn enqueue(&self, sid: Sid, packet: &Packet) -> Option<Wait> {
        let mut backlogs = self.backlogs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(backlog) = backlogs.get_mut(&sid) {
            return self.push(sid, backlog, packet);
        }
        let mut backlog = Backlog::new();
        let wait = self.push(sid, &mut backlog, packet);
        backlogs.insert(sid, backlog);
        self.backlogged.store(backlogs.len(), Ordering::Release);
        drop(backlogs);
        tracing::debug!(ns = self.path(), %sid, "connection queue full: backlogging");
        if let Some(this) = self.this.get().cloned() {
            tokio::spawn(drain(this, sid));
        }
        wait
    }

    fn push(&self, sid: Sid, backlog: &mut Backlog, packet: &Packet) -> Option<Wait> {
        if let Some(slow) = &mut backlog.slow {
            slow.dropped += 1;
            self.count_dropped("slow_consumer", 1);
            return None;
        }
        let bytes = packet_bytes(packet);
        if backlog.bytes + bytes > self.config.max_backlog_bytes {
            self.make_slow(sid, backlog, SlowReason::Bytes);
            if let Some(slow) = &mut backlog.slow {
                slow.dropped += 1;
            }
            self.count_dropped("slow_consumer", 1);
            return None;
        }
        if backlog.queue.is_empty() {
            // The stall clock measures how long the oldest waiting packet has waited.
            backlog.last_progress = Instant::now();
        }
        let seq = backlog.next_seq;
        backlog.next_seq += 1;
        backlog.bytes += bytes;
        backlog.empty_since = None;
        backlog.queue.push_back(Queued {
            seq,
            packet: packet.clone(),
            bytes,
        });
        self.handles().backlog_bytes.increment(bytes as f64);
        // The sender waits only once the socket is well behind.
        (backlog.queue.len() > HIGH_WATER_PACKETS).then(|| Wait {
            handed: backlog.handed.subscribe(),
            seq,
        })
    }

    fn count_dropped(&self, reason: &'static str, n: u64) {
        metrics::counter!(MESSAGES_DROPPED_TOTAL, LABEL_NS => self.label(), LABEL_REASON => reason)
            .increment(n);
    }

    /// Drops the backlog of `sid` and marks it a slow consumer.
    fn make_slow(&self, sid: Sid, backlog: &mut Backlog, reason: SlowReason) {
        if backlog.slow.is_some() {
            return;
        }
        let dropped = backlog.queue.len() as u64;
        let bytes = backlog.bytes;
        backlog.queue.clear();
        backlog.bytes = 0;
        backlog.handed.send_replace(u64::MAX);
        backlog.slow = Some(Slow {
            dropped,
            notified: false,
        });
        tracing::warn!(
            ns = self.path(),
            %sid,
            reason = reason.as_str(),
            backlog_bytes = bytes,
            dropped,
            "slow consumer: dropping its backlog and disconnecting it"
        );
        self.handles().backlog_bytes.decrement(bytes as f64);
        metrics::counter!(SLOW_CONSUMER_DISCONNECTS_TOTAL, LABEL_NS => self.label(), LABEL_REASON => reason.as_str())
            .increment(1);
        if dropped > 0 {
            self.count_dropped("slow_consumer", dropped);
        }
    }

    /// Marks `sid` a slow consumer from outside a broadcast (an acknowledgement that found its
    /// queue full) and starts the task that disconnects it.
    fn mark_slow(&self, sid: Sid, reason: SlowReason) {
        let mut backlogs = self.backlogs.lock().unwrap_or_else(|e| e.into_inner());
        let start = !backlogs.contains_key(&sid);
        let backlog = backlogs.entry(sid).or_insert_with(Backlog::new);
        self.make_slow(sid, backlog, reason);
        if let Some(slow) = &mut backlog.slow {
            slow.dropped += 1;
        }
        self.backlogged.store(backlogs.len(), Ordering::Release);
        drop(backlogs);
        if start && let Some(this) = self.this.get().cloned() {
            tokio::spawn(drain(this, sid));
        }
    }

    /// One pass over the backlog of `sid`; `false` once there is nothing left to do.
    fn drain_once(&self, sid: Sid, delay: &mut Duration) -> bool {
        let mut backlogs = self.backlogs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(backlog) = backlogs.get_mut(&sid) else {
            return false;
        };
        let step = if !self.is_connected(sid) {
            // Gone (disconnected, or closed by the heartbeat): what it did not get is dropped.
            self.epochs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&sid);
            let dropped = backlog.queue.len() as u64;
            if dropped > 0 {
                tracing::debug!(ns = self.path(), %sid, dropped, "socket left with a backlog");
                self.count_dropped("disconnected", dropped);
            }
            Step::Done
        } else if let Some(slow) = &mut backlog.slow {
            self.notify(sid, slow)
        } else if self.flush(sid, backlog, delay) {
            Step::Done
        } else {
            Step::Again
        };
        match step {
            Step::Again => true,
            // Removed under the same lock: a sender that found the backlog has queued into it,
            // and one that comes next sends directly.
            Step::Done => {
                tracing::trace!(ns = self.path(), %sid, "backlog done");
                self.remove(&mut backlogs, sid);
                false
            }
            Step::Disconnect => {
                // The disconnection runs the socket's disconnect handlers: not under the lock.
                // Nothing is queued for a slow consumer meanwhile, so nothing can be lost.
                drop(backlogs);
                let done = match self.local.disconnect_socket(single(sid)) {
                    Ok(()) => true,
                    Err(errors) => errors.iter().all(|e| matches!(e, SocketError::Closed)),
                };
                if done {
                    let mut backlogs = self.backlogs.lock().unwrap_or_else(|e| e.into_inner());
                    self.remove(&mut backlogs, sid);
                }
                !done
            }
        }
    }

    /// Forgets the backlog of `sid`, releasing every sender still waiting on it.
    fn remove(&self, backlogs: &mut HashMap<Sid, Backlog>, sid: Sid) {
        if let Some(backlog) = backlogs.remove(&sid) {
            if let Some(slow) = &backlog.slow {
                tracing::warn!(
                    ns = self.path(),
                    %sid,
                    dropped = slow.dropped,
                    notified = slow.notified,
                    "slow consumer gone"
                );
            }
            backlog.handed.send_replace(u64::MAX);
            if backlog.bytes > 0 {
                self.handles().backlog_bytes.decrement(backlog.bytes as f64);
            }
        }
        self.backlogged.store(backlogs.len(), Ordering::Release);
    }

    /// Hands over what the socket's queue has room for; `true` when the backlog has been
    /// empty for [`STICKY`].
    fn flush(&self, sid: Sid, backlog: &mut Backlog, delay: &mut Duration) -> bool {
        *delay = REFILL_INTERVAL;
        let now = Instant::now();
        if backlog.queue.is_empty() {
            let since = *backlog.empty_since.get_or_insert(now);
            return now.duration_since(since) >= STICKY;
        }
        let near_ping = self
            .epochs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&sid)
            .is_some_and(|h| h.near_ping(now));
        if near_ping {
            tracing::trace!(ns = self.path(), %sid, "heartbeat due: not refilling");
            // Leave the queue room for the ping; the stall clock keeps running.
            if backlog.last_progress.elapsed() > self.config.max_stall {
                self.make_slow(sid, backlog, SlowReason::Stalled);
            }
            return false;
        }
        let mut handed = 0u64;
        let mut handed_bytes = 0usize;
        let mut last = None;
        while let Some(front) = backlog.queue.front() {
            match self.hand_over(sid, front.packet.clone()) {
                Ok(()) => {
                    let front = backlog.queue.pop_front().expect("front exists");
                    backlog.bytes -= front.bytes;
                    handed_bytes += front.bytes;
                    handed += 1;
                    last = Some(front.seq);
                }
                Err(SocketError::InternalChannelFull) => break,
                Err(SocketError::Closed) => return true,
            }
        }
        if let Some(seq) = last {
            backlog.handed.send_replace(seq);
            backlog.last_progress = Instant::now();
            let handles = self.handles();
            handles.sent.increment(handed);
            handles.backlog_bytes.decrement(handed_bytes as f64);
        }
        // Refilling at once would keep the connection queue full, and engine.io closes a
        // connection whose queue is full when its heartbeat ping is due. Between refills the
        // client reads the queue down; it is full only for a moment after each refill, and
        // never around a ping.
        if backlog.queue.is_empty() {
            backlog.empty_since = Some(Instant::now());
            return false;
        }
        if backlog.last_progress.elapsed() > self.config.max_stall {
            self.make_slow(sid, backlog, SlowReason::Stalled);
        }
        false
    }

    /// Tells a slow consumer why it is being disconnected, once its queue has room.
    fn notify(&self, sid: Sid, slow: &mut Slow) -> Step {
        if slow.notified {
            return Step::Disconnect;
        }
        let notice = serde_json::json!({ "reason": "slow_consumer", "dropped": slow.dropped });
        let value = match self
            .local
            .parser()
            .encode_value(&notice, Some(SLOW_CONSUMER_EVENT))
        {
            Ok(value) => value,
            Err(error) => {
                tracing::error!(%error, "could not encode the slow-consumer notice");
                return Step::Disconnect;
            }
        };
        match self.hand_over(sid, Packet::event(self.path().to_owned(), value)) {
            Ok(()) => {
                slow.notified = true;
                Step::Disconnect
            }
            Err(SocketError::InternalChannelFull) => Step::Again,
            Err(SocketError::Closed) => Step::Done,
        }
    }
}

/// What a drain pass leaves to do once the lock is released.
enum Step {
    Again,
    Done,
    Disconnect,
}

/// How often a backlog is handed over to its connection's queue.
const REFILL_INTERVAL: Duration = Duration::from_millis(50);

/// How long an emptied backlog stays, taking the socket's new packets, before the socket is
/// sent to directly again.
const STICKY: Duration = Duration::from_secs(1);

/// A sender waits for its packet to be handed over only behind a backlog of more packets than
/// this; below it, the backlog absorbs the burst.
const HIGH_WATER_PACKETS: usize = 256;

/// Drains the backlog of `sid` until it is empty, the socket is gone, or it has been evicted.
async fn drain(this: Weak<InMemory>, sid: Sid) {
    let mut delay = REFILL_INTERVAL;
    loop {
        tokio::time::sleep(delay).await;
        let Some(adapter) = this.upgrade() else {
            return;
        };
        if !adapter.drain_once(sid, &mut delay) {
            return;
        }
    }
}

thread_local! {
    /// Set by a broadcast that had to wait for a backlog, during the first poll of a handler.
    static PRESSURE: std::cell::Cell<Option<Duration>> = const { std::cell::Cell::new(None) };
}

/// Watches the first poll of a handler, on the task that reads the client's messages, for a
/// broadcast that had to wait for a backlogged socket.
pub(crate) struct Pressure(());

impl Pressure {
    /// Starts watching the current thread.
    pub(crate) fn watch() -> Self {
        PRESSURE.with(|p| p.set(None));
        Pressure(())
    }

    /// How long the sender may be held, if a broadcast asked for it since [`watch`](Self::watch).
    pub(crate) fn take(self) -> Option<Duration> {
        PRESSURE.with(|p| p.take())
    }
}

/// Runs the rest of a handler whose broadcast waits for a backlog before the connection's next
/// message is read, for at most `limit`; then lets it finish in the background.
///
/// socketioxide reads a connection's messages and calls the handlers synchronously, so the only
/// way to stop reading from a sender is not to return. On a multi-threaded runtime the reading
/// task hands its worker over (`block_in_place`) and waits; the client's further messages wait
/// in the TCP window, which is the backpressure the sender sees. On a current-thread runtime
/// the handler finishes in the background and the sender is not slowed.
pub(crate) fn hold_sender<F>(mut fut: std::pin::Pin<Box<F>>, limit: Duration)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        tokio::spawn(fut);
        return;
    }
    let finished = tokio::task::block_in_place(|| {
        handle.block_on(async { tokio::time::timeout(limit, fut.as_mut()).await.is_ok() })
    });
    if !finished {
        tokio::spawn(fut);
    }
}

/// Waits until each queued packet is handed over or its backlog is finished.
async fn wait_all(waits: Vec<Wait>, limit: Duration) {
    let all = async {
        for mut wait in waits {
            let seq = wait.seq;
            let _ = wait.handed.wait_for(|handed| *handed >= seq).await;
        }
    };
    // A backlog finishes within `max_stall` of its last progress; the limit only guards
    // against a drain task that could not run.
    let _ = tokio::time::timeout(limit, all).await;
}

/// Why [`emit_to`] could not take a message.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The data could not be serialized.
    #[error("the message could not be serialized: {0}")]
    Serialize(#[from] socketioxide_core::parser::ParserError),
    /// The socket is not connected (any more) to a namespace on the [`InMemory`] adapter.
    #[error("socket {0} is not connected to a namespace on switchboard's in-memory adapter")]
    NotConnected(Sid),
}

/// Sends `event` with `data` to one socket with the delivery guarantee of a broadcast: in order
/// with every other message for that socket, behind its backlog if it has one, or dropped and
/// counted if it is a slow consumer (which is then disconnected with the reason).
///
/// `socket.emit(..)` writes to the connection's queue directly and, when the queue is full,
/// returns `InternalChannelFull` and sends nothing; use this where that is not acceptable.
/// Like a broadcast, it waits while the socket is far behind (backpressure).
///
/// ```
/// use switchboard::prelude::*;
///
/// struct Counter;
///
/// #[switchboard::namespace("/count")]
/// impl Counter {
///     #[on_connect]
///     async fn count(&self, socket: SocketRef) {
///         for n in 0..5000 {
///             // More than a connection queue holds: none is lost.
///             switchboard::delivery::emit_to(&socket, "n", &n).await.ok();
///         }
///     }
/// }
/// # let _ = Switchboard::builder().namespace(Counter);
/// ```
pub async fn emit_to<T: serde::Serialize + ?Sized>(
    socket: &socketioxide::extract::SocketRef<InMemory>,
    event: &str,
    data: &T,
) -> Result<(), EmitError> {
    let sid = socket.id;
    let adapter = adapters_of(socket.ns())
        .into_iter()
        .find(|a| a.is_connected(sid))
        .ok_or(EmitError::NotConnected(sid))?;
    let value = adapter.local.parser().encode_value(data, Some(event))?;
    let packet = Packet::event(socket.ns().to_owned(), value);
    let waits = adapter.deliver(&packet, vec![sid]);
    if !waits.is_empty() {
        wait_all(waits, adapter.config.wait_limit()).await;
    }
    Ok(())
}

/// Every live [`InMemory`] adapter by namespace path, to route what a socket's own path
/// cannot reach (an acknowledgement that found the queue full).
static ADAPTERS: Mutex<Vec<(String, Weak<InMemory>)>> = Mutex::new(Vec::new());

fn register(adapter: &Arc<InMemory>) {
    let mut all = ADAPTERS.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|(_, a)| a.strong_count() > 0);
    all.push((adapter.path().to_owned(), Arc::downgrade(adapter)));
}

/// An acknowledgement to `sid` in `ns` could not be queued because the connection's queue is
/// full: the socket is a slow consumer. Does nothing for sockets on other adapters.
pub(crate) fn ack_undeliverable(ns: &str, sid: Sid) {
    for adapter in adapters_of(ns) {
        if adapter.is_connected(sid) {
            adapter.count_dropped("slow_consumer", 1);
            adapter.mark_slow(sid, SlowReason::Ack);
        }
    }
}

/// Every [`InMemory`] adapter of namespace `ns`.
fn adapters_of(ns: &str) -> Vec<Arc<InMemory>> {
    let all = ADAPTERS.lock().unwrap_or_else(|e| e.into_inner());
    all.iter()
        .filter(|(path, _)| path == ns)
        .filter_map(|(_, a)| a.upgrade())
        .collect()
}

/// A socket connected to `ns`: remembers when its session began (from its handshake request,
/// stamped by switchboard's layer), for the heartbeat guard.
pub(crate) fn track(ns: &str, label: &str, sid: Sid, handshake: &http::request::Parts) {
    let handshake = handshake.extensions.get::<Handshake>();
    for adapter in adapters_of(ns) {
        if adapter.label.get().is_none() {
            let _ = adapter.label.set(label.to_owned());
        }
        let Some(handshake) = handshake else {
            continue;
        };
        let mut epochs = adapter.epochs.lock().unwrap_or_else(|e| e.into_inner());
        epochs.insert(sid, *handshake);
    }
    tracing::trace!(ns, %sid, stamped = handshake.is_some(), "socket tracked");
}

/// A socket left `ns`.
pub(crate) fn untrack(ns: &str, sid: Sid) {
    for adapter in adapters_of(ns) {
        let mut epochs = adapter.epochs.lock().unwrap_or_else(|e| e.into_inner());
        epochs.remove(&sid);
    }
}

impl CoreAdapter<Emitter> for InMemory {
    type Error = std::convert::Infallible;
    type State = DeliveryConfig;
    type AckStream = <Emitter as SocketEmitter>::AckStream;
    type InitRes = ();

    fn new(state: &DeliveryConfig, local: CoreLocalAdapter<Emitter>) -> Self {
        Self {
            local,
            config: *state,
            backlogs: Mutex::new(HashMap::new()),
            backlogged: AtomicUsize::new(0),
            this: OnceLock::new(),
            epochs: Mutex::new(HashMap::new()),
            label: OnceLock::new(),
            handles: OnceLock::new(),
        }
    }

    fn init(self: Arc<Self>, on_success: impl FnOnce() + Send + 'static) {
        let _ = self.this.set(Arc::downgrade(&self));
        register(&self);
        on_success();
    }

    async fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> Result<(), BroadcastError> {
        if opts.has_flag(BroadcastFlags::Volatile) {
            // Volatile: may be dropped by definition.
            return self
                .local
                .broadcast(packet, opts)
                .map_err(BroadcastError::from);
        }
        let sids = self.local.sockets(opts);
        let waits = self.deliver(&packet, sids);
        if !waits.is_empty() {
            PRESSURE.with(|p| p.set(Some(self.config.wait_limit())));
            wait_all(waits, self.config.wait_limit()).await;
        }
        Ok(())
    }

    async fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        timeout: Option<Duration>,
    ) -> Result<Self::AckStream, Self::Error> {
        // A packet that cannot be queued surfaces to the caller as that socket's ack error.
        Ok(self.local.broadcast_with_ack(packet, opts, timeout).0)
    }

    fn get_local(&self) -> &CoreLocalAdapter<Emitter> {
        &self.local
    }
}

impl DefinedAdapter for InMemory {}

impl crate::adapter::sealed::Sealed for InMemory {}

impl crate::adapter::ReadyAdapter for InMemory {
    async fn ready(_init: (), _namespace: &str) -> Result<(), crate::BuildError> {
        Ok(())
    }
}

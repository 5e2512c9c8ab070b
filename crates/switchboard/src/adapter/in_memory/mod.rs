//! [`InMemory`], switchboard's default room adapter: socketioxide's in-memory rooms, with
//! every message delivered in order or the client told why not.
//!
//! socketioxide puts each packet in a per-connection engine.io queue and, when that queue is
//! full, drops it with an error that names no socket; engine.io also closes a session whose
//! queue is full when its heartbeat ping is due. `InMemory` keeps every queue short of full:
//!
//! - it counts what it puts in each queue and learns what the client has read through
//!   [marks](mark), so it knows an upper bound of each queue's length ([`outbox`]);
//! - while no socket of the namespace is behind, a broadcast is socketioxide's own (the
//!   payload encoded once, shared by every socket), plus one counter per socket;
//! - a socket whose queue holds [`DeliveryConfig::max_in_flight`] packets gets a backlog: its
//!   packets wait, in order, and the namespace's one drain task ([`drain`]) hands them over as
//!   marks show the client reading. Acks and direct emits go through the same backlog;
//! - a backlog past its bounds makes the socket a slow consumer: told, then disconnected.
//!
//! Nothing here waits for a client: a sender is never slowed by a reader, and no runtime
//! thread is ever blocked.
mod drain;
mod mark;
mod outbox;
mod shared;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, OnceLock, RwLock, Weak,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use socketioxide::adapter::Emitter;
use socketioxide_core::{
    Sid,
    adapter::{
        BroadcastFlags, BroadcastOptions, CoreAdapter, CoreLocalAdapter, DefinedAdapter,
        SocketEmitter,
        errors::{BroadcastError, SocketError},
    },
    packet::Packet,
    parser::Parse,
};
use tokio::sync::Notify;

pub use shared::DeliveryState;

use crate::{
    delivery::{DeliveryConfig, SLOW_CONSUMER_EVENT},
    metrics::{
        BACKLOG_BYTES, LABEL_NS, LABEL_REASON, MESSAGES_DROPPED_TOTAL, MESSAGES_SENT_TOTAL,
        SLOW_CONSUMER_DISCONNECTS_TOTAL,
    },
};
use outbox::{Backlog, Outbox, Queued, Slow, SlowReason, packet_bytes};
use shared::Shared;

/// The in-memory room adapter with switchboard's delivery guarantee; the default adapter of
/// [`Switchboard::builder`](crate::Switchboard::builder). Rooms work as in socketioxide's
/// `LocalAdapter`; delivery is described in [`crate::delivery`] and `docs/delivery.md`.
///
/// Its state ([`DeliveryState`]) belongs to one server and is shared by its namespaces.
pub struct InMemory {
    local: CoreLocalAdapter<Emitter>,
    shared: Arc<Shared>,
    /// The namespace's sockets, by id; written when one connects or disconnects.
    outboxes: RwLock<HashMap<Sid, Arc<Outbox>, foldhash::fast::FixedState>>,
    /// The sockets with a backlog (or on their way out as slow consumers): the drain's list.
    backlogged: Mutex<Vec<Arc<Outbox>>>,
    /// `backlogged.len()`, read on every broadcast without the lock.
    backlogged_count: AtomicUsize,
    /// Wakes the namespace's drain task.
    wake: Arc<Notify>,
    drain_started: AtomicBool,
    this: OnceLock<Weak<InMemory>>,
    /// Whether marks work with this namespace's parser (see [`mark::attachments_pass_through`]).
    marks_work: bool,
    /// The `ns` label of this namespace's metrics and its hot handles, bound on first use.
    metrics: OnceLock<Metrics>,
    label: OnceLock<String>,
}

/// The metric handles a broadcast touches, resolved once per namespace.
struct Metrics {
    sent: metrics::Counter,
    backlog_bytes: metrics::Gauge,
    /// Every message for a slow consumer lands here: kept bound rather than looked up.
    dropped_slow: metrics::Counter,
}

/// What became of one packet for one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// In the socket's queue.
    Sent,
    /// In the socket's backlog, behind what was there before it.
    Queued,
    /// Dropped and counted: the socket is a slow consumer.
    SlowConsumer,
    /// The socket is leaving the namespace.
    Closed,
}

/// How long a drain pass may leave a backlog alone when nothing wakes it: the stall clock's
/// resolution.
const DRAIN_TICK: Duration = Duration::from_millis(100);

/// How many packets the queue may take beyond [`DeliveryConfig::max_in_flight`] while a
/// socket is being switched to its backlog by concurrent broadcasts, and what the builder
/// keeps free above it in the queue (`max_buffer_size`).
pub(crate) const QUEUE_SLACK: usize = 64;

fn single(sid: Sid) -> BroadcastOptions {
    BroadcastOptions::new(sid)
}

impl InMemory {
    fn path(&self) -> &str {
        self.local.path()
    }

    fn config(&self) -> &DeliveryConfig {
        &self.shared.config
    }

    fn window(&self) -> u64 {
        self.config().max_in_flight as u64
    }

    /// A mark goes in once this many packets are unconfirmed.
    fn mark_every(&self) -> u64 {
        (self.window() / 8).max(1)
    }

    fn label(&self) -> String {
        self.label
            .get()
            .cloned()
            .unwrap_or_else(|| self.path().to_owned())
    }

    fn metrics(&self) -> &Metrics {
        self.metrics.get_or_init(|| Metrics {
            sent: metrics::counter!(MESSAGES_SENT_TOTAL, LABEL_NS => self.label()),
            backlog_bytes: metrics::gauge!(BACKLOG_BYTES, LABEL_NS => self.label()),
            dropped_slow: metrics::counter!(MESSAGES_DROPPED_TOTAL, LABEL_NS => self.label(), LABEL_REASON => "slow_consumer"),
        })
    }

    fn count_dropped(&self, reason: &'static str, n: u64) {
        metrics::counter!(MESSAGES_DROPPED_TOTAL, LABEL_NS => self.label(), LABEL_REASON => reason)
            .increment(n);
    }

    /// A socket joined the namespace (registered by `label`, its path pattern).
    pub(crate) fn register(&self, sid: Sid, label: &str) -> Arc<Outbox> {
        if self.label.get().is_none() {
            let _ = self.label.set(label.to_owned());
        }
        let outbox = Arc::new(Outbox::new(sid));
        self.outboxes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sid, outbox.clone());
        outbox
    }

    /// A socket left the namespace: what it did not get is dropped and counted. Once only;
    /// later calls do nothing.
    pub(crate) fn unregister(&self, outbox: &Arc<Outbox>) {
        let mut backlog = outbox.lock();
        if backlog.gone {
            return;
        }
        backlog.gone = true;
        {
            let mut outboxes = self.outboxes.write().unwrap_or_else(|e| e.into_inner());
            // A new socket never reuses an id; only remove this one's entry.
            if outboxes
                .get(&outbox.sid)
                .is_some_and(|o| Arc::ptr_eq(o, outbox))
            {
                outboxes.remove(&outbox.sid);
            }
        }
        let dropped = backlog.queue.len() as u64;
        if dropped > 0 {
            tracing::debug!(ns = self.path(), sid = %outbox.sid, dropped, "socket left with a backlog");
            self.count_dropped("disconnected", dropped);
        }
        self.clear(&mut backlog);
        if let Some(slow) = &backlog.slow {
            tracing::warn!(
                ns = self.path(),
                sid = %outbox.sid,
                reason = slow.reason.as_str(),
                dropped = slow.dropped,
                notified = slow.notified,
                "slow consumer gone"
            );
        }
        if outbox.is_backlogged() {
            outbox.set_backlogged(&backlog, false);
            self.forget_backlogged(outbox);
        }
    }

    /// Empties a backlog's queue and gives its bytes back to the budget.
    fn clear(&self, backlog: &mut Backlog) {
        backlog.queue.clear();
        if backlog.bytes > 0 {
            self.shared
                .total_bytes
                .fetch_sub(backlog.bytes, Ordering::Relaxed);
            self.metrics().backlog_bytes.decrement(backlog.bytes as f64);
            backlog.bytes = 0;
        }
    }

    fn backlogged_list(&self) -> Vec<Arc<Outbox>> {
        self.backlogged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn forget_backlogged(&self, outbox: &Arc<Outbox>) {
        let mut list = self.backlogged.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|o| !Arc::ptr_eq(o, outbox));
        self.backlogged_count.store(list.len(), Ordering::Release);
    }

    /// Puts `packet` in the socket's queue, counted. Only for a socket whose bound leaves room.
    fn hand_over(&self, outbox: &Outbox, packet: Packet) -> Delivered {
        outbox.count_sent();
        match self.local.broadcast(packet, single(outbox.sid)) {
            Ok(()) => {
                self.metrics().sent.increment(1);
                Delivered::Sent
            }
            Err(errors) => {
                outbox.uncount_sent();
                self.send_errors(&errors);
                Delivered::Closed
            }
        }
    }

    /// Accounts for the sockets a send did not reach.
    fn send_errors(&self, errors: &[SocketError]) {
        let full = errors
            .iter()
            .filter(|e| matches!(e, SocketError::InternalChannelFull))
            .count() as u64;
        let closed = errors.len() as u64 - full;
        if closed > 0 {
            tracing::debug!(
                ns = self.path(),
                closed,
                "a send skipped sockets that are closing"
            );
            self.count_dropped("closed", closed);
        }
        if full > 0 {
            // Only packets sent around switchboard (socketioxide's own `socket.emit`, an
            // `AckSender`) can fill a queue that switchboard keeps short of full.
            tracing::error!(
                ns = self.path(),
                full,
                "a connection queue was full: something sends to these sockets around switchboard's delivery (socket.emit, AckSender); use switchboard::delivery::emit_to and handler return values"
            );
            self.count_dropped("queue_full", full);
        }
    }

    /// Sends a mark to the socket if none is in its queue.
    fn send_mark(&self, outbox: &Arc<Outbox>) {
        if !self.marks_work || !outbox.claim_mark() {
            return;
        }
        let position = outbox.count_sent();
        let packet = mark::packet(self.local.path().clone(), outbox, position, &self.wake);
        if let Err(errors) = self.local.broadcast(packet, single(outbox.sid)) {
            // The mark was not queued; dropping it confirmed nothing (the outbox is past it).
            outbox.uncount_sent();
            outbox.release_mark();
            self.send_errors(&errors);
        }
    }

    /// The fast path, while no socket of the namespace has a backlog: socketioxide's own
    /// broadcast, the payload encoded once, plus one count per socket.
    fn broadcast_shared(&self, packet: Packet, opts: BroadcastOptions) {
        let sids = self.local.sockets(opts.clone());
        if sids.is_empty() {
            return;
        }
        let (window, mark_every) = (self.window(), self.mark_every());
        let mut full = Vec::new();
        let mut marks = Vec::new();
        {
            let outboxes = self.outboxes.read().unwrap_or_else(|e| e.into_inner());
            for sid in &sids {
                let Some(outbox) = outboxes.get(sid) else {
                    continue;
                };
                let in_flight = outbox.in_flight_at(outbox.count_sent());
                if in_flight >= window {
                    full.push(outbox.clone());
                } else if in_flight >= mark_every && !outbox.mark_pending() {
                    marks.push(outbox.clone());
                }
            }
        }
        let failed = match self.local.broadcast(packet, opts) {
            Ok(()) => 0,
            Err(errors) => {
                self.send_errors(&errors);
                errors.len()
            }
        };
        self.metrics()
            .sent
            .increment((sids.len() - failed.min(sids.len())) as u64);
        for outbox in &marks {
            self.send_mark(outbox);
        }
        for outbox in &full {
            // It took this packet within the slack; the next ones wait in its backlog.
            self.send_mark(outbox);
            let mut backlog = outbox.lock();
            self.enter_backlog(outbox, &mut backlog);
        }
    }

    /// The careful path, while some socket of the namespace has a backlog: socket by socket.
    fn broadcast_each(&self, packet: &Packet, opts: BroadcastOptions) {
        let sids = self.local.sockets(opts);
        let outboxes: Vec<Option<Arc<Outbox>>> = {
            let all = self.outboxes.read().unwrap_or_else(|e| e.into_inner());
            sids.iter().map(|sid| all.get(sid).cloned()).collect()
        };
        for (sid, outbox) in sids.into_iter().zip(outboxes) {
            match outbox {
                Some(outbox) => {
                    self.send(&outbox, packet.clone());
                }
                None => {
                    if let Err(errors) = self.local.broadcast(packet.clone(), single(sid)) {
                        self.send_errors(&errors);
                    }
                }
            }
        }
    }

    /// One packet to one socket, in order with everything else switchboard sends it.
    pub(crate) fn send(&self, outbox: &Arc<Outbox>, packet: Packet) -> Delivered {
        if !self.marks_work {
            return self.hand_over(outbox, packet);
        }
        if outbox.is_backlogged() || outbox.in_flight() >= self.window() {
            let mut backlog = outbox.lock();
            if outbox.is_backlogged() {
                return self.push(outbox, &mut backlog, packet);
            }
            if outbox.in_flight() >= self.window() {
                self.enter_backlog(outbox, &mut backlog);
                return self.push(outbox, &mut backlog, packet);
            }
        }
        let delivered = self.hand_over(outbox, packet);
        if outbox.in_flight() >= self.mark_every() && !outbox.mark_pending() {
            self.send_mark(outbox);
        }
        delivered
    }

    /// Switches the socket to its backlog (with its backlog locked).
    fn enter_backlog(
        &self,
        outbox: &Arc<Outbox>,
        backlog: &mut std::sync::MutexGuard<'_, Backlog>,
    ) {
        if outbox.is_backlogged() || backlog.gone {
            return;
        }
        outbox.set_backlogged(backlog, true);
        {
            let mut list = self.backlogged.lock().unwrap_or_else(|e| e.into_inner());
            list.push(outbox.clone());
            self.backlogged_count.store(list.len(), Ordering::Release);
        }
        tracing::debug!(ns = self.path(), sid = %outbox.sid, "connection queue at its bound: backlogging");
        self.start_drain();
        self.wake.notify_one();
    }

    /// Queues `packet` in a backlog, or drops it if the socket is a slow consumer.
    fn push(&self, outbox: &Outbox, backlog: &mut Backlog, packet: Packet) -> Delivered {
        if backlog.gone {
            return Delivered::Closed;
        }
        if let Some(slow) = &mut backlog.slow {
            slow.dropped += 1;
            self.metrics().dropped_slow.increment(1);
            return Delivered::SlowConsumer;
        }
        let bytes = packet_bytes(&packet);
        if backlog.bytes + bytes > self.config().max_backlog_bytes {
            self.make_slow(outbox, backlog, SlowReason::Bytes);
            if let Some(slow) = &mut backlog.slow {
                slow.dropped += 1;
            }
            self.metrics().dropped_slow.increment(1);
            return Delivered::SlowConsumer;
        }
        backlog.bytes += bytes;
        backlog.queue.push_back(Queued {
            packet,
            bytes,
            at: Instant::now(),
        });
        self.metrics().backlog_bytes.increment(bytes as f64);
        let total = self.shared.total_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if total > self.config().max_total_backlog_bytes {
            // The drain cuts the largest backlog of the server.
            self.wake.notify_one();
        }
        Delivered::Queued
    }

    /// Makes the socket a slow consumer: its backlog is dropped and counted, and it will be
    /// told and disconnected by the drain.
    fn make_slow(&self, outbox: &Outbox, backlog: &mut Backlog, reason: SlowReason) {
        if backlog.slow.is_some() {
            return;
        }
        let dropped = backlog.queue.len() as u64;
        let bytes = backlog.bytes;
        self.clear(backlog);
        backlog.slow = Some(Slow {
            reason,
            dropped,
            since: Instant::now(),
            notified: false,
        });
        tracing::warn!(
            ns = self.path(),
            sid = %outbox.sid,
            reason = reason.as_str(),
            backlog_bytes = bytes,
            dropped,
            "slow consumer: dropping its backlog and disconnecting it"
        );
        metrics::counter!(SLOW_CONSUMER_DISCONNECTS_TOTAL, LABEL_NS => self.label(), LABEL_REASON => reason.as_str())
            .increment(1);
        if dropped > 0 {
            self.metrics().dropped_slow.increment(dropped);
        }
        self.wake.notify_one();
    }

    /// This namespace's backlog to cut first for the budget: the one whose client has gone
    /// longest without reading, the largest among equals; with that time, its bytes and id.
    fn stalest_backlog(&self) -> Option<(Instant, usize, Arc<Outbox>)> {
        // The list is copied first: a backlog is never locked while the list is.
        self.backlogged_list()
            .into_iter()
            .filter_map(|o| {
                let (slow, bytes) = {
                    let backlog = o.lock();
                    (backlog.slow.is_some(), backlog.bytes)
                };
                (!slow && bytes > 0).then(|| (o.read_at(), bytes, o))
            })
            .min_by_key(|(at, bytes, _)| (*at, std::cmp::Reverse(*bytes)))
    }

    /// Cuts `outbox` because the server's backlogs are over their budget. Its backlog is then
    /// empty, so the budget's loop moves on to the next one.
    fn cut_for_budget(&self, outbox: &Outbox) {
        let mut backlog = outbox.lock();
        self.make_slow(outbox, &mut backlog, SlowReason::Budget);
    }

    /// The slow-consumer notice, as a packet for this namespace.
    fn notice(&self, slow: &Slow) -> Option<Packet> {
        let notice = serde_json::json!({
            "reason": "slow_consumer",
            "cause": slow.reason.as_str(),
            "dropped": slow.dropped,
        });
        match self
            .local
            .parser()
            .encode_value(&notice, Some(SLOW_CONSUMER_EVENT))
        {
            Ok(value) => Some(Packet::event(self.local.path().clone(), value)),
            Err(error) => {
                tracing::error!(%error, "could not encode the slow-consumer notice");
                None
            }
        }
    }

    fn start_drain(&self) {
        if self.drain_started.swap(true, Ordering::AcqRel) {
            return;
        }
        if let (Some(this), Ok(runtime)) = (
            self.this.get().cloned(),
            tokio::runtime::Handle::try_current(),
        ) {
            runtime.spawn(drain::run(this, self.wake.clone()));
        } else {
            self.drain_started.store(false, Ordering::Release);
        }
    }

    /// Waits until what is in the backlogs of `sids` now has been handed over (or dropped),
    /// for at most `max_stall`: an acknowledged broadcast is sent directly by socketioxide,
    /// and must not overtake what waits for these sockets.
    async fn wait_for_backlogs(&self, sids: &[Sid]) {
        let deadline = tokio::time::Instant::now() + self.config().max_stall;
        let waiting: Vec<Arc<Outbox>> = {
            let all = self.outboxes.read().unwrap_or_else(|e| e.into_inner());
            sids.iter()
                .filter_map(|sid| all.get(sid))
                .filter(|o| o.is_backlogged())
                .cloned()
                .collect()
        };
        for outbox in waiting {
            while outbox.is_backlogged() && {
                let backlog = outbox.lock();
                !backlog.queue.is_empty() && backlog.slow.is_none() && !backlog.gone
            } {
                if tokio::time::Instant::now() >= deadline {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

impl Drop for InMemory {
    fn drop(&mut self) {
        // Lets the drain task see that its namespace is gone.
        self.wake.notify_one();
    }
}

impl CoreAdapter<Emitter> for InMemory {
    type Error = std::convert::Infallible;
    type State = DeliveryState;
    type AckStream = <Emitter as SocketEmitter>::AckStream;
    type InitRes = ();

    fn new(state: &DeliveryState, local: CoreLocalAdapter<Emitter>) -> Self {
        let marks_work = mark::attachments_pass_through(local.parser());
        if !marks_work {
            tracing::error!(
                ns = %local.path(),
                "this parser copies binary attachments: switchboard cannot tell how far its clients have read, and delivers without its guarantee"
            );
        }
        Self {
            local,
            shared: state.0.clone(),
            outboxes: RwLock::new(HashMap::default()),
            backlogged: Mutex::new(Vec::new()),
            backlogged_count: AtomicUsize::new(0),
            wake: Arc::new(Notify::new()),
            drain_started: AtomicBool::new(false),
            this: OnceLock::new(),
            marks_work,
            metrics: OnceLock::new(),
            label: OnceLock::new(),
        }
    }

    fn init(self: Arc<Self>, on_success: impl FnOnce() + Send + 'static) {
        let _ = self.this.set(Arc::downgrade(&self));
        self.shared.add_namespace(&self);
        on_success();
    }

    async fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> Result<(), BroadcastError> {
        if opts.has_flag(BroadcastFlags::Volatile) || !self.marks_work {
            // Volatile: may be dropped by definition, and bypasses the queue.
            return self
                .local
                .broadcast(packet, opts)
                .map_err(BroadcastError::from);
        }
        if self.backlogged_count.load(Ordering::Acquire) == 0 {
            self.broadcast_shared(packet, opts);
        } else {
            self.broadcast_each(&packet, opts);
        }
        Ok(())
    }

    async fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        timeout: Option<Duration>,
    ) -> Result<Self::AckStream, Self::Error> {
        let sids = self.local.sockets(opts.clone());
        if self.backlogged_count.load(Ordering::Acquire) > 0 {
            self.wait_for_backlogs(&sids).await;
        }
        {
            let all = self.outboxes.read().unwrap_or_else(|e| e.into_inner());
            for outbox in sids.iter().filter_map(|sid| all.get(sid)) {
                outbox.count_sent();
            }
        }
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

/// A socket's way to its namespace's [`InMemory`] adapter, kept with the socket's connection
/// state from connect to disconnect.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) adapter: Arc<InMemory>,
    pub(crate) outbox: Arc<Outbox>,
}

impl Link {
    /// Links a socket that just connected, if its namespace is on [`InMemory`].
    pub(crate) fn connect<A: socketioxide::adapter::Adapter>(
        socket: &Arc<socketioxide::socket::Socket<A>>,
        label: &str,
    ) -> Option<Link> {
        use socketioxide::{extract::State, handler::FromConnectParts};
        let State(state) = State::<DeliveryState>::from_connect_parts(socket, &None).ok()?;
        let adapter = state.0.namespace(socket.ns())?;
        let outbox = adapter.register(socket.id, label);
        Some(Link { adapter, outbox })
    }

    /// The socket's link, while it is connected.
    pub(crate) fn of<A: socketioxide::adapter::Adapter>(
        socket: &socketioxide::socket::Socket<A>,
    ) -> Option<Link> {
        crate::namespace::link(socket)
    }

    /// Sends `packet` to the socket in order with everything else switchboard sends it.
    pub(crate) fn send(&self, packet: Packet) -> Delivered {
        self.adapter.send(&self.outbox, packet)
    }

    /// The socket left: forgets it.
    pub(crate) fn disconnect(&self) {
        self.adapter.unregister(&self.outbox);
    }

    /// Encodes `data` with the namespace's parser.
    pub(crate) fn encode<T: serde::Serialize + ?Sized>(
        &self,
        data: &T,
        event: Option<&str>,
    ) -> Result<socketioxide_core::Value, socketioxide_core::parser::ParserError> {
        self.adapter.local.parser().encode_value(data, event)
    }

    /// The namespace's path, for packets to the socket.
    pub(crate) fn ns(&self) -> socketioxide_core::Str {
        self.adapter.local.path().clone()
    }
}

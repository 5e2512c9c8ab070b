//! One socket's outbox: how much of its engine.io queue switchboard has filled, and the
//! backlog that waits when the queue is as full as switchboard lets it get.
use std::{
    collections::VecDeque,
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Instant,
};

use socketioxide_core::{
    Sid, Value,
    packet::{Packet, PacketData},
};

/// One socket's delivery state, shared by the namespace's adapter and the socket.
pub(crate) struct Outbox {
    pub(crate) sid: Sid,
    /// Packets switchboard put in the socket's engine.io queue, marks included.
    sent: AtomicU64,
    /// Of those, how many are known to have left the queue (see [`super::mark`]).
    confirmed: AtomicU64,
    /// A mark is in the queue and has not been taken yet.
    mark_pending: AtomicBool,
    /// Whether packets for this socket go through its backlog; changed only with `backlog`
    /// locked, read without it on the way in.
    backlogged: AtomicBool,
    backlog: Mutex<Backlog>,
    /// When the outbox was made, and how long after that a mark was last taken (ms): when the
    /// client last read. The budget cuts the client that has not read for longest first.
    born: Instant,
    read_at_ms: AtomicU64,
}

/// What waits for one socket while its queue is as full as switchboard lets it get.
#[derive(Default)]
pub(crate) struct Backlog {
    pub(crate) queue: VecDeque<Queued>,
    /// Payload bytes in `queue`.
    pub(crate) bytes: usize,
    /// Set once the socket is a slow consumer: nothing is queued for it any more.
    pub(crate) slow: Option<Slow>,
    /// The socket has left the namespace.
    pub(crate) gone: bool,
}

/// A packet waiting in a backlog.
pub(crate) struct Queued {
    pub(crate) packet: Packet,
    pub(crate) bytes: usize,
    pub(crate) at: Instant,
}

/// A slow consumer on its way out.
pub(crate) struct Slow {
    pub(crate) reason: SlowReason,
    /// Messages it will never receive.
    pub(crate) dropped: u64,
    /// Since when it is a slow consumer.
    pub(crate) since: Instant,
    /// Whether the notice is in its queue.
    pub(crate) notified: bool,
}

/// Why a socket became a slow consumer: the `reason` of the notice, the log and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlowReason {
    /// Its backlog passed [`DeliveryConfig::max_backlog_bytes`](crate::DeliveryConfig).
    Bytes,
    /// Its oldest waiting packet passed [`DeliveryConfig::max_stall`](crate::DeliveryConfig).
    Stalled,
    /// Its client had read least recently when the server's backlogs passed
    /// [`DeliveryConfig::max_total_backlog_bytes`](crate::DeliveryConfig).
    Budget,
}

impl SlowReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SlowReason::Bytes => "backlog_bytes",
            SlowReason::Stalled => "stalled",
            SlowReason::Budget => "memory_budget",
        }
    }
}

impl Outbox {
    pub(crate) fn new(sid: Sid) -> Self {
        Self {
            sid,
            // The CONNECT packet socketioxide sent before the socket was tracked.
            sent: AtomicU64::new(1),
            confirmed: AtomicU64::new(0),
            mark_pending: AtomicBool::new(false),
            backlogged: AtomicBool::new(false),
            backlog: Mutex::new(Backlog::default()),
            born: Instant::now(),
            read_at_ms: AtomicU64::new(0),
        }
    }

    /// An upper bound on the packets switchboard has in the socket's queue.
    pub(crate) fn in_flight(&self) -> u64 {
        self.sent
            .load(Ordering::Acquire)
            .saturating_sub(self.confirmed.load(Ordering::Acquire))
    }

    /// Counts one packet about to be put in the queue; returns its position (the new `sent`).
    pub(crate) fn count_sent(&self) -> u64 {
        self.sent.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The bound on the queue's length once the packet at `position` is in it.
    pub(crate) fn in_flight_at(&self, position: u64) -> u64 {
        position.saturating_sub(self.confirmed.load(Ordering::Acquire))
    }

    /// Takes back a count for a packet that was not put in the queue after all.
    pub(crate) fn uncount_sent(&self) {
        self.sent.fetch_sub(1, Ordering::AcqRel);
    }

    /// Everything up to `position` has left the queue.
    pub(crate) fn confirm(&self, position: u64) {
        let since_born = self.born.elapsed().as_millis() as u64;
        self.read_at_ms.store(since_born, Ordering::Relaxed);
        self.confirmed.fetch_max(position, Ordering::AcqRel);
        self.mark_pending.store(false, Ordering::Release);
    }

    /// Claims the right to send the next mark: false if one is already in the queue.
    pub(crate) fn claim_mark(&self) -> bool {
        !self.mark_pending.swap(true, Ordering::AcqRel)
    }

    /// Gives the claim back when the mark could not be sent.
    pub(crate) fn release_mark(&self) {
        self.mark_pending.store(false, Ordering::Release);
    }

    pub(crate) fn mark_pending(&self) -> bool {
        self.mark_pending.load(Ordering::Acquire)
    }

    /// When the client was last seen reading (or connected).
    pub(crate) fn read_at(&self) -> Instant {
        self.born + std::time::Duration::from_millis(self.read_at_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn is_backlogged(&self) -> bool {
        self.backlogged.load(Ordering::Acquire)
    }

    pub(crate) fn set_backlogged(&self, _locked: &MutexGuard<'_, Backlog>, on: bool) {
        self.backlogged.store(on, Ordering::Release);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Backlog> {
        self.backlog.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The size of a packet as the backlog bounds count it: its payload, attachments included,
/// and a fixed overhead.
pub(crate) fn packet_bytes(packet: &Packet) -> usize {
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

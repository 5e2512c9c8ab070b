//! Delivery: every socket receives every message addressed to it, in order, or is disconnected
//! as a slow consumer, with a reason it can read and a count of what it missed.
//!
//! socketioxide hands each packet to a per-connection queue of
//! [`max_buffer_size`](crate::SwitchboardBuilder::max_buffer_size) packets and, when that queue
//! is full, drops the packet with an error that names no socket; engine.io also closes a
//! connection whose queue is full when its heartbeat ping is due. [`InMemory`], the room
//! adapter of [`Switchboard::builder`](crate::Switchboard::builder), never lets a queue fill:
//!
//! 1. It keeps at most [`DeliveryConfig::max_in_flight`] of its packets in a connection's
//!    queue. It knows how many are there because it counts what it puts in, and learns what
//!    the client has read from small marks it slips into the stream (acknowledgements no
//!    client asked for, which the official clients ignore).
//! 2. While every socket of a namespace is within that bound, a broadcast is socketioxide's
//!    own: the payload is encoded once and shared by every socket.
//! 3. A socket at the bound gets a *backlog*: its messages wait in order (sharing the payload
//!    with every other socket), and the namespace's drain task hands them over as the client
//!    reads. Acknowledgements and [`emit_to`] go through the same backlog, so everything the
//!    socket is sent keeps one order. Nothing waits for it: not the sender, not the room.
//! 4. A backlog past [`DeliveryConfig::max_backlog_bytes`], or whose oldest message is older
//!    than [`DeliveryConfig::max_stall`], or the one whose client read least recently when the server's
//!    backlogs pass [`DeliveryConfig::max_total_backlog_bytes`], makes the socket a *slow
//!    consumer*: its
//!    backlog is dropped and counted, and as soon as its queue has room it receives
//!    [`SLOW_CONSUMER_EVENT`] (`{ reason, dropped }`), then a disconnect once it has read it
//!    (`io server disconnect` on the client). A client that reads nothing more is disconnected
//!    after `max_stall`.
//!
//! Every drop is logged (warn) and counted in `switchboard_messages_dropped_total{ns,reason}`;
//! `docs/delivery.md` gives the exact semantics and what stays outside them.
use std::time::Duration;

use socketioxide_core::{Sid, packet::Packet};

use crate::adapter::in_memory::{Delivered, Link};
pub use crate::adapter::in_memory::{DeliveryState, InMemory};

/// Default of [`DeliveryConfig::max_backlog_bytes`]: 4 MiB per socket.
pub const DEFAULT_MAX_BACKLOG_BYTES: usize = 4 << 20;

/// Default of [`DeliveryConfig::max_total_backlog_bytes`]: 64 MiB for the whole server.
pub const DEFAULT_MAX_TOTAL_BACKLOG_BYTES: usize = 64 << 20;

/// Default of [`DeliveryConfig::max_stall`]: 10 s.
pub const DEFAULT_MAX_STALL: Duration = Duration::from_secs(10);

/// Default of [`DeliveryConfig::max_in_flight`]: 256 packets.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// The event a slow consumer receives just before it is disconnected, with
/// `{ "reason": "slow_consumer", "cause": <why>, "dropped": <messages it missed until then> }`;
/// `cause` is `backlog_bytes`, `stalled` or `memory_budget` (see [`DeliveryConfig`]).
pub const SLOW_CONSUMER_EVENT: &str = "switchboard:slow_consumer";

/// Bounds on what the server keeps for sockets that read slower than they are sent to.
///
/// ```
/// use std::time::Duration;
/// use switchboard::{DeliveryConfig, Switchboard};
///
/// let builder = Switchboard::builder().delivery(DeliveryConfig {
///     max_backlog_bytes: 1 << 20,
///     max_stall: Duration::from_secs(5),
///     ..DeliveryConfig::default()
/// });
/// # let _ = builder;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Most packets switchboard keeps in a connection's engine.io queue; past it, messages wait
    /// in the socket's backlog. A heartbeat ping waits behind at most this many packets, so
    /// keep it below what the slowest client you serve reads in a ping timeout (256 packets
    /// take 5 s at 50 messages/s; engine.io's ping timeout is 20 s).
    /// [`max_buffer_size`](crate::SwitchboardBuilder::max_buffer_size) must be at least this
    /// plus 64.
    pub max_in_flight: usize,
    /// Largest backlog of one socket, in bytes of encoded payload, before it is a slow
    /// consumer.
    pub max_backlog_bytes: usize,
    /// Largest total of every backlog of the server; past it, the socket whose client has gone
    /// longest without reading (the largest backlog among equals) is a slow consumer, then the
    /// next, until the total fits.
    pub max_total_backlog_bytes: usize,
    /// Oldest a message may get in a backlog before the socket is a slow consumer; also how
    /// long a slow consumer has to read its notice.
    pub max_stall: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_backlog_bytes: DEFAULT_MAX_BACKLOG_BYTES,
            max_total_backlog_bytes: DEFAULT_MAX_TOTAL_BACKLOG_BYTES,
            max_stall: DEFAULT_MAX_STALL,
        }
    }
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
    /// The socket is a slow consumer: the message was dropped and counted, and the socket is
    /// being disconnected with the reason.
    #[error("socket {0} is a slow consumer being disconnected: the message was dropped")]
    SlowConsumer(Sid),
}

/// Sends `event` with `data` to one socket with the delivery guarantee of a broadcast: in order
/// with every other message for that socket (broadcasts, acknowledgements), behind its backlog
/// if it has one, or dropped and counted if it is a slow consumer (which is then disconnected
/// with the reason). It never waits for the client.
///
/// `socket.emit(..)` writes to the connection's queue directly: it overtakes a backlog and,
/// when the queue is full, returns `InternalChannelFull` and sends nothing. Use this instead.
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
///             switchboard::delivery::emit_to(&socket, "n", &n).ok();
///         }
///     }
/// }
/// # let _ = Switchboard::builder().namespace(Counter);
/// ```
pub fn emit_to<T: serde::Serialize + ?Sized>(
    socket: &socketioxide::extract::SocketRef<InMemory>,
    event: &str,
    data: &T,
) -> Result<(), EmitError> {
    let link = Link::of(socket).ok_or(EmitError::NotConnected(socket.id))?;
    let value = link.encode(data, Some(event))?;
    match link.send(Packet::event(link.ns(), value)) {
        Delivered::Sent | Delivered::Queued => Ok(()),
        Delivered::SlowConsumer => Err(EmitError::SlowConsumer(socket.id)),
        Delivered::Closed => Err(EmitError::NotConnected(socket.id)),
    }
}

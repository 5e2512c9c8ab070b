//! Marks: how switchboard learns that a socket's client has read what was sent to it.
//!
//! socketioxide tells a sender only whether a socket's engine.io queue had a free slot at the
//! moment of sending; it never says how full the queue is, and engine.io closes a session
//! whose queue is full when its heartbeat ping is due. So switchboard counts what it puts in
//! each queue itself and, every so often, puts in a *mark*: a socket.io binary acknowledgement
//! with an id no client ever uses (the official clients ignore an acknowledgement they did not
//! ask for). Its one-byte attachment travels through socketioxide untouched, as a
//! [`Bytes`] that switchboard owns, and is dropped when engine.io's writer takes it out of the
//! queue (written to the websocket, or into a polling response). The drop records that every
//! packet sent before the mark has left the queue.
//!
//! That gives a bound on each queue's length that is never too low, so switchboard can stop
//! adding to a queue before it fills and the heartbeat ping always finds a slot.
use std::{
    collections::VecDeque,
    sync::{Arc, Weak},
};

use bytes::Bytes;
use socketioxide_core::{Str, Value, packet::Packet};
use tokio::sync::Notify;

use super::outbox::Outbox;

/// The acknowledgement id of a mark: `Number.MAX_SAFE_INTEGER`, which a client's own
/// acknowledgement counter (starting at 0, one per emit) never reaches.
pub(crate) const MARK_ACK_ID: i64 = 9_007_199_254_740_991;

/// The JSON part of a mark: one placeholder for its binary attachment.
const MARK_DATA: &str = "[{\"_placeholder\":true,\"num\":0}]";

/// The attachment's owner: dropped when engine.io's writer has taken the mark.
struct Taken {
    outbox: Weak<Outbox>,
    /// The outbox's `sent` count once the mark was counted: everything up to it has left the
    /// queue when the mark has.
    position: u64,
    /// The namespace's drain, woken when a backlogged socket can take more.
    wake: Weak<Notify>,
}

impl AsRef<[u8]> for Taken {
    fn as_ref(&self) -> &[u8] {
        &[0]
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        let Some(outbox) = self.outbox.upgrade() else {
            return;
        };
        outbox.confirm(self.position);
        if outbox.is_backlogged()
            && let Some(wake) = self.wake.upgrade()
        {
            wake.notify_one();
        }
    }
}

/// A mark for `outbox`, in namespace `ns`, at `position`.
pub(crate) fn packet(ns: Str, outbox: &Arc<Outbox>, position: u64, wake: &Arc<Notify>) -> Packet {
    let taken = Taken {
        outbox: Arc::downgrade(outbox),
        position,
        wake: Arc::downgrade(wake),
    };
    let attachment = Bytes::from_owner(taken);
    Packet::ack(
        ns,
        Value::Str(Str::from(MARK_DATA), Some(VecDeque::from([attachment]))),
        MARK_ACK_ID,
    )
}

/// Whether the namespace's parser passes binary attachments through without copying them, so
/// that a mark's drop means what it says. The common (JSON) parser does; a parser that copies
/// them (msgpack) would make every mark count as read at once.
pub(crate) fn attachments_pass_through(parser: impl socketioxide_core::parser::Parse) -> bool {
    let probe = Bytes::from_static(&[0]);
    let packet = Packet::ack(
        "/",
        Value::Str(Str::from(MARK_DATA), Some(VecDeque::from([probe.clone()]))),
        MARK_ACK_ID,
    );
    match parser.encode(packet) {
        Value::Str(_, Some(bins)) => bins.front().is_some_and(|b| b.as_ptr() == probe.as_ptr()),
        _ => false,
    }
}

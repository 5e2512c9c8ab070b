//! The drain: one task per namespace that hands backlogs over as their clients read, and
//! tells and disconnects slow consumers.
//!
//! It sleeps until something wakes it (a socket gets a backlog, a backlogged socket's mark is
//! taken, a backlog passes the server's budget) and, while any backlog exists, at least every
//! [`DRAIN_TICK`](super::DRAIN_TICK), which is how often the stall clock is read.
use std::sync::{Arc, Weak};

use tokio::sync::Notify;

use socketioxide_core::adapter::errors::SocketError;

use super::{DRAIN_TICK, Delivered, InMemory, Outbox, SlowReason, single};
use crate::adapter::in_memory::outbox::Backlog;

/// The drain task of one namespace; ends when the namespace's adapter is dropped.
pub(super) async fn run(this: Weak<InMemory>, wake: Arc<Notify>) {
    loop {
        let busy = match this.upgrade() {
            Some(adapter) => adapter.drain_pass(),
            None => return,
        };
        if busy {
            let _ = tokio::time::timeout(DRAIN_TICK, wake.notified()).await;
        } else {
            wake.notified().await;
        }
    }
}

/// What a slow consumer needs next.
enum Step {
    Wait,
    Disconnect,
}

impl InMemory {
    /// One pass over the namespace's backlogs; true while some remain.
    fn drain_pass(&self) -> bool {
        let mut disconnect = Vec::new();
        for outbox in self.backlogged_list() {
            let mut backlog = outbox.lock();
            if backlog.gone {
                continue;
            }
            let step = if backlog.slow.is_some() {
                self.advance_slow(&outbox, &mut backlog)
            } else {
                if self.refill(&outbox, &mut backlog) {
                    // Empty: the socket is sent to directly again.
                    outbox.set_backlogged(&backlog, false);
                    self.forget_backlogged(&outbox);
                    tracing::trace!(ns = self.path(), sid = %outbox.sid, "backlog drained");
                }
                Step::Wait
            };
            drop(backlog);
            if let Step::Disconnect = step {
                disconnect.push(outbox);
            }
        }
        // Disconnecting runs the socket's disconnect handlers: no lock is held here.
        for outbox in disconnect {
            if let Err(errors) = self.local.disconnect_socket(single(outbox.sid)) {
                if errors
                    .iter()
                    .any(|e| matches!(e, SocketError::InternalChannelFull))
                {
                    // Only a queue filled around switchboard; the next pass tries again.
                    continue;
                }
                tracing::debug!(ns = self.path(), sid = %outbox.sid, ?errors, "slow consumer already closing");
            }
            // Its disconnect handler has forgotten it already, unless the application replaced
            // that handler.
            self.unregister(&outbox);
        }
        if self.shared.over_budget() {
            self.shared.enforce_budget();
        }
        self.backlogged_count
            .load(std::sync::atomic::Ordering::Acquire)
            > 0
    }

    /// Hands over what the socket's queue has room for; true once the backlog is empty.
    fn refill(&self, outbox: &Arc<Outbox>, backlog: &mut Backlog) -> bool {
        let (window, mark_every) = (self.window(), self.mark_every());
        let mut bytes = 0;
        while outbox.in_flight() < window {
            let Some(front) = backlog.queue.pop_front() else {
                break;
            };
            bytes += front.bytes;
            if self.hand_over(outbox, front.packet) == Delivered::Closed {
                // Leaving: the disconnect handler drops and counts the rest.
                break;
            }
            if outbox.in_flight() >= mark_every && !outbox.mark_pending() {
                self.send_mark(outbox);
            }
        }
        if bytes > 0 {
            backlog.bytes -= bytes;
            self.shared
                .total_bytes
                .fetch_sub(bytes, std::sync::atomic::Ordering::Relaxed);
            self.metrics().backlog_bytes.decrement(bytes as f64);
        }
        let Some(oldest) = backlog.queue.front() else {
            // A burst may have grown the queue to thousands of slots: give them back.
            backlog.queue = std::collections::VecDeque::new();
            return true;
        };
        // A mark in the queue wakes this drain when the client reads.
        if !outbox.mark_pending() {
            self.send_mark(outbox);
        }
        if oldest.at.elapsed() > self.config().max_stall {
            self.make_slow(outbox, backlog, SlowReason::Stalled);
        }
        false
    }

    /// Puts the slow-consumer notice in the socket's queue; the namespace DISCONNECT follows it
    /// there, so a client that reads on gets both, in order, whatever was in its queue before.
    /// The notice may take a slot of the queue's slack: nothing else is sent to the socket.
    fn advance_slow(&self, outbox: &Arc<Outbox>, backlog: &mut Backlog) -> Step {
        let Some(slow) = &mut backlog.slow else {
            return Step::Wait;
        };
        if !slow.notified {
            match self.notice(slow) {
                Some(packet) => match self.hand_over(outbox, packet) {
                    Delivered::Sent => slow.notified = true,
                    // Its queue was filled around switchboard: the next pass tries again,
                    // unless the socket has been waiting longer than `max_stall`.
                    _ if slow.since.elapsed() <= self.config().max_stall => return Step::Wait,
                    _ => {}
                },
                None => slow.notified = true,
            }
        }
        Step::Disconnect
    }
}

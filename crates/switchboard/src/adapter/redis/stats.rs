//! Counters of the Redis room adapter: what crossed instances and what could not.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A snapshot of the Redis adapter's counters, from [`RedisConnection::stats`].
///
/// The counters only grow (from the moment [`RedisConfig::connect`] returned) and are shared by
/// every namespace. While Redis is unreachable the server keeps serving its own clients: every
/// broadcast, room change or disconnect still happens on this instance, and the part meant for
/// other instances is counted in [`publish_failures`](Self::publish_failures) (and logged)
/// instead of being sent.
///
/// [`RedisConnection::stats`]: super::RedisConnection::stats
/// [`RedisConfig::connect`]: super::RedisConfig::connect
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RedisStats {
    /// Whether the connection to Redis is up right now.
    pub connected: bool,
    /// Messages published to other instances (requests, broadcasts, responses).
    pub published: u64,
    /// Messages for other instances that could not be published: Redis unreachable or too
    /// slow. Each is a broadcast, room change, disconnect or query that reached this
    /// instance's sockets only.
    pub publish_failures: u64,
    /// Queries of the number of instances that failed; the operation (`fetch_sockets`,
    /// `rooms`, `emit_with_ack`) then answered with this instance's sockets only.
    pub query_failures: u64,
    /// Messages received from other instances.
    pub received: u64,
    /// Messages received from Redis but dropped: the namespace's queue was full (a burst
    /// larger than `RedisConfig::with_stream_buffer`) or no namespace listened on the channel.
    pub dropped: u64,
    /// Times the connection to Redis was lost.
    pub disconnects: u64,
    /// Times it was re-established after a loss (subscriptions restored).
    pub reconnects: u64,
}

/// The live counters behind [`RedisStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connected: AtomicBool,
    pub(crate) published: AtomicU64,
    pub(crate) publish_failures: AtomicU64,
    pub(crate) query_failures: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) disconnects: AtomicU64,
    pub(crate) reconnects: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> RedisStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RedisStats {
            connected: self.connected.load(Ordering::Relaxed),
            published: get(&self.published),
            publish_failures: get(&self.publish_failures),
            query_failures: get(&self.query_failures),
            received: get(&self.received),
            dropped: get(&self.dropped),
            disconnects: get(&self.disconnects),
            reconnects: get(&self.reconnects),
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

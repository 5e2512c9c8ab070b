//! The pub/sub driver under socketioxide-redis: a self-healing connection that degrades to
//! this instance's sockets while Redis is away.
//!
//! socketioxide-redis ships a driver on a plain multiplexed connection. That connection never
//! comes back once Redis drops it, and a failed `PUBLISH` makes socketioxide-redis return
//! before it delivers a broadcast to the local sockets, so an outage would silence every room
//! on every instance, for good. This driver is what switchboard gives the adapter instead:
//!
//! - it runs on the `redis` crate's `ConnectionManager`, which reconnects with backoff and
//!   re-subscribes every channel on the new connection;
//! - a health task pings Redis, so the link comes back even when nothing is being published,
//!   and tracks whether it is up;
//! - a publish is queued, not awaited: one task sends the queue in order, in pipelined
//!   batches. A broadcast then costs the handler no round trip to Redis, and the messages of
//!   one socket leave in the order its events arrived (socketioxide-redis would otherwise run
//!   the publishes of concurrent handlers in any order);
//! - a message that cannot be published (link down, queue full, Redis error) is counted and
//!   logged, and reported to socketioxide-redis as sent, so that it goes on to serve the local
//!   sockets at once; while the link is down, a query of the number of instances answers
//!   "this one only", so `fetch_sockets`, `rooms` and `emit_with_ack` answer with local
//!   sockets instead of failing (also counted).
use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{
        Arc, PoisonError, RwLock, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use redis::{PushInfo, PushKind, aio::ConnectionManager};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

use super::{
    error::RedisError,
    stats::{Counters, RedisStats},
};

type Handlers = RwLock<HashMap<String, mpsc::Sender<ChanItem>>>;

/// How often an outage is reported again while it lasts.
const OUTAGE_REPORT_EVERY: Duration = Duration::from_secs(10);

/// The driver switchboard gives socketioxide-redis; see [`RedisAdapter`](super::RedisAdapter).
///
/// Cloning shares the connection, as socketioxide-redis requires.
#[derive(Clone)]
pub struct RedisDriver {
    shared: Arc<Shared>,
}

struct Shared {
    conn: ConnectionManager,
    link: Arc<Link>,
    handlers: Arc<Handlers>,
    outbox: mpsc::Sender<(String, Vec<u8>)>,
    command_timeout: Duration,
}

/// Messages waiting to be published before new ones are refused (and counted).
pub(crate) const OUTBOX_CAPACITY: usize = 16 * 1024;
/// Most `PUBLISH`es sent in one pipeline.
const BATCH: usize = 256;

/// Whether Redis is reachable, the counters, and the log lines about both.
pub(crate) struct Link {
    pub(crate) url: String,
    pub(crate) counters: Counters,
    /// Publish failures when the current outage began (for the summary when it ends).
    failures_at_outage: AtomicU64,
}

impl Link {
    pub(crate) fn new(url: String) -> Self {
        let link = Self {
            url,
            counters: Counters::default(),
            failures_at_outage: AtomicU64::new(0),
        };
        link.counters.connected.store(true, Ordering::Relaxed);
        link
    }

    fn is_up(&self) -> bool {
        self.counters.connected.load(Ordering::Relaxed)
    }

    fn mark_down(&self, reason: &dyn std::fmt::Display) {
        if self.counters.connected.swap(false, Ordering::Relaxed) {
            Counters::bump(&self.counters.disconnects);
            self.failures_at_outage.store(
                self.counters.publish_failures.load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
            tracing::warn!(
                url = %self.url,
                %reason,
                "lost the connection to Redis: serving this instance's clients only, \
                 reconnecting in the background"
            );
        }
    }

    fn mark_up(&self) {
        if !self.counters.connected.swap(true, Ordering::Relaxed) {
            Counters::bump(&self.counters.reconnects);
            let missed = self.counters.publish_failures.load(Ordering::Relaxed)
                - self.failures_at_outage.load(Ordering::Relaxed);
            tracing::warn!(
                url = %self.url,
                missed,
                "reconnected to Redis: cross-instance operations resume; \
                 {missed} message(s) for other instances were not delivered during the outage"
            );
        }
    }

    /// `count` messages for other instances were not published; `why` is logged as a warning
    /// when given (otherwise the outage was already reported).
    fn publish_failed(&self, count: u64, why: Option<&dyn std::fmt::Display>) {
        let total = self
            .counters
            .publish_failures
            .fetch_add(count, Ordering::Relaxed)
            + count;
        match why {
            Some(why) => tracing::warn!(
                url = %self.url, %why, count, failures = total,
                "messages for other instances were not published; local sockets were served"
            ),
            None => tracing::debug!(
                url = %self.url, count, failures = total,
                "Redis is unreachable: messages for other instances were not published"
            ),
        }
    }

    fn query_failed(&self, error: Option<&redis::RedisError>) {
        let n = Counters::bump(&self.counters.query_failures);
        match error {
            Some(error) => tracing::warn!(
                url = %self.url, %error, failures = n,
                "could not count the instances; answering with this instance's sockets only"
            ),
            None => tracing::debug!(
                url = %self.url, failures = n,
                "Redis is unreachable; answering with this instance's sockets only"
            ),
        }
    }

    fn on_error(&self, error: &redis::RedisError) {
        if error.is_io_error()
            || error.is_timeout()
            || error.is_connection_dropped()
            || error.is_unrecoverable_error()
        {
            self.mark_down(error);
        }
    }
}

impl RedisDriver {
    /// Connects the managed connection; `conn_config` gets the push handler added here.
    pub(crate) async fn connect(
        client: redis::Client,
        conn_config: redis::aio::ConnectionManagerConfig,
        link: Arc<Link>,
        command_timeout: Duration,
        health_interval: Duration,
    ) -> Result<Self, RedisError> {
        let handlers: Arc<Handlers> = Arc::default();
        let push = {
            let (handlers, link) = (handlers.clone(), link.clone());
            move |msg: PushInfo| {
                on_push(msg, &handlers, &link);
                Ok::<(), Infallible>(())
            }
        };
        let config = conn_config
            .set_push_sender(push)
            .set_automatic_resubscription();
        let url = link.url.clone();
        let conn = tokio::time::timeout(
            command_timeout.saturating_mul(4),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| RedisError::Timeout {
            url: url.clone(),
            after: command_timeout.saturating_mul(4),
        })?
        .map_err(|source| RedisError::Unreachable { url, source })?;
        let (outbox, queue) = mpsc::channel(OUTBOX_CAPACITY);
        tokio::spawn(publisher(queue, conn.clone(), link.clone()));
        let shared = Arc::new(Shared {
            conn,
            link,
            handlers,
            outbox,
            command_timeout,
        });
        tokio::spawn(watch(Arc::downgrade(&shared), health_interval));
        Ok(Self { shared })
    }

    pub(crate) fn stats(&self) -> RedisStats {
        self.shared.link.counters.snapshot()
    }

    pub(crate) fn url(&self) -> &str {
        &self.shared.link.url
    }
}

impl std::fmt::Debug for RedisDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDriver")
            .field("url", &self.shared.link.url)
            .field("connected", &self.shared.link.is_up())
            .finish_non_exhaustive()
    }
}

/// Routes a message from Redis to the namespace listening on its channel.
fn on_push(msg: PushInfo, handlers: &Handlers, link: &Link) {
    match msg.kind {
        PushKind::Disconnection => link.mark_down(&"the connection was closed"),
        PushKind::Message => {
            let mut data = msg.data.into_iter();
            let (Some(chan), Some(payload)) = (data.next(), data.next()) else {
                return;
            };
            let (Ok(chan), Ok(payload)) = (
                redis::from_redis_value::<String>(chan),
                redis::from_redis_value::<Vec<u8>>(payload),
            ) else {
                tracing::warn!(url = %link.url, "unreadable pub/sub message from Redis");
                Counters::bump(&link.counters.dropped);
                return;
            };
            let handlers = handlers.read().unwrap_or_else(PoisonError::into_inner);
            let Some(tx) = handlers.get(&chan) else {
                Counters::bump(&link.counters.dropped);
                tracing::warn!(url = %link.url, chan, "message on a channel nobody listens to");
                return;
            };
            match tx.try_send((chan, payload)) {
                Ok(()) => {
                    Counters::bump(&link.counters.received);
                }
                Err(error) => {
                    let n = Counters::bump(&link.counters.dropped);
                    tracing::warn!(
                        url = %link.url, %error, dropped = n,
                        "a message from another instance was dropped: the namespace's queue is \
                         full (raise RedisConfig::with_stream_buffer)"
                    );
                }
            }
        }
        _ => {}
    }
}

/// Pings Redis every `interval` while the driver lives: detects an outage, drives the
/// reconnection even when nothing is published, and notices when Redis is back.
async fn watch(shared: Weak<Shared>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_report = Instant::now();
    loop {
        ticker.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let mut conn = shared.conn.clone();
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<()>(&mut conn);
        match tokio::time::timeout(shared.command_timeout, ping).await {
            Ok(Ok(())) => shared.link.mark_up(),
            Ok(Err(error)) => shared.link.mark_down(&error),
            Err(_) => shared.link.mark_down(&format_args!(
                "no answer to PING within {:?}",
                shared.command_timeout
            )),
        }
        if !shared.link.is_up() && last_report.elapsed() >= OUTAGE_REPORT_EVERY {
            last_report = Instant::now();
            let stats = shared.link.counters.snapshot();
            tracing::warn!(
                url = %shared.link.url,
                publish_failures = stats.publish_failures,
                query_failures = stats.query_failures,
                "Redis is still unreachable: serving this instance's clients only"
            );
        }
    }
}

/// Publishes the queued messages in order, as pipelines of up to [`BATCH`]; ends when the
/// driver is dropped.
async fn publisher(
    mut queue: mpsc::Receiver<(String, Vec<u8>)>,
    mut conn: ConnectionManager,
    link: Arc<Link>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let count = batch.len() as u64;
        if !link.is_up() {
            link.publish_failed(count, None);
            batch.clear();
            continue;
        }
        let mut pipe = redis::pipe();
        for (chan, payload) in batch.drain(..) {
            pipe.cmd("PUBLISH").arg(chan).arg(payload).ignore();
        }
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => {
                link.counters.published.fetch_add(count, Ordering::Relaxed);
            }
            Err(error) => {
                link.on_error(&error);
                link.publish_failed(count, Some(&error));
            }
        }
    }
}

impl Driver for RedisDriver {
    type Error = RedisError;

    /// Queues the message; reported as sent even when it cannot be, since socketioxide-redis
    /// would otherwise skip this instance's own sockets (the failure is counted and logged).
    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        let link = &self.shared.link;
        if !link.is_up() {
            link.publish_failed(1, None);
            return Ok(());
        }
        match self.shared.outbox.try_send((chan, val)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => link.publish_failed(
                1,
                Some(&format_args!(
                    "{OUTBOX_CAPACITY} messages are already waiting for Redis"
                )),
            ),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                link.publish_failed(1, Some(&"the publisher task has stopped"))
            }
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        // Listen before subscribing, so that no message can arrive without a receiver.
        self.shared
            .handlers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(chan.clone(), tx);
        let mut conn = self.shared.conn.clone();
        if let Err(source) = conn.subscribe(&chan).await {
            self.shared
                .handlers
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&chan);
            self.shared.link.on_error(&source);
            return Err(RedisError::Subscribe {
                url: self.shared.link.url.clone(),
                channel: chan,
                source,
            });
        }
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.shared
            .handlers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&chan);
        let mut conn = self.shared.conn.clone();
        conn.unsubscribe(&chan)
            .await
            .map_err(|source| RedisError::Command {
                url: self.shared.link.url.clone(),
                command: "UNSUBSCRIBE",
                source,
            })
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let link = &self.shared.link;
        if !link.is_up() {
            link.query_failed(None);
            return Ok(1);
        }
        let mut conn = self.shared.conn.clone();
        let count = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(chan)
            .query_async::<(String, u16)>(&mut conn)
            .await;
        match count {
            // This instance subscribes to the channel too: never fewer than one.
            Ok((_, count)) => Ok(count.max(1)),
            Err(error) => {
                link.on_error(&error);
                link.query_failed(Some(&error));
                Ok(1)
            }
        }
    }
}

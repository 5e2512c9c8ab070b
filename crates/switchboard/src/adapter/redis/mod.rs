//! The Redis room adapter (cargo feature `redis`): rooms and broadcasts shared by every
//! instance connected to one Redis.
//!
//! The adapter is socketioxide-redis's; switchboard gives it a driver that survives Redis
//! outages (see below) and a configuration read from a URL. Every namespace of the
//! switchboard gets its own set of pub/sub channels, so nothing crosses namespaces. How to run
//! several instances behind a load balancer, and what is guaranteed across them, is in
//! `docs/clustering.md`.
//!
//! ```no_run
//! use switchboard::prelude::*;
//! use switchboard::redis::RedisConfig;
//!
//! struct Sports;
//!
//! #[switchboard::namespace("/sports")]
//! impl Sports {
//!     #[on_connect]
//!     async fn welcome<A: Adapter>(&self, socket: SocketRef<A>) {
//!         socket.join("soccer");
//!         // Reaches the room's members on every instance.
//!         let _ = socket.within("soccer").emit("message", "Hello soccer fans!").await;
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Fails with a `RedisError` naming the URL when Redis cannot be reached.
//! let redis = RedisConfig::from_url("redis://127.0.0.1:6379")?.connect().await?;
//! let (layer, io) = Switchboard::builder_redis(&redis)
//!     .namespace(Sports)
//!     .build_layer_async() // waits until every namespace is subscribed
//!     .await?;
//! let app: axum::Router = axum::Router::new().layer(layer);
//! // `redis.stats()` at any time: connected, messages published, failures, reconnects.
//! # let _ = (app, io); Ok(())
//! # }
//! ```
//!
//! # When Redis goes away
//!
//! Unreachable at start-up, [`RedisConfig::connect`] fails with a [`RedisError`] naming the URL
//! (its password hidden). Lost while running:
//!
//! - the server keeps serving its own clients: a broadcast, a room change or a disconnect
//!   still happens on this instance; the message for the other instances is not sent, and is
//!   counted in [`RedisStats::publish_failures`] and logged (a warning when the outage begins,
//!   every 10 s while it lasts, and with the number of messages lost when it ends);
//! - `fetch_sockets`, `rooms` and `emit_with_ack` answer with this instance's sockets
//!   (counted in [`RedisStats::query_failures`]);
//! - the connection is re-established in the background (exponential backoff, at most
//!   [`RedisConfig::with_max_reconnect_delay`] between attempts, plus a health check every
//!   [`RedisConfig::with_health_check_interval`]), the channels are subscribed again, and
//!   cross-instance operations resume, within about a second of Redis answering again.
//!
//! Messages published while an instance was disconnected are not replayed: Redis pub/sub
//! keeps nothing.
mod driver;
mod error;
mod stats;

use std::{borrow::Cow, time::Duration};

use redis::{IntoConnectionInfo, ProtocolVersion};
use socketioxide::adapter::Emitter;
use socketioxide_redis::{CustomRedisAdapter, InitError, RedisAdapterConfig, RedisAdapterCtr};

pub use driver::RedisDriver;
pub use error::RedisError;
pub use stats::RedisStats;

/// The `redis` crate, re-exported: the type of [`RedisError`]'s sources.
pub use redis as redis_client;
/// socketioxide-redis, re-exported: the adapter's own types and configuration.
pub use socketioxide_redis;

use crate::{BuildError, Switchboard, SwitchboardBuilder, adapter::ReadyAdapter};

/// The Redis room adapter, as switchboard builds it: the type parameter of a clustered
/// switchboard (`SocketIo<RedisAdapter>`, `SocketRef<RedisAdapter>`).
pub type RedisAdapter = CustomRedisAdapter<Emitter, RedisDriver>;

/// Where Redis is and how to talk to it; [`connect`](Self::connect) turns it into a
/// [`RedisConnection`].
///
/// Every setting has a production default; the URL is the only thing to give.
#[derive(Debug, Clone)]
#[must_use = "a RedisConfig does nothing until `connect` is called"]
pub struct RedisConfig {
    url: String,
    info: redis::ConnectionInfo,
    prefix: Cow<'static, str>,
    request_timeout: Duration,
    connect_timeout: Duration,
    command_timeout: Duration,
    health_interval: Duration,
    max_reconnect_delay: Duration,
    stream_buffer: usize,
}

impl RedisConfig {
    /// Reads `url`: `redis://[user:password@]host[:port][/db]` (or `rediss://` when the
    /// `redis` crate has TLS enabled). The connection always uses RESP3, which the adapter
    /// needs (Redis 6 or newer; Valkey).
    pub fn from_url(url: &str) -> Result<Self, RedisError> {
        let shown = error::redact(url);
        let invalid = |source| RedisError::InvalidUrl {
            url: shown.clone(),
            source,
        };
        let info = url.into_connection_info().map_err(invalid)?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let info = info.set_redis_settings(settings);
        Ok(Self {
            url: shown,
            info,
            prefix: Cow::Borrowed("socket.io"),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(2),
            health_interval: Duration::from_millis(500),
            max_reconnect_delay: Duration::from_secs(1),
            stream_buffer: 1024,
        })
    }

    /// The prefix of the pub/sub channels (default `socket.io`). Instances share rooms only
    /// with instances of the same prefix: give each application its own on a shared Redis.
    pub fn with_prefix(mut self, prefix: impl Into<Cow<'static, str>>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a query of other instances (`fetch_sockets`, `rooms`, the acks of
    /// `emit_with_ack`) waits for their answers (default 5 s).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long [`connect`](Self::connect) waits for Redis to answer (default 5 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one Redis command may take before Redis counts as unreachable (default 2 s).
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How often the connection is checked (default 500 ms): the longest an outage with no
    /// traffic goes unnoticed, and the delay before a returning Redis is noticed.
    pub fn with_health_check_interval(mut self, interval: Duration) -> Self {
        self.health_interval = interval;
        self
    }

    /// The longest wait between two reconnection attempts (default 1 s).
    pub fn with_max_reconnect_delay(mut self, delay: Duration) -> Self {
        self.max_reconnect_delay = delay;
        self
    }

    /// Messages from other instances queued per namespace before new ones are dropped (and
    /// counted in [`RedisStats::dropped`]); default 1024.
    pub fn with_stream_buffer(mut self, messages: usize) -> Self {
        self.stream_buffer = messages.max(1);
        self
    }

    /// The URL, with any password replaced by `***`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connects to Redis and checks that it answers.
    ///
    /// Fails with [`RedisError::Unreachable`] or [`RedisError::Timeout`], naming the URL, when
    /// it does not. Once connected, the connection heals itself: see the
    /// [module docs](self).
    pub async fn connect(self) -> Result<RedisConnection, RedisError> {
        let client =
            redis::Client::open(self.info.clone()).map_err(|source| RedisError::InvalidUrl {
                url: self.url.clone(),
                source,
            })?;
        self.check(&client).await?;
        let conn_config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.command_timeout))
            .set_response_timeout(Some(self.command_timeout))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(self.max_reconnect_delay);
        let link = std::sync::Arc::new(driver::Link::new(self.url.clone()));
        let driver = RedisDriver::connect(
            client,
            conn_config,
            link,
            self.command_timeout,
            self.health_interval,
        )
        .await?;
        tracing::info!(url = %self.url, "connected to Redis");
        let adapter = RedisAdapterConfig::new()
            .with_prefix(self.prefix)
            .with_request_timeout(self.request_timeout)
            .with_stream_buffer(self.stream_buffer);
        Ok(RedisConnection { driver, adapter })
    }

    /// One connection and a `PING`, with the connect timeout: a clear error at start-up
    /// instead of the connection manager's retries.
    async fn check(&self, client: &redis::Client) -> Result<(), RedisError> {
        let url = &self.url;
        let attempt = async {
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.connect_timeout))
                .set_response_timeout(Some(self.connect_timeout));
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            redis::cmd("PING").query_async::<()>(&mut conn).await
        };
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(RedisError::Unreachable {
                url: url.clone(),
                source,
            }),
            Err(_) => Err(RedisError::Timeout {
                url: url.clone(),
                after: self.connect_timeout,
            }),
        }
    }
}

/// A live connection to Redis: give it to [`Switchboard::builder_redis`], keep a clone to read
/// its [`stats`](Self::stats).
///
/// Cheap to clone; clones share the connection and the counters.
#[derive(Debug, Clone)]
pub struct RedisConnection {
    driver: RedisDriver,
    adapter: RedisAdapterConfig,
}

impl RedisConnection {
    /// The adapter's counters right now: connected, published, failures, reconnects.
    pub fn stats(&self) -> RedisStats {
        self.driver.stats()
    }

    /// Whether Redis is reachable right now (as of the last command or health check).
    pub fn is_connected(&self) -> bool {
        self.stats().connected
    }

    /// The URL, with any password replaced by `***`.
    pub fn url(&self) -> &str {
        self.driver.url()
    }

    /// The adapter state for socketioxide's own builder
    /// (`SocketIo::builder().with_adapter::<RedisAdapter>(redis.adapter_state())`), or
    /// [`Switchboard::builder_with_adapter`]. [`Switchboard::builder_redis`] does this for you.
    pub fn adapter_state(&self) -> RedisAdapterCtr<RedisDriver> {
        RedisAdapterCtr::new_with_driver(self.driver.clone(), self.adapter.clone())
    }
}

impl Switchboard {
    /// A builder whose namespaces share rooms through Redis, across every instance connected
    /// to it. Build it with
    /// [`build_layer_async`](crate::SwitchboardBuilder::build_layer_async), which waits until
    /// each namespace is subscribed.
    ///
    /// See the [`redis`](crate::redis) module for an example.
    pub fn builder_redis(redis: &RedisConnection) -> SwitchboardBuilder<RedisAdapter> {
        Self::builder_with_adapter::<RedisAdapter>(redis.adapter_state())
    }
}

impl crate::adapter::sealed::Sealed for RedisAdapter {}

impl ReadyAdapter for RedisAdapter {
    async fn ready(init: Self::InitRes, namespace: &str) -> Result<(), BuildError> {
        init.await.map_err(|error| match error {
            InitError::Driver(source) => BuildError::Redis {
                namespace: namespace.to_owned(),
                source,
            },
            InitError::MalformedNamespace => BuildError::InvalidPath {
                path: namespace.to_owned(),
                reason: "a namespace path has no `#` with the Redis adapter",
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{RedisConfig, RedisError};

    #[test]
    fn a_bad_url_is_refused_with_the_url() {
        let err = RedisConfig::from_url("redis//nowhere").map(|_| ());
        assert!(
            matches!(&err, Err(RedisError::InvalidUrl { url, .. }) if url == "redis//nowhere"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_an_error_naming_the_url() {
        // Port 1 on loopback: nothing listens there.
        let config = match RedisConfig::from_url("redis://:hunter2@127.0.0.1:1") {
            Ok(config) => config.with_connect_timeout(std::time::Duration::from_secs(2)),
            Err(error) => panic!("{error}"),
        };
        let Err(error) = config.connect().await else {
            panic!("connected to 127.0.0.1:1");
        };
        let message = error.to_string();
        assert!(
            message.starts_with("cannot reach Redis at redis://:***@127.0.0.1:1"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }
}

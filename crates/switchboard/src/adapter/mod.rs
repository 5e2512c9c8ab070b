//! The room adapter: where rooms live, shared by every namespace of a switchboard.
//!
//! socketioxide keeps rooms in an *adapter*, one per namespace, all built from one adapter type
//! and state chosen on the builder. switchboard adds no room logic of its own: a namespace
//! written generically (`SocketRef<A>` with `A: Adapter` on the method) runs unchanged on
//!
//! - [`InMemory`](crate::InMemory), in memory, the default of [`Switchboard::builder`]: one
//!   process, with switchboard's delivery guarantee (`docs/delivery.md`);
//! - [`LocalAdapter`], socketioxide's own in-memory adapter, without it;
//! - `redis::RedisAdapter` (cargo feature `redis`), built with
//!   [`Switchboard::builder_redis`]: rooms and broadcasts span every instance connected to
//!   one Redis;
//! - any other socketioxide adapter, with [`Switchboard::builder_with_adapter`].
//!
//! A remote adapter must subscribe to its channels before a namespace accepts clients. Build
//! with [`SwitchboardBuilder::build_layer_async`], which waits for every namespace's adapter and
//! returns the failure as a [`BuildError`]; `build_layer` starts the same work in the
//! background and only logs a failure. The room operations themselves (join, leave, broadcast,
//! fetch sockets, …) are socketioxide's; `docs/clustering.md` lists them with what each does
//! across instances.
//!
//! ```
//! use switchboard::prelude::*;
//!
//! struct Lobby;
//!
//! #[switchboard::namespace("/lobby")]
//! impl Lobby {
//!     #[on_connect]
//!     async fn welcome<A: Adapter>(&self, socket: SocketRef<A>) {
//!         socket.join("everyone");
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // In memory; with the `redis` feature, `Switchboard::builder_redis(&redis)` instead.
//! let (_layer, io) = Switchboard::builder().namespace(Lobby).build_layer_async().await.unwrap();
//! assert!(io.of("/lobby").is_some());
//! # });
//! ```
//!
//! [`Switchboard::builder`]: crate::Switchboard::builder
//! [`Switchboard::builder_redis`]: crate::Switchboard#method.builder_redis
//! [`Switchboard::builder_with_adapter`]: crate::Switchboard::builder_with_adapter
//! [`SwitchboardBuilder::build_layer_async`]: crate::SwitchboardBuilder::build_layer_async
//! [`BuildError`]: crate::BuildError
use std::future::Future;

pub(crate) mod in_memory;
#[cfg(feature = "redis")]
pub mod redis;

use socketioxide::adapter::{Adapter, LocalAdapter};
pub use socketioxide_core::adapter::DefinedAdapter;

use crate::BuildError;

/// A room adapter whose start-up the builder can wait for: [`InMemory`](crate::InMemory),
/// [`LocalAdapter`], and
/// `redis::RedisAdapter` with the `redis` feature.
///
/// Needed by [`build_layer_async`](crate::SwitchboardBuilder::build_layer_async). Sealed: the
/// builder has to know how each adapter reports a failed start.
pub trait ReadyAdapter: Adapter + DefinedAdapter + sealed::Sealed {
    /// Waits until the adapter of `namespace` is ready: subscribed, for a remote adapter.
    #[doc(hidden)]
    fn ready(
        init: Self::InitRes,
        namespace: &str,
    ) -> impl Future<Output = Result<(), BuildError>> + Send;
}

impl ReadyAdapter for LocalAdapter {
    /// The in-memory adapter is ready as soon as it exists.
    async fn ready(_init: Self::InitRes, _namespace: &str) -> Result<(), BuildError> {
        Ok(())
    }
}

pub(crate) mod sealed {
    /// Keeps [`ReadyAdapter`](super::ReadyAdapter) implemented only here.
    pub trait Sealed {}
    impl Sealed for socketioxide::adapter::LocalAdapter {}
}

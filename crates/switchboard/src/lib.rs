#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod ack;
pub mod adapter;
mod builder;
#[cfg(feature = "client-bundle")]
pub mod client_bundle;
pub mod delivery;
mod error;
pub mod guard;
pub mod handler;
mod layer;
pub mod metrics;
pub mod middleware;
pub mod namespace;
mod params;
mod serve;

pub use ack::{Ack, AckError, AckOutcome, AckSink, IntoAck};
#[cfg(feature = "redis")]
pub use adapter::redis;
pub use builder::{
    DEFAULT_GUARD_TIMEOUT, DEFAULT_MAX_BUFFER_SIZE, DEFAULT_WS_READ_BUFFER_SIZE, Switchboard,
    SwitchboardBuilder,
};
pub use delivery::{DeliveryConfig, DeliveryState, InMemory};
pub use error::BuildError;
pub use layer::{SwitchboardLayer, SwitchboardService};
pub use namespace::{Namespace, NamespaceDef};
pub use params::NsParams;
pub use serve::{DEFAULT_SHUTDOWN_GRACE, serve, serve_with_shutdown, shutdown_signal};

/// Turns an `impl` block into a Socket.IO namespace. See the
/// [namespaces guide](https://github.com/switchboard-rs/switchboard/blob/main/docs/namespaces.md).
#[doc = include_str!("../docs/namespace-macro.md")]
pub use switchboard_macros::namespace;

/// socketioxide, re-exported so that its extractors and types match the version switchboard uses.
pub use socketioxide;

/// What a namespace module usually needs.
pub mod prelude {
    pub use crate::{
        Ack, AckError, InMemory, NsParams, Switchboard, guard::GuardExtension, namespace,
    };
    pub use socketioxide::{
        adapter::{Adapter, LocalAdapter},
        extract::{Data, Event, Extension, HttpExtension, State, TryData},
        socket::DisconnectReason,
    };

    /// socketioxide's `SocketRef`, on switchboard's default adapter ([`InMemory`]) unless
    /// another is named.
    pub type SocketRef<A = InMemory> = socketioxide::extract::SocketRef<A>;

    /// socketioxide's `AckSender`, on switchboard's default adapter ([`InMemory`]) unless
    /// another is named.
    pub type AckSender<A = InMemory> = socketioxide::extract::AckSender<A>;

    /// socketioxide's `SocketIo` handle, on switchboard's default adapter ([`InMemory`]) unless
    /// another is named.
    pub type SocketIo<A = InMemory> = socketioxide::SocketIo<A>;
}

/// The guide's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../../../README.md")]
    struct Readme;
    #[doc = include_str!("../../../docs/getting-started.md")]
    struct GettingStarted;
    #[doc = include_str!("../../../docs/namespaces.md")]
    struct Namespaces;
    #[cfg(feature = "client-bundle")]
    #[doc = include_str!("../../../docs/client.md")]
    struct Client;
    #[doc = include_str!("../../../docs/guards.md")]
    struct Guards;
    #[doc = include_str!("../../../docs/delivery.md")]
    struct Delivery;
    #[doc = include_str!("../../../docs/hostile-input.md")]
    struct HostileInput;
    #[doc = include_str!("../../../docs/observability.md")]
    struct Observability;
    #[cfg(feature = "redis")]
    #[doc = include_str!("../../../docs/clustering.md")]
    struct Clustering;
}

#[doc(hidden)]
pub mod __private {
    //! Items the macro-generated code names; not part of the public API.
    //!
    //! The `assert_*` functions do nothing at runtime. The macro calls them with each
    //! handler argument and return type, spanned at that type, so that a type that does not
    //! fit is reported where it is written instead of at the attribute.
    pub use std::sync::Arc;

    use socketioxide::{
        adapter::Adapter,
        handler::{FromConnectParts, FromDisconnectParts, FromMessage},
    };

    /// Checks an event handler argument.
    pub fn assert_event_extractor<A: Adapter, M, T: FromMessage<A, M>>() {}
    /// Checks a connect hook argument.
    pub fn assert_connect_extractor<A: Adapter, T: FromConnectParts<A>>() {}
    /// Checks a disconnect handler argument.
    pub fn assert_disconnect_extractor<A: Adapter, T: FromDisconnectParts<A>>() {}
    /// Checks an event handler's return type.
    pub fn assert_into_ack<T: crate::IntoAck>() {}
}

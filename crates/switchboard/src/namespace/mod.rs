//! Namespaces: the [`Namespace`] trait the `#[namespace]` macro implements, and the
//! macro-free [`NamespaceDef`] it expands to.
//!
//! A namespace is a set of event handlers plus optional connect, disconnect and catch-all
//! hooks, reached by clients at a path such as `/sports`, or at a pattern such as
//! `/tenant/{id}` (a *dynamic* namespace: every matching path is its own namespace with its
//! own rooms, and handlers read the matched segments with [`NsParams`](crate::NsParams)).
//!
//! ```
//! use switchboard::{NamespaceDef, Ack};
//! use switchboard::prelude::{Data, SocketRef};
//!
//! let sports = NamespaceDef::new("/sports")
//!     .on_connect(async |socket: SocketRef| socket.join("soccer"))
//!     .on("ping", async || Ack("pong"))
//!     .on("shout", async |socket: SocketRef, Data(text): Data<String>| {
//!         socket.within("soccer").emit("message", &text.to_uppercase()).await.map(|_| ())
//!     });
//! # let _ = switchboard::Switchboard::builder().namespace(sports).build_svc().unwrap();
//! ```
mod attach;
mod def;

pub use def::NamespaceDef;

pub(crate) use attach::{NamespaceHandler, link, ns_metrics};

use socketioxide::adapter::Adapter;

use crate::InMemory;

/// A Rust type that is a Socket.IO namespace.
///
/// Implemented by [`#[namespace]`](macro@crate::namespace) on an `impl` block; implement it by hand
/// to build a namespace from runtime values. A value of the type is registered with
/// [`SwitchboardBuilder::namespace`](crate::SwitchboardBuilder::namespace); its state (pools,
/// configuration) is shared by every socket of the namespace.
///
/// `A` is the room adapter. The macro implements `Namespace<A>` for every adapter when the
/// handlers are written generically (`SocketRef<A>` with `A: Adapter` on the method) and
/// `Namespace<InMemory>` (switchboard's default in-memory adapter) otherwise.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a namespace for the room adapter `{A}`",
    label = "not a `Namespace<{A}>`",
    note = "put `#[switchboard::namespace(\"/path\")]` on an `impl` block of `{Self}`, or pass a `NamespaceDef`",
    note = "to run on any adapter, write handlers generically: `async fn f<A: Adapter>(&self, socket: SocketRef<A>)`"
)]
pub trait Namespace<A: Adapter = InMemory>: Send + Sync + 'static {
    /// Turns the value into the definition the builder registers.
    fn into_def(self) -> NamespaceDef<A>;
}

impl<A: Adapter> Namespace<A> for NamespaceDef<A> {
    fn into_def(self) -> NamespaceDef<A> {
        self
    }
}

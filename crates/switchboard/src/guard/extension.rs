//! Reading what a guard admitted from inside handlers.
use std::{marker::PhantomData, sync::Arc};

use socketioxide::{
    adapter::Adapter,
    handler::{FromConnectParts, FromDisconnectParts, FromMessageParts, Value},
    socket::{DisconnectReason, Socket},
};

/// Every request extension the guards of a socket's namespace admitted.
#[derive(Clone)]
pub(crate) struct Admitted(pub(crate) Arc<http::Extensions>);

/// A value a connect guard put in the request's extensions (the authenticated user, the
/// tenant), read in any handler of the socket.
///
/// ```
/// use switchboard::guard::{GuardExtension, GuardRequest};
/// use switchboard::{NamespaceDef, Ack};
///
/// #[derive(Clone)]
/// struct User(String);
///
/// let ns = NamespaceDef::new("/me")
///     .guard(axum::middleware::from_fn(async |mut req: GuardRequest, next: axum::middleware::Next| {
///         req.extensions_mut().insert(User("ada".into()));
///         next.run(req).await
///     }))
///     .on("whoami", async |GuardExtension(User(name)): GuardExtension<User>| Ack(name));
/// # let _ = switchboard::Switchboard::builder().namespace(ns).build_layer().unwrap();
/// ```
///
/// When no guard admitted a `T`, an event handler is refused with an error ack of code
/// `extraction_failed` and the server logs an error; a connect hook disconnects the socket.
#[derive(Debug, Clone)]
pub struct GuardExtension<T>(pub T);

/// No guard put this type in the request extensions: a missing layer, or a layer that stores
/// another type.
#[derive(thiserror::Error)]
#[error("no connect guard put a `{}` in the request extensions; add the guard that does, or use Option", std::any::type_name::<T>())]
pub struct GuardExtensionMissing<T>(PhantomData<fn() -> T>);

impl<T> std::fmt::Debug for GuardExtensionMissing<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GuardExtensionMissing<{}>", std::any::type_name::<T>())
    }
}

fn read<A: Adapter, T: Clone + Send + Sync + 'static>(
    s: &Arc<Socket<A>>,
) -> Result<GuardExtension<T>, GuardExtensionMissing<T>> {
    s.extensions
        .get::<Admitted>()
        .and_then(|a| a.0.get::<T>().cloned())
        .map(GuardExtension)
        .ok_or(GuardExtensionMissing(PhantomData))
}

impl<A: Adapter, T: Clone + Send + Sync + 'static> FromConnectParts<A> for GuardExtension<T> {
    type Error = GuardExtensionMissing<T>;
    fn from_connect_parts(s: &Arc<Socket<A>>, _: &Option<Value>) -> Result<Self, Self::Error> {
        read(s)
    }
}

impl<A: Adapter, T: Clone + Send + Sync + 'static> FromMessageParts<A> for GuardExtension<T> {
    type Error = GuardExtensionMissing<T>;
    fn from_message_parts(
        s: &Arc<Socket<A>>,
        _: &mut Value,
        _: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        read(s)
    }
}

impl<A: Adapter, T: Clone + Send + Sync + 'static> FromDisconnectParts<A> for GuardExtension<T> {
    type Error = GuardExtensionMissing<T>;
    fn from_disconnect_parts(s: &Arc<Socket<A>>, _: DisconnectReason) -> Result<Self, Self::Error> {
        read(s)
    }
}

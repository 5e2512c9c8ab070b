//! The connect hook: runs once the socket has joined its namespace, after every event handler
//! is attached.
use std::{future::Future, sync::Arc};

use socketioxide::{
    adapter::Adapter,
    handler::{FromConnectParts, Value},
    socket::Socket,
};
use tracing::Instrument;

/// An async function or closure run when a socket has connected to a namespace.
///
/// Its arguments are socketioxide connect extractors (`SocketRef`, `Data<T>` / `TryData<T>` for
/// the client's `auth` payload, `SocketIo`, `State<T>`, `HttpExtension<T>`,
/// [`NsParams`](crate::NsParams), …). By the time it runs, the socket is connected and every
/// event handler of its namespace is attached, so an event the client sends right after
/// connecting is handled even while this hook is still awaiting something.
///
/// When an argument cannot be extracted (an `auth` payload of another shape for `Data<T>`),
/// the hook does not run: the socket is disconnected from the namespace and a warning is
/// logged, so the client sees a disconnect instead of a half-initialised socket.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a switchboard connect hook",
    label = "not a connect hook",
    note = "a connect hook is an async fn or closure returning `()`, whose arguments are socketioxide connect extractors (SocketRef, Data<T>, TryData<T>, SocketIo, State<T>, HttpExtension<T>, NsParams)",
    note = "a namespace written for any adapter takes `SocketRef<A>` with `A: Adapter` a type parameter of the method"
)]
pub trait ConnectHook<A: Adapter, T>: Clone + Send + Sync + 'static {
    /// Extracts the arguments and spawns the hook.
    fn call(&self, socket: Arc<Socket<A>>, auth: Option<Value>);
}

fn refuse<A: Adapter>(socket: Arc<Socket<A>>, error: impl std::fmt::Display) {
    tracing::warn!(ns = socket.ns(), sid = %socket.id, %error, "connect hook argument could not be extracted; disconnecting the socket");
    if let Err(error) = socket.disconnect() {
        tracing::warn!(%error, "could not disconnect the socket");
    }
}

macro_rules! impl_connect_hook {
    ([$($ty:ident),*]) => {
        #[allow(non_snake_case, unused_mut)]
        #[diagnostic::do_not_recommend]
        impl<A, F, Fut, $($ty,)*> ConnectHook<A, ($($ty,)*)> for F
        where
            F: FnOnce($($ty,)*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            A: Adapter,
            $( $ty: FromConnectParts<A> + Send, )*
        {
            #[allow(unused_variables)]
            fn call(&self, socket: Arc<Socket<A>>, auth: Option<Value>) {
                $(
                    let $ty = match $ty::from_connect_parts(&socket, &auth) {
                        Ok(v) => v,
                        Err(e) => return refuse(socket, e),
                    };
                )*
                // In the socket's `connect` span, which the namespace entered for this call.
                tokio::spawn((self.clone())($($ty,)*).in_current_span());
            }
        }
    };
}

impl_connect_hook!([]);
impl_connect_hook!([T1]);
impl_connect_hook!([T1, T2]);
impl_connect_hook!([T1, T2, T3]);
impl_connect_hook!([T1, T2, T3, T4]);
impl_connect_hook!([T1, T2, T3, T4, T5]);
impl_connect_hook!([T1, T2, T3, T4, T5, T6]);
impl_connect_hook!([T1, T2, T3, T4, T5, T6, T7]);
impl_connect_hook!([T1, T2, T3, T4, T5, T6, T7, T8]);
impl_connect_hook!([T1, T2, T3, T4, T5, T6, T7, T8, T9]);
impl_connect_hook!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10]);

/// A connect hook with its argument types erased.
pub(crate) type BoxedConnectHook<A> = Arc<dyn Fn(Arc<Socket<A>>, Option<Value>) + Send + Sync>;

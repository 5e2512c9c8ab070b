//! What happens when a client asks to join a namespace: handlers attached before the socket
//! is connected, then the connect hook.
use std::{fmt::Display, future::Future, pin::Pin, sync::Arc};

use socketioxide::{
    adapter::Adapter,
    extract::{AckSender, Event, SocketRef},
    handler::{ConnectHandler, Value},
    socket::Socket,
};

use super::def::{Attach, NamespaceDef};
use crate::{
    ack::AckError,
    handler::{BoxedConnectHook, Dispatch, EventName},
    params::{NsParams, NsPattern},
};

type MiddlewareFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(), Box<dyn Display + Send>>> + Send + 'a>>;

/// The single connect handler switchboard gives socketioxide for a namespace.
///
/// socketioxide runs `call_middleware` before it sends the CONNECT acknowledgement and `call`
/// after. Attaching the event handlers in the first step means they exist before the client
/// learns it is connected, so no event can arrive at a socket without its handlers; socketioxide
/// spawns `call` on the runtime, and handlers attached there could miss the first events.
pub(crate) struct NamespaceHandler<A: Adapter> {
    inner: Arc<Inner<A>>,
}

struct Inner<A: Adapter> {
    attach: Vec<Attach<A>>,
    on_connect: Option<BoxedConnectHook<A>>,
    pattern: Option<NsPattern>,
}

impl<A: Adapter> Clone for NamespaceHandler<A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<A: Adapter> NamespaceHandler<A> {
    pub(crate) fn new(def: NamespaceDef<A>, pattern: Option<NsPattern>) -> Self {
        let NamespaceDef {
            events,
            on_any,
            on_connect,
            on_disconnect,
            ..
        } = def;
        let mut attach: Vec<Attach<A>> = events.into_iter().map(|(_, a)| a).collect();
        attach.push(on_any.unwrap_or_else(unknown_event));
        attach.extend(on_disconnect);
        Self {
            inner: Arc::new(Inner {
                attach,
                on_connect,
                pattern,
            }),
        }
    }

    fn attach(&self, socket: &Arc<Socket<A>>) {
        if let Some(pattern) = &self.inner.pattern {
            socket
                .extensions
                .insert(NsParams::from_match(pattern, socket.ns()));
        }
        for attach in &self.inner.attach {
            attach(socket);
        }
    }
}

/// The default catch-all: an event nobody handles is logged and refused with an ack error.
fn unknown_event<A: Adapter>() -> Attach<A> {
    let handler = async |socket: SocketRef<A>, Event(event): Event, ack: AckSender<A>| {
        tracing::warn!(ns = socket.ns(), sid = %socket.id, %event, "no handler for event");
        AckError::unknown_event(socket.ns(), &event).send(ack, &event);
    };
    let dispatch = Dispatch::new(handler, EventName(None));
    Arc::new(move |socket| socket.on_fallback(dispatch.clone()))
}

/// Marker keeping this impl apart from socketioxide's impls for closures.
#[doc(hidden)]
pub(crate) struct ViaNamespace;

impl<A: Adapter> ConnectHandler<A, ViaNamespace> for NamespaceHandler<A> {
    fn call(&self, socket: Arc<Socket<A>>, auth: Option<Value>) {
        if let Some(hook) = &self.inner.on_connect {
            hook(socket, auth);
        }
    }

    fn call_middleware<'a>(
        &'a self,
        socket: Arc<Socket<A>>,
        _auth: &'a Option<Value>,
    ) -> MiddlewareFuture<'a> {
        self.attach(&socket);
        Box::pin(std::future::ready(Ok(())))
    }
}

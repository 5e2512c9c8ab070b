//! What happens when a client asks to join a namespace: handlers attached before the socket
//! is connected, then the connect hook.
use std::{fmt::Display, future::Future, pin::Pin, sync::Arc};

use socketioxide::{
    adapter::Adapter,
    extract::{AckSender, Event, SocketRef},
    handler::{ConnectHandler, Value},
    socket::Socket,
};

use super::def::{Attach, EventEntry, NamespaceDef};
use crate::{
    ack::AckError,
    guard::Guards,
    handler::{BoxedConnectHook, Dispatch, Erase, EventName},
    middleware::{AbusePolicy, BoxedEventLayer, SocketStacks},
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
    guards: Guards,
    events: Vec<EventEntry<A>>,
    on_any: EventEntry<A>,
    layers: Vec<BoxedEventLayer<A>>,
    /// Whether any event has middleware, decided once at registration.
    layered: bool,
    abuse: Option<AbusePolicy>,
    on_disconnect: Option<Attach<A>>,
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
    /// `guards` holds the all-namespaces guards and the timeout; the namespace's own are
    /// appended.
    pub(crate) fn new(
        def: NamespaceDef<A>,
        pattern: Option<NsPattern>,
        mut guards: Guards,
    ) -> Self {
        let NamespaceDef {
            events,
            on_any,
            layers,
            abuse,
            on_connect,
            on_disconnect,
            guards: own_guards,
            ..
        } = def;
        guards.stacks.extend(own_guards);
        let layered = !layers.is_empty() || events.iter().any(|e| !e.layers.is_empty());
        Self {
            inner: Arc::new(Inner {
                events,
                on_any: on_any.unwrap_or_else(unknown_event),
                layered,
                layers,
                abuse,
                on_disconnect,
                on_connect,
                pattern,
                guards,
            }),
        }
    }

    /// Gives a new socket its handlers: plain ones when the namespace has no middleware, or
    /// this socket's own middleware stacks.
    fn attach(&self, socket: &Arc<Socket<A>>) {
        let inner = &*self.inner;
        if let Some(pattern) = &inner.pattern {
            socket
                .extensions
                .insert(NsParams::from_match(pattern, socket.ns()));
        }
        let stacks = inner.layered.then(|| SocketStacks::new(inner.abuse));
        for entry in &inner.events {
            match &stacks {
                Some(stacks) if !(entry.layers.is_empty() && inner.layers.is_empty()) => socket.on(
                    entry.key.clone(),
                    stacks.stack(
                        entry.handler.clone(),
                        entry.name.clone(),
                        &entry.layers,
                        &inner.layers,
                    ),
                ),
                _ => socket.on(entry.key.clone(), dispatch(entry)),
            }
        }
        match &stacks {
            // The default catch-all passes the namespace's layers too: a flood of unknown
            // events is rate limited like any other.
            Some(stacks) if !inner.layers.is_empty() => socket.on_fallback(stacks.stack(
                inner.on_any.handler.clone(),
                EventName(None),
                &[],
                &inner.layers,
            )),
            _ => socket.on_fallback(dispatch(&inner.on_any)),
        }
        if let Some(on_disconnect) = &inner.on_disconnect {
            on_disconnect(socket);
        }
    }
}

fn dispatch<A: Adapter>(entry: &EventEntry<A>) -> Dispatch<A> {
    Dispatch {
        handler: entry.handler.clone(),
        event: entry.name.clone(),
    }
}

/// The default catch-all: an event nobody handles is logged, counted and refused with an ack
/// error.
fn unknown_event<A: Adapter>() -> EventEntry<A> {
    let handler = async |socket: SocketRef<A>, Event(event): Event, ack: AckSender<A>| {
        tracing::warn!(ns = socket.ns(), sid = %socket.id, %event, "no handler for event");
        metrics::counter!("switchboard_events_refused_total", "ns" => socket.ns().to_owned(), "reason" => "unknown_event")
            .increment(1);
        AckError::unknown_event(socket.ns(), &event).send(ack, &event);
    };
    EventEntry {
        key: std::borrow::Cow::Borrowed(""),
        name: EventName(None),
        handler: Arc::new(Erase::new(handler)),
        layers: Vec::new(),
    }
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
        auth: &'a Option<Value>,
    ) -> MiddlewareFuture<'a> {
        if self.inner.guards.is_empty() {
            self.attach(&socket);
            return Box::pin(std::future::ready(Ok(())));
        }
        Box::pin(async move {
            match self.inner.guards.check(&socket, auth).await {
                Ok(()) => {
                    self.attach(&socket);
                    Ok(())
                }
                Err(refusal) => {
                    tracing::info!(ns = socket.ns(), sid = %socket.id, %refusal, "connection refused by guard");
                    Err(Box::new(refusal) as Box<dyn Display + Send>)
                }
            }
        })
    }
}

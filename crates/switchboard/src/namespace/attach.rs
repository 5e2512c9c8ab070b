//! What happens when a client asks to join a namespace: handlers attached before the socket
//! is connected, then the connect hook; and what is counted and traced over the socket's life.
use std::{
    borrow::Cow,
    fmt::Display,
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    time::Duration,
};

use socketioxide::{
    SocketIo,
    adapter::Adapter,
    extract::{Event, SocketRef},
    handler::{ConnectHandler, DisconnectHandler, FromConnectParts, Value},
    socket::{DisconnectReason, Socket},
};
use tracing::Instrument;

use super::def::{BoxedDisconnect, EventEntry, NamespaceDef};
use crate::{
    ack::{AckError, AckSink},
    adapter::in_memory::Link,
    guard::Guards,
    handler::{BoxedConnectHook, Dispatch, Erase, EventName},
    metrics::{NsMetrics, Tracked},
    middleware::{AbusePolicy, BoxedEventLayer, SocketStacks},
    params::{NsParams, NsPattern},
};

/// How often a namespace with connected sockets checks whether the server was closed.
///
/// socketioxide 0.18's `SocketIo::close` closes every transport without running disconnect
/// handlers (it empties its namespace table first), so nothing tells a namespace its sockets
/// are gone; a watcher runs while the namespace has sockets and takes them off the
/// connections gauge when the server's namespace table is empty.
const SHUTDOWN_POLL: Duration = Duration::from_secs(1);

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
    /// The path the namespace was registered with (the pattern of a dynamic one): its `ns`
    /// label, the same for every socket.
    path: Cow<'static, str>,
    /// Resolved on the first connection (see [`crate::metrics`]).
    metrics: OnceLock<Arc<NsMetrics>>,
    guards: Guards,
    events: Vec<EventEntry<A>>,
    on_any: EventEntry<A>,
    layers: Vec<BoxedEventLayer<A>>,
    /// Whether any event has middleware, decided once at registration.
    layered: bool,
    abuse: Option<AbusePolicy>,
    on_disconnect: Option<BoxedDisconnect<A>>,
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
            path,
            events,
            on_any,
            layers,
            abuse,
            on_connect,
            on_disconnect,
            guards: own_guards,
        } = def;
        guards.stacks.extend(own_guards);
        let layered = !layers.is_empty() || events.iter().any(|e| !e.layers.is_empty());
        Self {
            inner: Arc::new(Inner {
                path,
                metrics: OnceLock::new(),
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

    /// The namespace's metric handles, registered with the recorder on first use.
    fn metrics(&self) -> &Arc<NsMetrics> {
        let inner = &*self.inner;
        inner.metrics.get_or_init(|| {
            let events = inner.events.iter().map(|e| e.key.as_ref());
            Arc::new(NsMetrics::new(&inner.path, events))
        })
    }

    /// Gives a new socket its handlers: plain ones when the namespace has no middleware, or
    /// this socket's own middleware stacks; and the disconnect handler that ends its
    /// [`Connection`].
    fn attach(&self, socket: &Arc<Socket<A>>, span: tracing::Span) {
        let inner = &*self.inner;
        let metrics = self.metrics();
        if let Some(pattern) = &inner.pattern {
            socket
                .extensions
                .insert(NsParams::from_match(pattern, socket.ns()));
        }
        let stacks = inner
            .layered
            .then(|| SocketStacks::new(inner.abuse, metrics.clone()));
        for (i, entry) in inner.events.iter().enumerate() {
            let received = metrics.received(Some(i));
            match &stacks {
                Some(stacks) if !(entry.layers.is_empty() && inner.layers.is_empty()) => socket.on(
                    entry.key.clone(),
                    stacks.stack(
                        entry.handler.clone(),
                        entry.name.clone(),
                        received,
                        &entry.layers,
                        &inner.layers,
                    ),
                ),
                _ => socket.on(entry.key.clone(), dispatch(entry, received)),
            }
        }
        let received = metrics.received(None);
        match &stacks {
            // The default catch-all passes the namespace's layers too: a flood of unknown
            // events is rate limited like any other.
            Some(stacks) if !inner.layers.is_empty() => socket.on_fallback(stacks.stack(
                inner.on_any.handler.clone(),
                EventName(None),
                received,
                &[],
                &inner.layers,
            )),
            _ => socket.on_fallback(dispatch(&inner.on_any, received)),
        }
        let link = Link::connect(socket, &inner.path);
        let connection = Arc::new(Connection {
            tracked: Tracked::new(),
            metrics: metrics.clone(),
            span,
            link,
        });
        socket.extensions.insert(ConnectionRef(connection.clone()));
        socket.on_disconnect(OnDisconnect {
            connection,
            user: inner.on_disconnect.clone(),
        });
    }
}

fn dispatch<A: Adapter>(entry: &EventEntry<A>, received: metrics::Counter) -> Dispatch<A> {
    Dispatch {
        handler: entry.handler.clone(),
        event: entry.name.clone(),
        received,
    }
}

/// One socket's life on the namespace, from the guards' acceptance to its disconnect: whether
/// it is counted in the connections gauge, and its `connect{ns, sid}` span.
struct Connection {
    tracked: Tracked,
    metrics: Arc<NsMetrics>,
    span: tracing::Span,
    /// Its place in the delivery of an [`InMemory`](crate::InMemory) namespace.
    link: Option<Link>,
}

/// The last resort: code that calls `socket.on_disconnect` itself replaces switchboard's
/// disconnect handler, and the socket then leaves the gauge and its namespace's delivery when
/// socketioxide drops it.
impl Drop for Connection {
    fn drop(&mut self) {
        self.tracked.close(&self.metrics);
        if let Some(link) = &self.link {
            link.disconnect();
        }
    }
}

/// The metric handles of the namespace `socket` is connected to, while it is.
pub(crate) fn ns_metrics<A: Adapter>(socket: &Socket<A>) -> Option<Arc<NsMetrics>> {
    socket
        .extensions
        .get::<ConnectionRef>()
        .map(|c| c.0.metrics.clone())
}

/// The socket's way to its namespace's delivery, while it is connected (see
/// [`Link`]).
pub(crate) fn link<A: Adapter>(socket: &Socket<A>) -> Option<Link> {
    socket
        .extensions
        .get::<ConnectionRef>()
        .and_then(|c| c.0.link.clone())
}

/// How the connect hook finds the socket's [`Connection`]; removed on disconnect, so the span
/// ends with the socket's presence in the namespace.
#[derive(Clone)]
struct ConnectionRef(Arc<Connection>);

/// The socket's disconnect handler: takes it off the gauge, then runs the namespace's own
/// `#[on_disconnect]` (or, without one, what socketioxide runs after it: removing the socket).
struct OnDisconnect<A: Adapter> {
    connection: Arc<Connection>,
    user: Option<BoxedDisconnect<A>>,
}

impl<A: Adapter> DisconnectHandler<A, ViaNamespace> for OnDisconnect<A> {
    fn call_with_defer(
        &self,
        socket: Arc<Socket<A>>,
        reason: DisconnectReason,
        defer: fn(Arc<Socket<A>>),
    ) {
        let connection = &self.connection;
        connection.tracked.close(&connection.metrics);
        if let Some(link) = &connection.link {
            link.disconnect();
        }
        socket.extensions.remove::<ConnectionRef>();
        let _entered = connection.span.enter();
        tracing::debug!(%reason, "socket disconnected");
        match &self.user {
            Some(user) => user(socket, reason, defer),
            None => defer(socket),
        }
    }
}

/// Watches, while `metrics`' namespace has sockets, for the server being closed (see
/// [`SHUTDOWN_POLL`]).
fn watch_shutdown<A: Adapter>(socket: &Arc<Socket<A>>, metrics: Arc<NsMetrics>) {
    let Ok(io) = SocketIo::<A>::from_connect_parts(socket, &None);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SHUTDOWN_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !metrics.connections().keep_watching(io.nsps().is_empty()) {
                return;
            }
        }
    });
}

/// The default catch-all: an event nobody handles is logged, counted and refused with an ack
/// error.
fn unknown_event<A: Adapter>() -> EventEntry<A> {
    let handler = async |socket: SocketRef<A>, Event(event): Event, ack: AckSink<A>| {
        tracing::warn!(ns = socket.ns(), sid = %socket.id, %event, "no handler for event");
        if let Some(ConnectionRef(connection)) = socket.extensions.get::<ConnectionRef>() {
            connection.metrics.event_refused("unknown_event");
        }
        let outcome = AckError::unknown_event(socket.ns(), &event).send(ack, &event);
        crate::ack::account(&socket, outcome);
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
    /// socketioxide has sent the CONNECT acknowledgement: the socket is counted, then the
    /// connect hook runs in the socket's span.
    fn call(&self, socket: Arc<Socket<A>>, auth: Option<Value>) {
        let connection = socket.extensions.get::<ConnectionRef>();
        let _entered = connection.as_ref().map(|ConnectionRef(connection)| {
            if connection.tracked.open(&connection.metrics) {
                watch_shutdown(&socket, connection.metrics.clone());
            }
            connection.span.enter()
        });
        tracing::debug!("socket connected");
        if let Some(hook) = &self.inner.on_connect {
            hook(socket, auth);
        }
    }

    fn call_middleware<'a>(
        &'a self,
        socket: Arc<Socket<A>>,
        auth: &'a Option<Value>,
    ) -> MiddlewareFuture<'a> {
        // Debug level, like the `event` and `guard` spans: free unless `switchboard=debug`.
        let span = tracing::debug_span!("connect", ns = socket.ns(), sid = %socket.id);
        if self.inner.guards.is_empty() {
            self.attach(&socket, span);
            return Box::pin(std::future::ready(Ok(())));
        }
        let in_span = span.clone();
        Box::pin(
            async move {
                match self.inner.guards.check(&socket, auth).await {
                    Ok(()) => {
                        self.attach(&socket, span);
                        Ok(())
                    }
                    Err(refusal) => {
                        self.metrics().connect_refused(refusal.why);
                        tracing::info!(ns = socket.ns(), sid = %socket.id, %refusal, "connection refused by guard");
                        Err(Box::new(refusal) as Box<dyn Display + Send>)
                    }
                }
            }
            .instrument(in_span),
        )
    }
}

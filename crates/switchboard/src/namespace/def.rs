//! The macro-free namespace definition.
use std::{borrow::Cow, sync::Arc, time::Duration};

use socketioxide::{
    adapter::Adapter,
    handler::DisconnectHandler,
    socket::{DisconnectReason, Socket},
};

use crate::{
    guard::{BoxedGuard, GuardLayer},
    handler::{BoxedConnectHook, ConnectHook, Erase, ErasedEvent, EventHandler, EventName},
    middleware::{AbusePolicy, BoxedEventLayer, EventLayer},
};

fn entry<A, H, T>(
    key: Cow<'static, str>,
    handler: H,
    layers: Vec<BoxedEventLayer<A>>,
) -> EventEntry<A>
where
    A: Adapter,
    H: EventHandler<A, T>,
    T: Send + Sync + 'static,
{
    EventEntry {
        name: EventName(Some(Arc::from(key.as_ref()))),
        key,
        handler: Arc::new(Erase::new(handler)),
        layers,
    }
}

/// A disconnect handler with its argument types erased: socketioxide's `call_with_defer`, so
/// that the namespace's own disconnect bookkeeping can run before it.
pub(crate) type BoxedDisconnect<A> =
    Arc<dyn Fn(Arc<Socket<A>>, DisconnectReason, fn(Arc<Socket<A>>)) + Send + Sync>;

/// One event handler, and the layers of that event alone.
pub(crate) struct EventEntry<A: Adapter> {
    /// The key socketioxide looks the handler up by.
    pub(crate) key: Cow<'static, str>,
    pub(crate) name: EventName,
    pub(crate) handler: Arc<dyn ErasedEvent<A>>,
    pub(crate) layers: Vec<BoxedEventLayer<A>>,
}

/// A namespace built with plain method calls: what `#[namespace]` expands to.
///
/// Everything the macro can declare is available here, with closures or functions as
/// handlers, and with a path known only at runtime. See the [module docs](mod@crate::namespace)
/// for an example.
#[must_use = "a NamespaceDef does nothing until it is registered with `SwitchboardBuilder::namespace`"]
pub struct NamespaceDef<A: Adapter = crate::InMemory> {
    pub(crate) path: Cow<'static, str>,
    pub(crate) events: Vec<EventEntry<A>>,
    pub(crate) on_any: Option<EventEntry<A>>,
    pub(crate) layers: Vec<BoxedEventLayer<A>>,
    pub(crate) abuse: Option<AbusePolicy>,
    pub(crate) on_connect: Option<BoxedConnectHook<A>>,
    pub(crate) on_disconnect: Option<BoxedDisconnect<A>>,
    pub(crate) guards: Vec<BoxedGuard>,
}

impl<A: Adapter> NamespaceDef<A> {
    /// A namespace at `path` (`/sports`), or at a pattern (`/tenant/{id}`, `/files/{*rest}`).
    ///
    /// The path is checked when the namespace is registered: see
    /// [`BuildError`](crate::BuildError).
    pub fn new(path: impl Into<Cow<'static, str>>) -> Self {
        Self {
            path: path.into(),
            events: Vec::new(),
            on_any: None,
            layers: Vec::new(),
            abuse: None,
            on_connect: None,
            on_disconnect: None,
            guards: Vec::new(),
        }
    }

    /// The path or pattern clients connect to.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Handles `event` with `handler`; its return value is the acknowledgement.
    ///
    /// Registering the same event twice is refused when the namespace is built.
    pub fn on<H, T>(mut self, event: impl Into<Cow<'static, str>>, handler: H) -> Self
    where
        H: EventHandler<A, T>,
        T: Send + Sync + 'static,
    {
        self.events.push(entry(event.into(), handler, Vec::new()));
        self
    }

    /// Handles `event` with `handler` behind a Tower middleware stack of this event alone
    /// (inside the namespace's [`layer`](Self::layer)s). See [`middleware`](crate::middleware).
    pub fn on_layered<H, T>(
        mut self,
        event: impl Into<Cow<'static, str>>,
        layer: impl EventLayer<A>,
        handler: H,
    ) -> Self
    where
        H: EventHandler<A, T>,
        T: Send + Sync + 'static,
    {
        let layers = vec![layer.into_boxed()];
        self.events.push(entry(event.into(), handler, layers));
        self
    }

    /// Wraps every event handler of the namespace (the catch-all included) in a Tower
    /// middleware stack, instantiated per socket: a timeout, a rate limit, a concurrency limit.
    /// Several calls nest, the first one outermost. See [`middleware`](crate::middleware).
    pub fn layer(mut self, layer: impl EventLayer<A>) -> Self {
        self.layers.push(layer.into_boxed());
        self
    }

    /// Disconnects a socket whose events the middleware refused more than `max` times within
    /// `per` (an abusive or broken client), with a warning in the log and the
    /// `switchboard_abuse_disconnects_total` counter.
    pub fn disconnect_abusers(mut self, max: u32, per: Duration) -> Self {
        self.abuse = Some(AbusePolicy { max, per });
        self
    }

    /// Handles every event that has no handler of its own (use `Event` to read its name).
    ///
    /// Without it, such an event is logged and, when the client asked for an acknowledgement,
    /// refused with an error ack of code `unknown_event`.
    pub fn on_any<H, T>(mut self, handler: H) -> Self
    where
        H: EventHandler<A, T>,
        T: Send + Sync + 'static,
    {
        self.on_any = Some(EventEntry {
            key: Cow::Borrowed(""),
            name: EventName(None),
            handler: Arc::new(Erase::new(handler)),
            layers: Vec::new(),
        });
        self
    }

    /// Runs `hook` once a socket has connected, after every handler is attached.
    pub fn on_connect<H, T>(mut self, hook: H) -> Self
    where
        H: ConnectHook<A, T>,
        T: Send + Sync + 'static,
    {
        self.on_connect = Some(Arc::new(move |socket, auth| hook.call(socket, auth)));
        self
    }

    /// Runs `handler` when a socket leaves the namespace, with socketioxide's disconnect
    /// extractors (`SocketRef`, `DisconnectReason`, …). Rooms are still readable inside it.
    pub fn on_disconnect<H, T>(mut self, handler: H) -> Self
    where
        H: DisconnectHandler<A, T> + Clone + Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        self.on_disconnect = Some(Arc::new(move |socket, reason, defer| {
            handler.call_with_defer(socket, reason, defer)
        }));
        self
    }

    /// Protects the namespace with a Tower middleware stack run on every CONNECT, before the
    /// socket joins; see [`guard`](crate::guard) for what it sees and how refusals reach the
    /// client. Several calls run in order; guards given to
    /// [`SwitchboardBuilder::guard_all`](crate::SwitchboardBuilder::guard_all) run first.
    ///
    /// Any layer whose service takes a [`GuardRequest`](crate::guard::GuardRequest) and answers an HTTP response works:
    /// `tower_http`'s `ValidateRequestHeaderLayer` and `AsyncRequireAuthorizationLayer`,
    /// `tower::timeout`, `tower::limit` (with `load_shed` to refuse instead of wait),
    /// `axum::middleware::from_fn`, a `ServiceBuilder` of several.
    pub fn guard<B>(mut self, layer: impl GuardLayer<B>) -> Self {
        self.guards.push(layer.into_guard());
        self
    }

    /// Whether the path is a pattern (`{param}` segments) rather than a fixed path.
    pub fn is_dynamic(&self) -> bool {
        self.path.contains('{')
    }
}

impl<A: Adapter> std::fmt::Debug for NamespaceDef<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceDef")
            .field("path", &self.path)
            .field(
                "events",
                &self.events.iter().map(|e| &e.key).collect::<Vec<_>>(),
            )
            .field("on_any", &self.on_any.is_some())
            .field("on_connect", &self.on_connect.is_some())
            .field("on_disconnect", &self.on_disconnect.is_some())
            .field("guards", &self.guards.len())
            .finish()
    }
}

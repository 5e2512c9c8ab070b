//! The macro-free namespace definition.
use std::{borrow::Cow, sync::Arc};

use socketioxide::{
    adapter::{Adapter, LocalAdapter},
    handler::DisconnectHandler,
    socket::Socket,
};

use crate::handler::{BoxedConnectHook, ConnectHook, Dispatch, EventHandler, EventName};

/// Attaches one handler to a freshly created socket.
pub(crate) type Attach<A> = Arc<dyn Fn(&Arc<Socket<A>>) + Send + Sync>;

/// A namespace built with plain method calls: what `#[namespace]` expands to.
///
/// Everything the macro can declare is available here, with closures or functions as
/// handlers, and with a path known only at runtime. See the [module docs](crate::namespace)
/// for an example.
#[must_use = "a NamespaceDef does nothing until it is registered with `SwitchboardBuilder::namespace`"]
pub struct NamespaceDef<A: Adapter = LocalAdapter> {
    pub(crate) path: Cow<'static, str>,
    pub(crate) events: Vec<(Arc<str>, Attach<A>)>,
    pub(crate) on_any: Option<Attach<A>>,
    pub(crate) on_connect: Option<BoxedConnectHook<A>>,
    pub(crate) on_disconnect: Option<Attach<A>>,
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
            on_connect: None,
            on_disconnect: None,
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
        let event: Cow<'static, str> = event.into();
        let name: Arc<str> = Arc::from(event.as_ref());
        let dispatch = Dispatch::new(handler, EventName(Some(name.clone())));
        let attach: Attach<A> = Arc::new(move |socket| socket.on(event.clone(), dispatch.clone()));
        self.events.push((name, attach));
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
        let dispatch = Dispatch::new(handler, EventName(None));
        self.on_any = Some(Arc::new(move |socket| socket.on_fallback(dispatch.clone())));
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
        self.on_disconnect = Some(Arc::new(move |socket| {
            socket.on_disconnect(handler.clone())
        }));
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
                &self.events.iter().map(|(e, _)| e).collect::<Vec<_>>(),
            )
            .field("on_any", &self.on_any.is_some())
            .field("on_connect", &self.on_connect.is_some())
            .field("on_disconnect", &self.on_disconnect.is_some())
            .finish()
    }
}

//! The builder: socketioxide's configuration, the namespaces, and the layer they become.
use std::{borrow::Cow, collections::HashSet, time::Duration};

use socketioxide::{
    SocketIo, SocketIoBuilder, SocketIoConfig, TransportType, adapter::Adapter,
    service::SocketIoService,
};
use socketioxide_core::adapter::{DefinedAdapter, Spawnable};

use crate::{
    BuildError, SwitchboardLayer,
    adapter::ReadyAdapter,
    adapter::in_memory::QUEUE_SLACK,
    delivery::{DeliveryConfig, DeliveryState, InMemory},
    error::check_path,
    guard::{GuardLayer, Guards},
    namespace::{Namespace, NamespaceDef, NamespaceHandler},
    params::NsPattern,
};

/// How long connect guards may take by default; see [`SwitchboardBuilder::guard_timeout`].
pub const DEFAULT_GUARD_TIMEOUT: Duration = Duration::from_secs(10);

/// Packets queued per connection before socketioxide drops one (its default is 128).
///
/// A burst of 200 chats to a room of 1000 lost a quarter of its deliveries at socketioxide's
/// default, and the application is not told which socket missed what. The queue is a tokio
/// channel that allocates as it fills, so a larger bound costs nothing while a connection keeps
/// up (idle memory per connection measured the same; see `docs/benchmarks.md`).
pub const DEFAULT_MAX_BUFFER_SIZE: usize = 1024;

/// The websocket read buffer per connection (socketioxide's default is 4 KiB). Client
/// messages are small; a larger one grows as needed. Saves about 3 KB per idle connection.
pub const DEFAULT_WS_READ_BUFFER_SIZE: usize = 1024;

/// switchboard's defaults on top of socketioxide's.
fn defaults<A: Adapter>(builder: SocketIoBuilder<A>) -> SocketIoBuilder<A> {
    builder
        .max_buffer_size(DEFAULT_MAX_BUFFER_SIZE)
        .ws_read_buffer_size(DEFAULT_WS_READ_BUFFER_SIZE)
}

/// Entry point: `Switchboard::builder()`.
#[derive(Debug, Clone, Copy)]
pub struct Switchboard;

impl Switchboard {
    /// A builder with the in-memory room adapter ([`InMemory`]), for a single instance, with
    /// switchboard's delivery guarantee (`docs/delivery.md`) at its default bounds.
    pub fn builder() -> SwitchboardBuilder<InMemory> {
        let state = DeliveryState::new(DeliveryConfig::default());
        let mut builder = SwitchboardBuilder::from_socketio(defaults(
            SocketIo::builder().with_adapter::<InMemory>(state.clone()),
        ));
        builder.delivery = Some(state);
        builder
    }

    /// A builder with another room adapter (`state` is that adapter's state, for example a
    /// Redis driver), shared by every namespace.
    pub fn builder_with_adapter<A: Adapter + DefinedAdapter>(
        state: A::State,
    ) -> SwitchboardBuilder<A> {
        SwitchboardBuilder::from_socketio(defaults(SocketIo::builder().with_adapter::<A>(state)))
    }
}

/// Configures Socket.IO and collects the namespaces; `build_layer` turns it into a Tower layer.
///
/// Every socketioxide setting is reachable: the common ones have a method of the same name
/// here, and [`socketio`](Self::socketio) hands over socketioxide's own builder for the rest.
#[must_use = "a builder does nothing until `build_layer` or `build_svc` is called"]
pub struct SwitchboardBuilder<A: Adapter = InMemory> {
    socketio: SocketIoBuilder<A>,
    namespaces: Vec<NamespaceDef<A>>,
    req_path: Cow<'static, str>,
    guards: Guards,
    #[cfg_attr(not(feature = "client-bundle"), allow(dead_code))]
    serve_client: bool,
    /// The state of [`InMemory`]: the delivery bounds and what the namespaces of this server
    /// share. Given to socketioxide as state when the layer is built (a socket finds its
    /// namespace's adapter through it), and only then: socketioxide keeps the first state of a
    /// type it is given.
    delivery: Option<DeliveryState>,
}

macro_rules! delegate {
    ($($(#[$doc:meta])* $name:ident($arg:ident: $ty:ty);)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, $arg: $ty) -> Self {
            self.socketio = self.socketio.$name($arg);
            self
        }
    )*};
}

impl<A: Adapter + DefinedAdapter> SwitchboardBuilder<A> {
    fn from_socketio(socketio: SocketIoBuilder<A>) -> Self {
        Self {
            socketio,
            namespaces: Vec::new(),
            req_path: Cow::Borrowed("/socket.io"),
            guards: Guards {
                stacks: Vec::new(),
                timeout: DEFAULT_GUARD_TIMEOUT,
            },
            serve_client: true,
            delivery: None,
        }
    }

    /// The connection queue must hold what delivery keeps in it, with room to spare.
    fn check_queue_of(
        delivery: &Option<DeliveryState>,
        io: &SocketIo<A>,
    ) -> Result<(), BuildError> {
        let Some(delivery) = delivery else {
            return Ok(());
        };
        let delivery = delivery.0.config;
        let max_buffer_size = io.config().engine_config.max_buffer_size;
        if max_buffer_size < delivery.max_in_flight + QUEUE_SLACK {
            return Err(BuildError::QueueTooShort {
                max_buffer_size,
                max_in_flight: delivery.max_in_flight,
                slack: QUEUE_SLACK,
            });
        }
        Ok(())
    }

    /// Registers a namespace: a type with `#[namespace]` on its `impl` block, or a
    /// [`NamespaceDef`].
    pub fn namespace(mut self, namespace: impl Namespace<A>) -> Self {
        self.namespaces.push(namespace.into_def());
        self
    }

    /// Applies any socketioxide setting, for those without a method here.
    ///
    /// ```
    /// # use switchboard::Switchboard;
    /// use switchboard::socketioxide::ParserConfig;
    /// let builder = Switchboard::builder().socketio(|io| {
    ///     io.with_parser(ParserConfig::common().max_incoming_binaries(4))
    /// });
    /// ```
    pub fn socketio(
        mut self,
        configure: impl FnOnce(SocketIoBuilder<A>) -> SocketIoBuilder<A>,
    ) -> Self {
        self.socketio = configure(self.socketio);
        self
    }

    /// The path Socket.IO answers under (default `/socket.io`); the JavaScript client is
    /// served under it too.
    pub fn req_path(mut self, path: impl Into<Cow<'static, str>>) -> Self {
        self.req_path = path.into();
        self.socketio = self.socketio.req_path(self.req_path.clone());
        self
    }

    /// Protects every namespace with a Tower middleware stack run on each CONNECT, before the
    /// namespace's own guards; see [`NamespaceDef::guard`] and the [`guard`](crate::guard)
    /// module.
    pub fn guard_all<B>(mut self, layer: impl GuardLayer<B>) -> Self {
        self.guards.stacks.push(layer.into_guard());
        self
    }

    /// How long the guards of one CONNECT may take in all before the connection is refused
    /// with `the connection guard did not answer within …` (default 10 s).
    pub fn guard_timeout(mut self, timeout: Duration) -> Self {
        self.guards.timeout = timeout;
        self
    }

    /// Whether to serve the JavaScript client under the Socket.IO path
    /// (`/socket.io/socket.io.js`, …; default on). See [`client_bundle`](crate::client_bundle).
    ///
    /// Without the `client-bundle` cargo feature nothing is served whatever this says.
    pub fn serve_client(mut self, serve: bool) -> Self {
        self.serve_client = serve;
        self
    }

    delegate! {
        /// How often the server pings each client (default 25 s).
        ping_interval(interval: Duration);
        /// How long the server waits for a pong before closing (default 20 s).
        ping_timeout(timeout: Duration);
        /// How long a client may take to upgrade from polling to websocket (default 10 s).
        upgrade_timeout(timeout: Duration);
        /// Packets buffered per connection before emits fail (default
        /// [`DEFAULT_MAX_BUFFER_SIZE`], 1024).
        max_buffer_size(packets: usize);
        /// Largest payload accepted from a client, in bytes (default 100 kB).
        max_payload(bytes: u64);
        /// Websocket read buffer per connection, in bytes (default
        /// [`DEFAULT_WS_READ_BUFFER_SIZE`], 1 KiB).
        ws_read_buffer_size(bytes: usize);
        /// Largest websocket message accepted, in bytes.
        ws_max_message_size(bytes: usize);
        /// Largest websocket frame accepted, in bytes.
        ws_max_frame_size(bytes: usize);
        /// How long `emit_with_ack` waits for the client (default 5 s).
        ack_timeout(timeout: Duration);
        /// How long a client may take to connect to a namespace after the handshake (default 45 s).
        connect_timeout(timeout: Duration);
        /// Replaces the whole socketioxide configuration.
        with_config(config: SocketIoConfig);
    }

    /// The transports clients may use (default: polling and websocket).
    pub fn transports<const N: usize>(mut self, transports: [TransportType; N]) -> Self {
        self.socketio = self.socketio.transports(transports);
        self
    }

    /// Application state handlers read with the `State<T>` extractor.
    pub fn with_state<S: Clone + Send + Sync + 'static>(mut self, state: S) -> Self {
        self.socketio = self.socketio.with_state(state);
        self
    }

    /// Builds the Tower layer to put on an axum `Router`, and the [`SocketIo`] handle.
    pub fn build_layer(self) -> Result<(SwitchboardLayer<A>, SocketIo<A>), BuildError> {
        let namespaces = check(self.namespaces)?;
        let socketio = match &self.delivery {
            Some(state) => self.socketio.with_state(state.clone()),
            None => self.socketio,
        };
        let (socketio, io) = socketio.build_layer();
        Self::check_queue_of(&self.delivery, &io)?;
        spawn_all::<A>(register(&io, namespaces, &self.guards)?);
        let layer = SwitchboardLayer {
            socketio,
            #[cfg(feature = "client-bundle")]
            client: crate::client_bundle::ClientBundleLayer::new()
                .path(&self.req_path)
                .enabled(self.serve_client),
        };
        Ok((layer, io))
    }

    /// Builds a standalone service (answering 404 outside the Socket.IO path), for servers
    /// that are not axum, and the [`SocketIo`] handle.
    pub fn build_svc(
        self,
    ) -> Result<
        (
            SocketIoService<engineioxide::service::NotFoundService, A>,
            SocketIo<A>,
        ),
        BuildError,
    > {
        let namespaces = check(self.namespaces)?;
        let socketio = match &self.delivery {
            Some(state) => self.socketio.with_state(state.clone()),
            None => self.socketio,
        };
        let (svc, io) = socketio.build_svc();
        Self::check_queue_of(&self.delivery, &io)?;
        spawn_all::<A>(register(&io, namespaces, &self.guards)?);
        Ok((svc, io))
    }
}

impl SwitchboardBuilder<InMemory> {
    /// The bounds on what is kept for a socket that reads slower than it is sent to (default
    /// [`DeliveryConfig::default`]: 4 MiB of backlog, 10 s without progress); past them the
    /// socket is disconnected as a slow consumer. See [`crate::delivery`].
    pub fn delivery(mut self, config: DeliveryConfig) -> Self {
        let state = DeliveryState::new(config);
        self.socketio = self.socketio.with_adapter::<InMemory>(state.clone());
        self.delivery = Some(state);
        self
    }
}

impl<A: ReadyAdapter> SwitchboardBuilder<A> {
    /// [`build_layer`](Self::build_layer), then waits until every namespace's room adapter is
    /// ready. Use it with a remote adapter ([`Switchboard::builder_redis`]): a namespace whose
    /// adapter cannot subscribe to its channels is an error here, naming the namespace and the
    /// Redis URL, where `build_layer` only logs it and the namespace stays unavailable.
    ///
    /// Dynamic namespaces (`/tenant/{id}`) start their adapter when their first client
    /// connects, so they are not waited for.
    ///
    /// [`Switchboard::builder_redis`]: crate::Switchboard
    pub async fn build_layer_async(
        mut self,
    ) -> Result<(SwitchboardLayer<A>, SocketIo<A>), BuildError> {
        let namespaces = check(std::mem::take(&mut self.namespaces))?;
        let guards = self.guards.clone();
        let (layer, io) = self.build_layer()?;
        wait_all::<A>(register(&io, namespaces, &guards)?).await?;
        Ok((layer, io))
    }

    /// [`build_svc`](Self::build_svc), then waits like
    /// [`build_layer_async`](Self::build_layer_async).
    pub async fn build_svc_async(
        mut self,
    ) -> Result<
        (
            SocketIoService<engineioxide::service::NotFoundService, A>,
            SocketIo<A>,
        ),
        BuildError,
    > {
        let namespaces = check(std::mem::take(&mut self.namespaces))?;
        let guards = self.guards.clone();
        let (svc, io) = self.build_svc()?;
        wait_all::<A>(register(&io, namespaces, &guards)?).await?;
        Ok((svc, io))
    }
}

/// Each static namespace's adapter start-up, by path.
type Inits<A> = Vec<(
    String,
    <A as socketioxide_core::adapter::CoreAdapter<socketioxide::adapter::Emitter>>::InitRes,
)>;

fn spawn_all<A: Adapter>(inits: Inits<A>) {
    for (_, init) in inits {
        init.spawn();
    }
}

async fn wait_all<A: ReadyAdapter>(inits: Inits<A>) -> Result<(), BuildError> {
    for (path, init) in inits {
        A::ready(init, &path).await?;
    }
    Ok(())
}

/// Refuses invalid paths, duplicate namespaces and duplicate events before anything is built.
fn check<A: Adapter>(namespaces: Vec<NamespaceDef<A>>) -> Result<Vec<NamespaceDef<A>>, BuildError> {
    let mut paths = HashSet::new();
    for ns in &namespaces {
        check_path(&ns.path).map_err(|reason| BuildError::InvalidPath {
            path: ns.path.to_string(),
            reason,
        })?;
        if !paths.insert(ns.path.as_ref()) {
            return Err(BuildError::DuplicateNamespace(ns.path.to_string()));
        }
        let mut events = HashSet::new();
        for entry in &ns.events {
            let event = &entry.key;
            if !events.insert(event) {
                return Err(BuildError::DuplicateEvent {
                    namespace: ns.path.to_string(),
                    event: event.to_string(),
                });
            }
        }
    }
    Ok(namespaces)
}

fn register<A: Adapter + DefinedAdapter>(
    io: &SocketIo<A>,
    namespaces: Vec<NamespaceDef<A>>,
    guards: &Guards,
) -> Result<Inits<A>, BuildError> {
    // A remote adapter subscribes to its channels in these futures: `build_layer` spawns them,
    // `build_layer_async` awaits them.
    let mut inits = Vec::new();
    for ns in namespaces {
        let path = ns.path.clone();
        if ns.is_dynamic() {
            let pattern = NsPattern::new(&path).map_err(|source| BuildError::DynamicNamespace {
                path: path.to_string(),
                source,
            })?;
            io.dyn_ns(
                path.to_string(),
                NamespaceHandler::new(ns, Some(pattern), guards.clone()),
            )
            .map_err(|source| BuildError::DynamicNamespace {
                path: path.to_string(),
                source,
            })?;
        } else {
            let init = io.ns(
                path.clone(),
                NamespaceHandler::new(ns, None, guards.clone()),
            );
            inits.push((path.into_owned(), init));
        }
    }
    Ok(inits)
}

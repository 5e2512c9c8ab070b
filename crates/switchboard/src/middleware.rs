//! Event middleware: Tower layers around event handlers, per namespace and per event.
//!
//! Each socket gets its own instance of the stack, built when it joins the namespace and
//! dropped with it, so per-socket state (a rate limit's budget, a concurrency limit's permits)
//! is never shared between clients and never outlives the socket. The stack's request is an
//! [`EventCall`]; the innermost service runs the handler (which sends its own ack).
//!
//! When the stack answers an error instead, the event is refused: the client receives an error
//! ack when it asked for one, the refusal is logged, and counted in the
//! `switchboard_events_refused_total` counter (labels `ns`, `reason`) of the
//! [`metrics`](https://docs.rs/metrics) facade:
//!
//! | the stack's error | ack `code` | typical layer |
//! |---|---|---|
//! | `tower::timeout::error::Elapsed` | `timeout` | `TimeoutLayer`: the handler is cancelled at the deadline |
//! | `tower::load_shed::error::Overloaded` | `overloaded` | `LoadShedLayer` over `RateLimitLayer` or `ConcurrencyLimitLayer` |
//! | any other | `refused` | your own layer |
//!
//! Every handler already runs in a `tracing` span `event{ns, event, sid}` at debug level, every
//! guard in `guard{ns, sid}` and every connection in `connect{ns, sid}`: set
//! `RUST_LOG=switchboard=debug` to see them, no layer needed. The other metrics are listed in
//! [`crate::metrics`].
//!
//! Put `load_shed` outside `rate_limit` and `concurrency_limit`: without it those layers make
//! events wait instead of refusing them. With [`NamespaceDef::disconnect_abusers`](crate::NamespaceDef::disconnect_abusers), a socket
//! refused too often is disconnected.
//!
//! ```
//! use std::time::Duration;
//! use switchboard::{Ack, NamespaceDef};
//! use tower::ServiceBuilder;
//!
//! let chat = NamespaceDef::new("/chat")
//!     .layer(
//!         ServiceBuilder::new()
//!             .load_shed()
//!             .rate_limit(20, Duration::from_secs(1)) // per socket
//!             .timeout(Duration::from_secs(2)),
//!     )
//!     .disconnect_abusers(100, Duration::from_secs(10))
//!     .on("ping", async || Ack("pong"));
//! # let _ = switchboard::Switchboard::builder().namespace(chat).build_layer().unwrap();
//! ```
use std::{
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures_util::FutureExt;
use socketioxide::{
    adapter::Adapter,
    extract::SocketRef,
    handler::{MessageHandler, Value},
    socket::Socket,
};
use tower::{BoxError, ServiceExt, util::BoxService};
use tower_layer::Layer;
use tower_service::Service;

use crate::{
    ack::AckError,
    handler::{ErasedEvent, EventName},
    metrics::NsMetrics,
};

/// One event on its way to its handler: what event middleware sees.
pub struct EventCall<A: Adapter> {
    socket: Arc<Socket<A>>,
    value: Value,
    ack_id: Option<i64>,
    event: EventName,
    name: Arc<str>,
}

impl<A: Adapter> EventCall<A> {
    /// The socket that sent the event.
    pub fn socket(&self) -> SocketRef<A> {
        SocketRef::from(self.socket.clone())
    }

    /// The event's name.
    pub fn event(&self) -> &str {
        &self.name
    }

    /// Whether the client waits for an acknowledgement.
    pub fn wants_ack(&self) -> bool {
        self.ack_id.is_some()
    }
}

impl<A: Adapter> std::fmt::Debug for EventCall<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventCall")
            .field("ns", &self.socket.ns())
            .field("sid", &self.socket.id)
            .field("event", &self.name)
            .field("wants_ack", &self.wants_ack())
            .finish()
    }
}

/// The service event middleware wraps: the handler, boxed.
pub type EventService<A> = BoxService<EventCall<A>, (), BoxError>;

/// A user's layer with its type erased.
#[doc(hidden)]
pub type BoxedEventLayer<A> = Arc<dyn Fn(EventService<A>) -> EventService<A> + Send + Sync>;

/// A Tower layer that can wrap event handlers: its service takes an [`EventCall`], answers
/// `()`, is `Send`, and its errors convert to [`BoxError`]. Implemented for every such layer;
/// you never implement it yourself.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot wrap event handlers",
    label = "not an event layer",
    note = "an event layer is a Tower layer whose service takes `switchboard::middleware::EventCall<A>`, answers `()` and is `Send + 'static`; the layer itself is `Send + Sync + 'static`"
)]
pub trait EventLayer<A: Adapter>: Layer<EventService<A>> + Send + Sync + 'static {
    /// Erases the layer's type.
    #[doc(hidden)]
    fn into_boxed(self) -> BoxedEventLayer<A>;
}

impl<A, L> EventLayer<A> for L
where
    A: Adapter,
    L: Layer<EventService<A>> + Send + Sync + 'static,
    L::Service: Service<EventCall<A>, Response = ()> + Send + 'static,
    <L::Service as Service<EventCall<A>>>::Future: Send + 'static,
    <L::Service as Service<EventCall<A>>>::Error: Into<BoxError>,
{
    fn into_boxed(self) -> BoxedEventLayer<A> {
        Arc::new(move |inner| BoxService::new(self.layer(inner).map_err(Into::into)))
    }
}

/// The innermost service: extracts the arguments and runs the handler.
struct Endpoint<A: Adapter> {
    handler: Arc<dyn ErasedEvent<A>>,
}

impl<A: Adapter> Service<EventCall<A>> for Endpoint<A> {
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: EventCall<A>) -> Self::Future {
        let fut = self
            .handler
            .boxed(call.socket, call.value, call.ack_id, &call.event);
        Box::pin(async move {
            if let Some(fut) = fut {
                fut.await;
            }
            Ok(())
        })
    }
}

/// Disconnect a socket refused more than `max` times within `per`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AbusePolicy {
    pub(crate) max: u32,
    pub(crate) per: Duration,
}

/// One socket's refusals in the current window.
struct AbuseWindow {
    policy: AbusePolicy,
    /// Start of the window, refusals in it, and whether the socket was already sent away.
    state: Mutex<(Instant, u32, bool)>,
}

impl AbuseWindow {
    /// Records a refusal; true exactly once: when the socket first passes the limit.
    fn refused(&self) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        let now = Instant::now();
        if now.duration_since(state.0) > self.policy.per {
            (state.0, state.1) = (now, 0);
        }
        state.1 += 1;
        let trip = state.1 > self.policy.max && !state.2;
        state.2 |= trip;
        trip
    }
}

/// Builds one socket's middleware stacks.
pub(crate) struct SocketStacks<A: Adapter> {
    abuse: Option<Arc<AbuseWindow>>,
    metrics: Arc<NsMetrics>,
    _marker: std::marker::PhantomData<fn() -> A>,
}

impl<A: Adapter> SocketStacks<A> {
    pub(crate) fn new(policy: Option<AbusePolicy>, metrics: Arc<NsMetrics>) -> Self {
        Self {
            metrics,
            abuse: policy.map(|policy| {
                Arc::new(AbuseWindow {
                    policy,
                    state: Mutex::new((Instant::now(), 0, false)),
                })
            }),
            _marker: std::marker::PhantomData,
        }
    }

    /// The message handler for one event: the handler under its own layers, then the
    /// namespace's (the first one added outermost). `received` counts its arrivals.
    pub(crate) fn stack(
        &self,
        handler: Arc<dyn ErasedEvent<A>>,
        event: EventName,
        received: metrics::Counter,
        own: &[BoxedEventLayer<A>],
        namespace: &[BoxedEventLayer<A>],
    ) -> Layered<A> {
        let mut svc: EventService<A> = BoxService::new(Endpoint { handler });
        for layer in own.iter().rev().chain(namespace.iter().rev()) {
            svc = layer(svc);
        }
        Layered {
            svc: Arc::new(tokio::sync::Mutex::new(svc)),
            event,
            abuse: self.abuse.clone(),
            received,
            metrics: self.metrics.clone(),
        }
    }
}

/// One socket's middleware stack for one event, as socketioxide's `MessageHandler`.
pub(crate) struct Layered<A: Adapter> {
    svc: Arc<tokio::sync::Mutex<EventService<A>>>,
    event: EventName,
    abuse: Option<Arc<AbuseWindow>>,
    received: metrics::Counter,
    metrics: Arc<NsMetrics>,
}

impl<A: Adapter> Clone for Layered<A> {
    fn clone(&self) -> Self {
        Self {
            svc: self.svc.clone(),
            event: self.event.clone(),
            abuse: self.abuse.clone(),
            received: self.received.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// Marker keeping this impl apart from socketioxide's impls for closures.
pub(crate) struct ViaMiddleware;

impl<A: Adapter> MessageHandler<A, ViaMiddleware> for Layered<A> {
    fn call(&self, socket: Arc<Socket<A>>, mut value: Value, ack_id: Option<i64>) {
        self.received.increment(1);
        let name = self.event.resolve(&socket, &mut value);
        let call = EventCall {
            socket: socket.clone(),
            value,
            ack_id,
            event: self.event.clone(),
            name: name.clone(),
        };
        let this = self.clone();
        // Started like a handler without middleware: in the order the events arrived.
        crate::handler::start_in_order(async move {
            let run = async {
                // The lock is held only while the stack becomes ready and takes the call, so a
                // slow handler does not hold up the socket's next event.
                let fut = {
                    let mut svc = this.svc.lock().await;
                    match svc.ready().await {
                        Ok(svc) => svc.call(call),
                        Err(error) => return this.refused(&socket, ack_id, &name, error),
                    }
                };
                if let Err(error) = fut.await {
                    this.refused(&socket, ack_id, &name, error);
                }
            };
            // A panicking layer is contained like a panicking handler.
            if AssertUnwindSafe(run).catch_unwind().await.is_err() {
                tracing::error!(ns = socket.ns(), sid = %socket.id, event = %name, "event middleware panicked");
                AckError::internal_error(&name).refuse(&socket, ack_id, &name);
            }
        });
    }
}

impl<A: Adapter> Layered<A> {
    fn refused(&self, socket: &Arc<Socket<A>>, ack_id: Option<i64>, event: &str, error: BoxError) {
        let ns = socket.ns();
        let (reason, ack) = if error.is::<tower::timeout::error::Elapsed>() {
            (
                "timeout",
                AckError::new(
                    "timeout",
                    format!("the handler for event `{event}` took too long"),
                ),
            )
        } else if error.is::<tower::load_shed::error::Overloaded>() {
            (
                "overloaded",
                AckError::new(
                    "overloaded",
                    format!("too many `{event}` events: slow down"),
                ),
            )
        } else {
            (
                "refused",
                AckError::new("refused", format!("event `{event}` refused: {error}")),
            )
        };
        tracing::warn!(ns, sid = %socket.id, event, reason, %error, "event refused by middleware");
        self.metrics.event_refused(reason);
        ack.refuse(socket, ack_id, event);
        if let Some(abuse) = &self.abuse
            && abuse.refused()
        {
            tracing::warn!(ns, sid = %socket.id, max = abuse.policy.max, per = ?abuse.policy.per, "socket refused too often: disconnecting it");
            self.metrics.abuse_disconnect();
            if let Err(error) = socket.clone().disconnect() {
                tracing::warn!(%error, "could not disconnect the socket");
            }
        }
    }
}

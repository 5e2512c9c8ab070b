//! Event handlers: extract arguments, run the handler, send its return value as the ack.
use std::{
    any::Any, future::Future, marker::PhantomData, panic::AssertUnwindSafe, pin::Pin, sync::Arc,
};

use futures_util::FutureExt;
use socketioxide::{
    ParserError,
    adapter::Adapter,
    extract::Event,
    handler::{FromMessage, FromMessageParts, MessageHandler, Value},
    socket::Socket,
};
use tracing::Instrument;

use crate::ack::{AckError, AckSink, IntoAck};

/// An async function or closure that handles one event.
///
/// Its arguments are socketioxide message extractors (`SocketRef`, `Data<T>`, `TryData<T>`,
/// `AckSender`, `State<T>`, `Extension<T>`, `SocketIo`, `Event`, [`NsParams`](crate::NsParams),
/// …; the last one may consume the payload) and its return value implements [`IntoAck`].
///
/// When an argument cannot be extracted (typically `Data<T>` on a payload of another shape),
/// the handler does not run, a warning is logged, and a client that asked for an
/// acknowledgement receives an [`AckError`] with code `invalid_payload`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a switchboard event handler",
    label = "not an event handler",
    note = "an event handler is an async fn or closure; every argument is a socketioxide message extractor (SocketRef, Data<T>, TryData<T>, AckSink, AckSender, State<T>, Extension<T>, SocketIo, Event, NsParams) and it returns `()`, `Result<T, E>` or `Ack<T>`",
    note = "a namespace written for any adapter takes `SocketRef<A>` with `A: Adapter` a type parameter of the method"
)]
pub trait EventHandler<A: Adapter, T>: Clone + Send + Sync + 'static {
    /// Extracts the arguments from the packet and returns the future that runs the handler and
    /// sends its ack; `None` when an argument could not be extracted (the event was refused).
    fn prepare(
        &self,
        socket: Arc<Socket<A>>,
        value: Value,
        ack_id: Option<i64>,
        event: &EventName,
    ) -> Option<impl Future<Output = ()> + Send + 'static>;
}

/// The event a handler was registered for; for the catch-all handler the name is read from
/// the packet when needed. Opaque: switchboard passes it to [`EventHandler::prepare`].
#[derive(Debug, Clone)]
pub struct EventName(pub(crate) Option<Arc<str>>);

impl EventName {
    pub(crate) fn resolve<A: Adapter>(
        &self,
        socket: &Arc<Socket<A>>,
        value: &mut Value,
    ) -> Arc<str> {
        match &self.0 {
            Some(name) => name.clone(),
            None => Event::from_message_parts(socket, value, &None)
                .map(|Event(name)| name.into())
                .unwrap_or_else(|_| "<unreadable>".into()),
        }
    }
}

/// Refuses an event whose arguments could not be extracted: logged, and acked when asked.
fn refuse<A: Adapter, E: std::error::Error + 'static>(
    socket: &Arc<Socket<A>>,
    mut value: Value,
    ack_id: Option<i64>,
    event: &EventName,
    error: E,
) {
    let name = event.resolve(socket, &mut value);
    let ns = socket.ns();
    let error_ref: &dyn Any = &error;
    let ack = if error_ref.is::<ParserError>() {
        tracing::warn!(ns, sid = %socket.id, event = %name, %error, "event payload rejected");
        AckError::invalid_payload(&name, &error)
    } else {
        tracing::error!(ns, sid = %socket.id, event = %name, %error, "event argument could not be extracted");
        AckError::new(
            crate::ack::codes::EXTRACTION_FAILED,
            format!("the server could not handle event `{name}`: {error}"),
        )
    };
    ack.refuse(socket, ack_id, &name);
}

/// The span a handler runs in: `event{ns, event, sid}` at debug level, so enabling
/// `switchboard=debug` traces every event and costs nothing otherwise.
fn event_span<A: Adapter>(socket: &Arc<Socket<A>>, name: &str) -> tracing::Span {
    tracing::debug_span!("event", ns = socket.ns(), event = name, sid = %socket.id)
}

/// Runs the handler's future and sends its return value as the acknowledgement. A panicking
/// handler is contained: logged, and acked with `internal_error` when asked.
async fn run_with_ack<A, Fut>(socket: Arc<Socket<A>>, ack_id: Option<i64>, fut: Fut, name: Arc<str>)
where
    A: Adapter,
    Fut: Future + Send + 'static,
    Fut::Output: IntoAck,
{
    let _running = crate::serve::Running::start();
    let has_ack = ack_id.is_some();
    let result = AssertUnwindSafe(fut).catch_unwind().await;
    let ack = AckSink::new(socket.clone(), ack_id);
    let outcome = match result {
        Ok(res) => res.send_ack(ack, &name, has_ack),
        Err(_) => {
            tracing::error!(event = %name, "event handler panicked");
            AckError::internal_error(&name).send(ack, &name)
        }
    };
    crate::ack::account(&socket, outcome);
}

impl<A, F, Fut> EventHandler<A, ()> for F
where
    F: FnOnce() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoAck,
    A: Adapter,
{
    fn prepare(
        &self,
        socket: Arc<Socket<A>>,
        mut value: Value,
        ack_id: Option<i64>,
        event: &EventName,
    ) -> Option<impl Future<Output = ()> + Send + 'static> {
        let name = event.resolve(&socket, &mut value);
        let span = event_span(&socket, &name);
        Some(run_with_ack(socket, ack_id, (self.clone())(), name).instrument(span))
    }
}

macro_rules! impl_event_handler {
    ([$($ty:ident),*], $last:ident) => {
        #[allow(non_snake_case)]
        #[diagnostic::do_not_recommend]
        impl<A, F, M, $($ty,)* $last, Fut> EventHandler<A, (M, $($ty,)* $last,)> for F
        where
            F: FnOnce($($ty,)* $last,) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: IntoAck,
            A: Adapter,
            $( $ty: FromMessageParts<A> + Send, )*
            $last: FromMessage<A, M> + Send,
        {
            fn prepare(
                &self,
                socket: Arc<Socket<A>>,
                mut value: Value,
                ack_id: Option<i64>,
                event: &EventName,
            ) -> Option<impl Future<Output = ()> + Send + 'static> {
                let name = event.resolve(&socket, &mut value);
                $(
                    let $ty = match $ty::from_message_parts(&socket, &mut value, &ack_id) {
                        Ok(v) => v,
                        Err(e) => {
                            refuse(&socket, value, ack_id, event, e);
                            return None;
                        }
                    };
                )*
                // `from_message` consumes the value; keep a copy only for the error path.
                let last = match $last::from_message(socket.clone(), value.clone(), ack_id) {
                    Ok(v) => v,
                    Err(e) => {
                        refuse(&socket, value, ack_id, event, e);
                        return None;
                    }
                };
                let span = event_span(&socket, &name);
                let fut = (self.clone())($($ty,)* last);
                Some(run_with_ack(socket, ack_id, fut, name).instrument(span))
            }
        }
    };
}

impl_event_handler!([], T1);
impl_event_handler!([T1], T2);
impl_event_handler!([T1, T2], T3);
impl_event_handler!([T1, T2, T3], T4);
impl_event_handler!([T1, T2, T3, T4], T5);
impl_event_handler!([T1, T2, T3, T4, T5], T6);
impl_event_handler!([T1, T2, T3, T4, T5, T6], T7);
impl_event_handler!([T1, T2, T3, T4, T5, T6, T7], T8);
impl_event_handler!([T1, T2, T3, T4, T5, T6, T7, T8], T9);
impl_event_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9], T10);
impl_event_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10], T11);
impl_event_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11], T12);

/// An event handler with its argument types erased, shared by every socket of a namespace.
pub(crate) trait ErasedEvent<A: Adapter>: Send + Sync + 'static {
    /// Extracts and spawns the handler.
    fn spawn(&self, socket: Arc<Socket<A>>, value: Value, ack_id: Option<i64>, event: &EventName);
    /// Extracts and returns the boxed handler future, for middleware stacks.
    fn boxed(
        &self,
        socket: Arc<Socket<A>>,
        value: Value,
        ack_id: Option<i64>,
        event: &EventName,
    ) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>>;
}

/// Erases an [`EventHandler`]'s argument types.
pub(crate) struct Erase<H, T> {
    handler: H,
    _marker: PhantomData<fn() -> T>,
}

impl<H, T> Erase<H, T> {
    pub(crate) fn new(handler: H) -> Self {
        Self {
            handler,
            _marker: PhantomData,
        }
    }
}

impl<A, H, T> ErasedEvent<A> for Erase<H, T>
where
    A: Adapter,
    H: EventHandler<A, T>,
    T: Send + Sync + 'static,
{
    fn spawn(&self, socket: Arc<Socket<A>>, value: Value, ack_id: Option<i64>, event: &EventName) {
        if let Some(fut) = self.handler.prepare(socket, value, ack_id, event) {
            start_in_order(fut);
        }
    }

    fn boxed(
        &self,
        socket: Arc<Socket<A>>,
        value: Value,
        ack_id: Option<i64>,
        event: &EventName,
    ) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
        let fut = self.handler.prepare(socket, value, ack_id, event)?;
        Some(Box::pin(fut))
    }
}

/// An erased handler as socketioxide's `MessageHandler`, for events without middleware.
pub(crate) struct Dispatch<A: Adapter> {
    pub(crate) handler: Arc<dyn ErasedEvent<A>>,
    pub(crate) event: EventName,
    /// This event's `switchboard_events_received_total`, resolved once per namespace.
    pub(crate) received: metrics::Counter,
}

impl<A: Adapter> Clone for Dispatch<A> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            event: self.event.clone(),
            received: self.received.clone(),
        }
    }
}

/// Marker keeping switchboard's impl of `MessageHandler` apart from socketioxide's own.
pub(crate) struct ViaSwitchboard;

impl<A: Adapter> MessageHandler<A, ViaSwitchboard> for Dispatch<A> {
    fn call(&self, s: Arc<Socket<A>>, v: Value, ack_id: Option<i64>) {
        self.received.increment(1);
        self.handler.spawn(s, v, ack_id, &self.event);
    }
}

/// Runs `fut` on the calling task until it first waits, then spawns the rest.
///
/// socketioxide calls handlers in the order a socket's events arrive; a plain `tokio::spawn`
/// lets the runtime start them in any order, so two chats sent back to back could be
/// broadcast in the other order. Started here, everything a handler does before its first
/// pending `.await` (a broadcast to a room, in memory or queued for Redis) happens in arrival
/// order, as in the JavaScript server. Nothing here waits: a broadcast never blocks on a
/// client, so the first poll is as short as the handler's own synchronous work.
pub(crate) fn start_in_order<F: Future<Output = ()> + Send + 'static>(fut: F) {
    let mut fut = Box::pin(fut);
    // A no-op waker is enough: the spawned task polls again at once, with its own waker.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    if fut.as_mut().poll(&mut cx).is_pending() {
        tokio::spawn(fut);
    }
}

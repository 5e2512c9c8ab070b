//! Event handlers: extract arguments, run the handler, send its return value as the ack.
use std::{any::Any, future::Future, marker::PhantomData, panic::AssertUnwindSafe, sync::Arc};

use futures_util::FutureExt;
use socketioxide::{
    ParserError,
    adapter::Adapter,
    extract::{AckSender, Event},
    handler::{FromMessage, FromMessageParts, MessageHandler, Value},
    socket::Socket,
};

use crate::ack::{AckError, IntoAck};

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
    note = "an event handler is an async fn or closure; every argument is a socketioxide message extractor (SocketRef, Data<T>, TryData<T>, AckSender, State<T>, Extension<T>, SocketIo, Event, NsParams) and it returns `()`, `Result<T, E>` or `Ack<T>`",
    note = "a namespace written for any adapter takes `SocketRef<A>` with `A: Adapter` a type parameter of the method"
)]
pub trait EventHandler<A: Adapter, T>: Clone + Send + Sync + 'static {
    /// Extracts the arguments from the packet, runs the handler on the runtime and sends the ack.
    fn call(&self, socket: Arc<Socket<A>>, value: Value, ack_id: Option<i64>, event: &EventName);
}

/// The event a handler was registered for; for the catch-all handler the name is read from
/// the packet when needed. Opaque: switchboard passes it to [`EventHandler::call`].
#[derive(Debug, Clone)]
pub struct EventName(pub(crate) Option<Arc<str>>);

impl EventName {
    fn resolve<A: Adapter>(&self, socket: &Arc<Socket<A>>, value: &mut Value) -> Arc<str> {
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
    if ack_id.is_some() {
        ack.send(
            AckSender::from_message_parts(socket, &mut value, &ack_id)
                .unwrap_or_else(|e| match e {}),
            &name,
        );
    }
}

/// Runs the handler's future on the runtime and sends its return value as the acknowledgement.
/// A panicking handler is contained: logged, and acked with `internal_error` when asked.
fn spawn_with_ack<A, Fut>(ack: AckSender<A>, fut: Fut, name: Arc<str>, has_ack: bool)
where
    A: Adapter,
    Fut: Future + Send + 'static,
    Fut::Output: IntoAck,
{
    tokio::spawn(async move {
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(res) => res.send_ack(ack, &name),
            Err(_) => {
                tracing::error!(event = %name, "event handler panicked");
                if has_ack {
                    AckError::new(
                        crate::ack::codes::INTERNAL_ERROR,
                        format!("the handler for event `{name}` failed"),
                    )
                    .send(ack, &name);
                }
            }
        }
    });
}

impl<A, F, Fut> EventHandler<A, ()> for F
where
    F: FnOnce() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoAck,
    A: Adapter,
{
    fn call(
        &self,
        socket: Arc<Socket<A>>,
        mut value: Value,
        ack_id: Option<i64>,
        event: &EventName,
    ) {
        let name = event.resolve(&socket, &mut value);
        let ack = AckSender::from_message_parts(&socket, &mut value, &ack_id)
            .unwrap_or_else(|e| match e {});
        spawn_with_ack(ack, (self.clone())(), name, ack_id.is_some());
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
            fn call(&self, socket: Arc<Socket<A>>, mut value: Value, ack_id: Option<i64>, event: &EventName) {
                let name = event.resolve(&socket, &mut value);
                let ack = AckSender::from_message_parts(&socket, &mut value, &ack_id)
                    .unwrap_or_else(|e| match e {});
                $(
                    let $ty = match $ty::from_message_parts(&socket, &mut value, &ack_id) {
                        Ok(v) => v,
                        Err(e) => return refuse(&socket, value, ack_id, event, e),
                    };
                )*
                // `from_message` consumes the value; keep a copy only for the error path.
                let last = match $last::from_message(socket.clone(), value.clone(), ack_id) {
                    Ok(v) => v,
                    Err(e) => return refuse(&socket, value, ack_id, event, e),
                };
                spawn_with_ack(ack, (self.clone())($($ty,)* last), name, ack_id.is_some());
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

/// Adapts an [`EventHandler`] to socketioxide's `MessageHandler`, carrying the event name.
pub(crate) struct Dispatch<H, T> {
    pub(crate) handler: H,
    pub(crate) event: EventName,
    _marker: PhantomData<fn() -> T>,
}

impl<H: Clone, T> Clone for Dispatch<H, T> {
    fn clone(&self) -> Self {
        Self::new(self.handler.clone(), self.event.clone())
    }
}

impl<H, T> Dispatch<H, T> {
    pub(crate) fn new(handler: H, event: EventName) -> Self {
        Self {
            handler,
            event,
            _marker: PhantomData,
        }
    }
}

/// Marker keeping switchboard's impl of `MessageHandler` apart from socketioxide's own.
#[doc(hidden)]
pub(crate) struct ViaSwitchboard<T>(PhantomData<fn() -> T>);

impl<A, H, T> MessageHandler<A, ViaSwitchboard<T>> for Dispatch<H, T>
where
    A: Adapter,
    H: EventHandler<A, T>,
    T: Send + Sync + 'static,
{
    fn call(&self, s: Arc<Socket<A>>, v: Value, ack_id: Option<i64>) {
        self.handler.call(s, v, ack_id, &self.event);
    }
}

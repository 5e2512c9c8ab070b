//! Turning a handler's return value into the client's acknowledgement.
//!
//! A Socket.IO client that emits with a callback (`socket.emit("chat", msg, cb)` or
//! `await socket.emitWithAck("chat", msg)`) waits for one acknowledgement. switchboard sends it
//! from the handler's return value through [`IntoAck`]:
//!
//! | handler returns | client receives |
//! |---|---|
//! | `()` | nothing: the handler acks by itself with an [`AckSink`] argument if it wants to |
//! | `Ok(value)` | `value`, serialized |
//! | `Err(error)` | `{ "error": { "message": "<error's Display>" } }` |
//! | [`Ack(value)`](Ack) | `value`, serialized |
//! | `Err(`[`AckError`]`)` | `{ "error": { "message": "...", "code": "..." } }` |
//!
//! The error shape is an object so that a JavaScript client can tell it from any success value
//! with one check: `if (res?.error) throw new Error(res.error.message)`.
//!
//! switchboard uses the same shape for refusals it makes itself (a payload that does not
//! deserialize, an event without a handler), each with a `code` from [`AckError`]'s
//! constructors.
//!
use std::{borrow::Cow, fmt, sync::Arc};

use serde::Serialize;
use socketioxide::{adapter::Adapter, extract::AckSender, socket::Socket};
use socketioxide_core::packet::Packet;

use crate::adapter::in_memory::{Delivered, Link};

/// A value a handler returns that becomes the acknowledgement the client waits for.
///
/// Implemented for `()`, [`Ack<T>`] and `Result<T, E>` where `T: Serialize` and
/// `E: Display`. See the [module docs](self) for the exact wire shapes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent to the client as an acknowledgement",
    label = "the handler's return value becomes the ack",
    note = "return `()`, `Result<T, E>` with `T: Serialize` and `E: Display`, or `switchboard::Ack(value)`"
)]
pub trait IntoAck {
    /// Sends the acknowledgement (if any) through `ack` and says what became of it.
    ///
    /// `event` is the event name the ack answers, used in logs; `wants_ack` says whether the
    /// client waits for one. An error the client will not hear of (it asked for no ack) is
    /// logged as a warning, so it is never lost in silence.
    fn send_ack<A: Adapter>(self, ack: AckSink<A>, event: &str, wants_ack: bool) -> AckOutcome;
}

impl IntoAck for () {
    fn send_ack<A: Adapter>(self, _: AckSink<A>, _: &str, _: bool) -> AckOutcome {
        AckOutcome::None
    }
}

/// Wraps a value to send as the acknowledgement from a handler that cannot fail.
///
/// ```
/// use switchboard::Ack;
/// async fn ping() -> Ack<&'static str> {
///     Ack("pong")
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack<T>(pub T);

impl<T: Serialize> IntoAck for Ack<T> {
    fn send_ack<A: Adapter>(self, ack: AckSink<A>, event: &str, _: bool) -> AckOutcome {
        ack.send_as(&self.0, event, true)
    }
}

impl<T: Serialize, E: fmt::Display> IntoAck for Result<T, E> {
    fn send_ack<A: Adapter>(self, ack: AckSink<A>, event: &str, wants_ack: bool) -> AckOutcome {
        match self {
            Ok(value) => ack.send_as(&value, event, true),
            Err(error) => {
                let error = AckError::from_parts(None, error.to_string());
                report(&error, event, wants_ack);
                error.send(ack, event)
            }
        }
    }
}

/// Logs a handler's error: at debug level when the client receives it in the ack, as a
/// warning (and counted) when it asked for no ack and would otherwise never know.
fn report(error: &AckError, event: &str, wants_ack: bool) {
    if wants_ack {
        tracing::debug!(
            event,
            message = error.message(),
            "handler returned an error; acking it"
        );
    } else {
        tracing::warn!(
            event,
            message = error.message(),
            "handler returned an error and the client asked for no acknowledgement"
        );
        metrics::counter!(crate::metrics::UNACKED_ERRORS_TOTAL).increment(1);
    }
}

/// Where the acknowledgement of one event goes: the socket that sent it and the ack id it
/// asked for.
///
/// On [`InMemory`](crate::InMemory) the acknowledgement keeps its place among everything else
/// the socket is sent (behind its backlog, if it has one; see [`crate::delivery`]); on other
/// adapters it is socketioxide's `AckSender`.
pub struct AckSink<A: Adapter> {
    socket: Arc<Socket<A>>,
    ack_id: Option<i64>,
}

impl<A: Adapter> fmt::Debug for AckSink<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AckSink")
            .field("ns", &self.socket.ns())
            .field("sid", &self.socket.id)
            .field("ack_id", &self.ack_id)
            .finish()
    }
}

impl<A: Adapter> AckSink<A> {
    pub(crate) fn new(socket: Arc<Socket<A>>, ack_id: Option<i64>) -> Self {
        Self { socket, ack_id }
    }

    /// Whether the client asked for an acknowledgement.
    pub fn wanted(&self) -> bool {
        self.ack_id.is_some()
    }

    /// Sends `value` as the acknowledgement, if the client asked for one.
    pub fn send<T: Serialize + ?Sized>(self, value: &T) -> AckOutcome {
        self.send_as(value, "", true)
    }

    /// Sends `value`, a success (`ok`) or an error body.
    fn send_as<T: Serialize + ?Sized>(self, value: &T, event: &str, ok: bool) -> AckOutcome {
        let Some(ack_id) = self.ack_id else {
            return AckOutcome::None;
        };
        let socket = &self.socket;
        if let Some(link) = Link::of(socket) {
            let value = match link.encode(value, None) {
                Ok(value) => value,
                Err(error) => {
                    tracing::warn!(event, %error, "could not serialize the acknowledgement");
                    return AckOutcome::Failed;
                }
            };
            return match link.send(Packet::ack(link.ns(), value, ack_id)) {
                Delivered::Sent | Delivered::Queued => AckOutcome::Sent { ok },
                Delivered::SlowConsumer | Delivered::Closed => AckOutcome::Dropped,
            };
        }
        use socketioxide::handler::FromMessageParts;
        // The extractor reads only the socket and the ack id; the value is not looked at.
        let mut unused = socketioxide::handler::Value::Bytes(bytes::Bytes::new());
        let Ok(sender) = AckSender::from_message_parts(socket, &mut unused, &self.ack_id);
        match sender.send(value) {
            Ok(()) => AckOutcome::Sent { ok },
            Err(socketioxide::SendError::Socket(error)) => {
                tracing::warn!(ns = socket.ns(), sid = %socket.id, event, %error, "acknowledgement not delivered (this adapter has no delivery guarantee)");
                metrics::counter!(crate::metrics::MESSAGES_DROPPED_TOTAL, crate::metrics::LABEL_NS => socket.ns().to_owned(), crate::metrics::LABEL_REASON => "ack_undeliverable").increment(1);
                AckOutcome::Dropped
            }
            Err(error) => {
                tracing::warn!(event, %error, "could not send the acknowledgement");
                AckOutcome::Failed
            }
        }
    }
}

/// Extracts the event's [`AckSink`] in a handler that acknowledges by itself (and returns
/// `()`), keeping the acknowledgement in order with everything else the socket is sent.
impl<A: Adapter> socketioxide::handler::FromMessageParts<A> for AckSink<A> {
    type Error = std::convert::Infallible;

    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        _: &mut socketioxide::handler::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        Ok(AckSink::new(socket.clone(), *ack_id))
    }
}

/// What became of a handler's acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AckOutcome {
    /// None was sent: the client asked for none, or the handler returns `()`.
    None,
    /// Sent, or queued behind the socket's backlog; `ok` is false for an error body.
    Sent {
        /// Whether it carries a success value rather than an error.
        ok: bool,
    },
    /// Dropped and counted: the socket is a slow consumer or is leaving.
    Dropped,
    /// Not sent: it could not be serialized (logged).
    Failed,
}

impl AckError {
    /// Refuses an event of `socket` with this error, as its acknowledgement if the client asked
    /// for one, and counts it.
    pub(crate) fn refuse<A: Adapter>(
        &self,
        socket: &Arc<Socket<A>>,
        ack_id: Option<i64>,
        event: &str,
    ) {
        if ack_id.is_some() {
            let outcome = self.send(AckSink::new(socket.clone(), ack_id), event);
            account(socket, outcome);
        }
    }
}

/// Accounts for the acknowledgement sent to `socket`: counted in
/// `switchboard_acks_sent_total` by outcome.
pub(crate) fn account<A: Adapter>(socket: &Socket<A>, outcome: AckOutcome) {
    if let AckOutcome::Sent { ok } = outcome
        && let Some(metrics) = crate::namespace::ns_metrics(socket)
    {
        metrics.ack_sent(ok);
    }
}

/// An error acknowledgement with a machine-readable `code`, as the JS client receives it:
/// `{ "error": { "message": "...", "code": "..." } }`.
///
/// Return it from a handler (`Result<T, AckError>`) to choose the code, or use any other error
/// type that implements `Display` to send a message alone. switchboard uses the constructors
/// below for the refusals it makes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    code: Option<Cow<'static, str>>,
    message: String,
}

impl AckError {
    /// An error with a code the client can match on and a message a person can read.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::from_parts(Some(code.into()), message.into())
    }

    fn from_parts(code: Option<Cow<'static, str>>, message: String) -> Self {
        Self { code, message }
    }

    /// Code `invalid_payload`: the event's data did not deserialize into the handler's type.
    pub fn invalid_payload(event: &str, detail: impl fmt::Display) -> Self {
        Self::new(
            codes::INVALID_PAYLOAD,
            format!("invalid payload for event `{event}`: {detail}"),
        )
    }

    /// Code `unknown_event`: the namespace has no handler for this event.
    pub fn unknown_event(namespace: &str, event: &str) -> Self {
        Self::new(
            codes::UNKNOWN_EVENT,
            format!("namespace `{namespace}` has no handler for event `{event}`"),
        )
    }

    /// Code `internal_error`: the handler (or its middleware) panicked; the server logged it.
    pub fn internal_error(event: &str) -> Self {
        Self::new(
            codes::INTERNAL_ERROR,
            format!("the handler for event `{event}` failed"),
        )
    }

    /// The machine-readable code, if any.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON value the client receives.
    pub fn body(&self) -> serde_json::Value {
        let mut error = serde_json::Map::new();
        error.insert("message".into(), self.message.clone().into());
        if let Some(code) = &self.code {
            error.insert("code".into(), code.to_string().into());
        }
        serde_json::json!({ "error": error })
    }

    /// Sends this error as the acknowledgement, if the client asked for one.
    pub fn send<A: Adapter>(&self, ack: AckSink<A>, event: &str) -> AckOutcome {
        ack.send_as(&self.body(), event, false)
    }
}

/// `Err(AckError)` keeps its code; any other error is sent with its message alone.
///
/// `AckError` deliberately does not implement `Display`: that keeps this impl apart from the
/// one for `Result<T, E: Display>`.
impl<T: Serialize> IntoAck for Result<T, AckError> {
    fn send_ack<A: Adapter>(self, ack: AckSink<A>, event: &str, wants_ack: bool) -> AckOutcome {
        match self {
            Ok(value) => ack.send_as(&value, event, true),
            Err(error) => {
                report(&error, event, wants_ack);
                error.send(ack, event)
            }
        }
    }
}

/// The `code` values switchboard itself puts in error acknowledgements.
pub mod codes {
    /// The event's data did not deserialize into the handler's type.
    pub const INVALID_PAYLOAD: &str = "invalid_payload";
    /// The namespace has no handler for the event.
    pub const UNKNOWN_EVENT: &str = "unknown_event";
    /// An argument other than the payload could not be extracted (a missing extension or
    /// state): a server-side mistake, logged as an error.
    pub const EXTRACTION_FAILED: &str = "extraction_failed";
    /// The handler panicked; the server logged it and kept running.
    pub const INTERNAL_ERROR: &str = "internal_error";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_message_and_code() {
        let body = AckError::new("nope", "not allowed").body();
        assert_eq!(
            body,
            serde_json::json!({ "error": { "message": "not allowed", "code": "nope" } })
        );
        let body = AckError::from_parts(None, "plain".into()).body();
        assert_eq!(body, serde_json::json!({ "error": { "message": "plain" } }));
    }

    #[test]
    fn invalid_payload_names_the_event() {
        let e = AckError::invalid_payload("chat", "missing field `room`");
        assert_eq!(e.code(), Some(codes::INVALID_PAYLOAD));
        assert_eq!(
            e.message(),
            "invalid payload for event `chat`: missing field `room`"
        );
    }
}

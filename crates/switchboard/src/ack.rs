//! Turning a handler's return value into the client's acknowledgement.
//!
//! A Socket.IO client that emits with a callback (`socket.emit("chat", msg, cb)` or
//! `await socket.emitWithAck("chat", msg)`) waits for one acknowledgement. switchboard sends it
//! from the handler's return value through [`IntoAck`]:
//!
//! | handler returns | client receives |
//! |---|---|
//! | `()` | nothing: the handler acks by itself with an [`AckSender`] if it wants to |
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
//! [`AckSender`]: socketioxide::extract::AckSender
use std::{borrow::Cow, fmt};

use serde::Serialize;
use socketioxide::{adapter::Adapter, extract::AckSender};

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
    /// Sends the acknowledgement (if any) through `ack`.
    ///
    /// `event` is the event name the ack answers, used in logs; `wants_ack` says whether the
    /// client waits for one. An error the client will not hear of (it asked for no ack) is
    /// logged as a warning, so it is never lost in silence.
    fn send_ack<A: Adapter>(self, ack: AckSender<A>, event: &str, wants_ack: bool);
}

impl IntoAck for () {
    fn send_ack<A: Adapter>(self, _: AckSender<A>, _: &str, _: bool) {}
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
    fn send_ack<A: Adapter>(self, ack: AckSender<A>, event: &str, _: bool) {
        send(ack, &self.0, event, true);
    }
}

impl<T: Serialize, E: fmt::Display> IntoAck for Result<T, E> {
    fn send_ack<A: Adapter>(self, ack: AckSender<A>, event: &str, wants_ack: bool) {
        match self {
            Ok(value) => send(ack, &value, event, true),
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

/// The ack sender of one event, from its socket and ack id.
pub(crate) fn sender<A: Adapter>(
    socket: &std::sync::Arc<socketioxide::socket::Socket<A>>,
    ack_id: Option<i64>,
) -> AckSender<A> {
    use socketioxide::handler::FromMessageParts;
    // The extractor reads only the socket and the ack id; the value is not looked at.
    let mut unused = socketioxide::handler::Value::Bytes(bytes::Bytes::new());
    AckSender::from_message_parts(socket, &mut unused, &ack_id).unwrap_or_else(|e| match e {})
}

fn send<A: Adapter, T: Serialize + ?Sized>(ack: AckSender<A>, value: &T, event: &str, ok: bool) {
    let outcome = match ack.send(value) {
        Ok(()) if ok => Outcome::Ok,
        Ok(()) => Outcome::Error,
        Err(socketioxide::SendError::Socket(socketioxide::SocketError::InternalChannelFull)) => {
            Outcome::QueueFull
        }
        Err(error) => {
            tracing::warn!(event, %error, "could not send the acknowledgement");
            Outcome::Failed
        }
    };
    OUTCOME.with(|o| o.set(Some(outcome)));
}

/// What became of the acknowledgement sent on this thread, for [`deliver`].
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Ok,
    Error,
    QueueFull,
    Failed,
}

thread_local! {
    static OUTCOME: std::cell::Cell<Option<Outcome>> = const { std::cell::Cell::new(None) };
}

/// Runs `send`, which sends (at most) one acknowledgement to `socket`, and accounts for it:
/// counted in `switchboard_acks_sent_total`, and an acknowledgement that found the
/// connection's queue full makes the socket a slow consumer (see [`crate::delivery`]) instead
/// of vanishing.
pub(crate) fn deliver<A: Adapter>(socket: &socketioxide::socket::Socket<A>, send: impl FnOnce()) {
    OUTCOME.with(|o| o.set(None));
    send();
    let Some(outcome) = OUTCOME.with(|o| o.take()) else {
        return;
    };
    match outcome {
        Outcome::Ok | Outcome::Error => {
            if let Some(metrics) = crate::namespace::ns_metrics(socket) {
                metrics.ack_sent(matches!(outcome, Outcome::Ok));
            }
        }
        Outcome::QueueFull => {
            tracing::warn!(ns = socket.ns(), sid = %socket.id, "acknowledgement found the connection queue full");
            crate::delivery::ack_undeliverable(socket.ns(), socket.id);
        }
        Outcome::Failed => {}
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
    pub fn send<A: Adapter>(&self, ack: AckSender<A>, event: &str) {
        send(ack, &self.body(), event, false);
    }
}

/// `Err(AckError)` keeps its code; any other error is sent with its message alone.
///
/// `AckError` deliberately does not implement `Display`: that keeps this impl apart from the
/// one for `Result<T, E: Display>`.
impl<T: Serialize> IntoAck for Result<T, AckError> {
    fn send_ack<A: Adapter>(self, ack: AckSender<A>, event: &str, wants_ack: bool) {
        match self {
            Ok(value) => send(ack, &value, event, true),
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

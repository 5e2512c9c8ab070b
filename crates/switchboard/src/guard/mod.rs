//! Connect guards: any Tower middleware stack, run when a client asks to join a namespace.
//!
//! A guard sees the Socket.IO CONNECT as an HTTP request (a [`GuardRequest`]): the method, URI
//! (with its query) and headers of the engine.io handshake, plus the client's CONNECT `auth`
//! payload as the [`ConnectAuth`] extension and the namespace asked for as
//! [`ConnectNamespace`]. It runs before the socket joins the namespace and before any handler
//! is attached, so a refused client never sees anything of the namespace.
//!
//! - **Accepted**: the stack called the inner service and answered a 2xx status. Extensions the
//!   stack added to the request (the authenticated user) travel into the socket, where handlers
//!   read them with [`GuardExtension<T>`].
//! - **Refused**: any other status, or an error. The client receives `connect_error` whose
//!   `message` is the response body's text (or the status's reason when the body is empty)
//!   followed by the status, e.g. `Unauthorized (HTTP 401)`; for an error, its description.
//!   A guard that panics refuses (logged as an error, the server keeps serving); one slower than
//!   the guard timeout refuses with `the connection guard did not answer within …`. Every
//!   refusal is counted in [`CONNECT_REFUSALS_TOTAL`](crate::metrics::CONNECT_REFUSALS_TOTAL).
//!
//! # `auth.token` as a bearer token
//!
//! Browsers cannot set headers on a WebSocket, so a browser client authenticates with
//! `io("/ns", { auth: { token } })`. When the handshake has no `Authorization` header and the
//! `auth` payload has a non-empty string `token`, the guard's request carries
//! `Authorization: Bearer <token>`. Standard layers that check bearer tokens
//! (`tower_http::validate_request::ValidateRequestHeaderLayer::bearer`, your JWT layer) then
//! work unchanged for browsers and for Node clients sending the header. A header sent with the
//! handshake always wins over `auth.token`. Nothing is taken from the query string.
//!
//! ```
//! use axum::body::Body;
//! use http::{Response, StatusCode, header::AUTHORIZATION};
//! use switchboard::{NamespaceDef, Switchboard, guard::GuardRequest};
//! use tower_http::validate_request::ValidateRequestHeaderLayer;
//!
//! let admin = NamespaceDef::new("/admin").guard(ValidateRequestHeaderLayer::custom(
//!     |req: &mut GuardRequest| match req.headers().get(AUTHORIZATION) {
//!         Some(v) if v == "Bearer s3cret" => Ok(()),
//!         _ => Err(Response::builder()
//!             .status(StatusCode::UNAUTHORIZED)
//!             .body(Body::from("a valid token is required"))
//!             .unwrap()),
//!     },
//! ));
//! let (layer, io) = Switchboard::builder().namespace(admin).build_layer().unwrap();
//! # let _ = (layer, io);
//! ```
mod extension;
mod run;

pub use extension::{GuardExtension, GuardExtensionMissing};
pub use run::GuardLayer;
#[doc(hidden)]
pub use run::Refused;
pub(crate) use run::{BoxedGuard, Guards};

use std::{convert::Infallible, future::Ready, task::Poll};

use axum::body::Body;
use tower_service::Service;

/// The request a guard receives: the handshake, with an empty body.
pub type GuardRequest = http::Request<Body>;

/// The client's CONNECT `auth` payload (`io(url, { auth })`), `None` when it sent none.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectAuth(pub Option<serde_json::Value>);

impl ConnectAuth {
    /// The payload's `token` field, when it is a string.
    pub fn token(&self) -> Option<&str> {
        self.0.as_ref()?.get("token")?.as_str()
    }
}

/// The path of the namespace the client asked for (`/sports`, `/tenant/acme`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectNamespace(pub String);

/// The innermost service of every guard stack: reaching it means the stack let the
/// connection through. It answers `200 OK` and hands the request's extensions back.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardEndpoint;

/// The request extensions a guard stack admitted, carried back in the response.
#[derive(Clone)]
pub(crate) struct PassedThrough(pub(crate) http::Extensions);

impl Service<GuardRequest> for GuardEndpoint {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: GuardRequest) -> Self::Future {
        let (parts, _) = req.into_parts();
        let mut res = http::Response::new(Body::empty());
        res.extensions_mut().insert(PassedThrough(parts.extensions));
        std::future::ready(Ok(res))
    }
}

//! Serves the official socket.io JavaScript client from the same HTTP server.
//!
//! Node's socket.io answers `/socket.io/socket.io.js`; socketioxide hands every path under
//! `/socket.io/` to engine.io, which rejects it. [`ClientBundleLayer`] fills that gap: put it
//! *outside* socketioxide's layer and a page needs nothing but
//! `<script src="/socket.io/socket.io.js"></script>`.
//!
//! # What it answers
//!
//! `GET` and `HEAD` of exactly the files the `socket.io-client` npm package ships in `dist/`
//! ([`CLIENT_VERSION`] of it, see [`file_names`]), under the Socket.IO path (default
//! [`DEFAULT_PATH`], so `/socket.io/socket.io.min.js`):
//! `socket.io.js`, `socket.io.min.js`, `socket.io.msgpack.min.js`, `socket.io.esm.min.js`, and
//! each one's `.map`. The request path is compared raw with those names, so no spelling of
//! `..`, `%2f` or `%2e` reaches anything else. Every other request (another name, another
//! method, another path) goes to the inner service untouched, body included.
//!
//! # Responses
//!
//! - `Content-Type`: `application/javascript; charset=utf-8`, or
//!   `application/json; charset=utf-8` for the source maps; `X-Content-Type-Options: nosniff`.
//! - `Content-Encoding`: `br` or `gzip` when `Accept-Encoding` allows it (q-values honoured,
//!   `q=0` refuses, brotli wins a tie), otherwise none. The files are compressed once, when
//!   the crate is built, not per request; every response carries an exact
//!   `Content-Length` (the same for `HEAD`, which has no body) and
//!   `Vary: Accept-Encoding`.
//! - `ETag`: strong, one per representation, made of the client version and a hash of the
//!   bytes sent. A matching `If-None-Match` (lists, `W/` tags and `*` included, compared
//!   weakly as RFC 9110 requires) gets `304 Not Modified` with no body.
//! - `Cache-Control`: [`DEFAULT_CACHE_CONTROL`] unless set with
//!   [`ClientBundleLayer::cache_control`]. The URL carries no version, so the file is not
//!   `immutable`: after an upgrade a browser must pick up the new client. An hour of
//!   freshness spares page loads a round trip; after it a revalidation costs one `304`.
//!
//! The files come from the npm tarball pinned in `client-bundle.toml`, checked against its
//! published sha512 at build time (`docs/client.md` has how, and how to build offline). The
//! whole module sits behind the `client-bundle` feature.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{Router, body::Body, http::{Request, StatusCode}, routing::get};
//! use socketioxide::SocketIo;
//! use switchboard::client_bundle::ClientBundleLayer;
//! use tower::ServiceExt as _;
//!
//! let (socketio, _io) = SocketIo::new_layer();
//! let app = Router::new()
//!     .route("/", get(|| async { r#"<script src="/socket.io/socket.io.js"></script>"# }))
//!     .layer(socketio)
//!     // Added last, so outermost: it answers before engine.io sees the request.
//!     .layer(ClientBundleLayer::new());
//!
//! let request = Request::get("/socket.io/socket.io.js")
//!     .header("accept-encoding", "gzip, br")
//!     .body(Body::empty())
//!     .unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.headers()["content-encoding"], "br");
//! # }
//! ```

mod assets;
mod body;
mod future;
mod negotiate;
mod serve;

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::{HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use self::serve::Config;
pub use self::{body::ResponseBody, future::ResponseFuture};

/// The version of the `socket.io-client` npm package whose `dist/` files are served.
pub const CLIENT_VERSION: &str = assets::CLIENT_VERSION;

/// The Socket.IO path the files are served under unless [`ClientBundleLayer::path`] says
/// otherwise; socketioxide's default too.
pub const DEFAULT_PATH: &str = "/socket.io";

/// The `Cache-Control` sent unless [`ClientBundleLayer::cache_control`] says otherwise:
/// cacheable by browsers and shared caches for an hour, then revalidated with the `ETag`.
pub const DEFAULT_CACHE_CONTROL: &str = "public, max-age=3600";

/// The names of the served files, relative to the Socket.IO path.
pub fn file_names() -> impl ExactSizeIterator<Item = &'static str> {
    assets::ASSETS.iter().map(|asset| asset.name)
}

/// A [`Layer`] that serves the socket.io JavaScript client in front of an inner service;
/// see the [module docs](self).
#[derive(Clone, Debug)]
pub struct ClientBundleLayer {
    config: Arc<Config>,
}

impl ClientBundleLayer {
    /// Serves the files under [`DEFAULT_PATH`] with [`DEFAULT_CACHE_CONTROL`].
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config::new()),
        }
    }

    /// Serves the files under `path` instead: give it the same value as socketioxide's
    /// `req_path`. A trailing slash is ignored and a missing leading one implied, so
    /// `"/custom"` serves `/custom/socket.io.js` and `"/"` serves `/socket.io.js`.
    pub fn path(mut self, path: impl AsRef<str>) -> Self {
        Arc::make_mut(&mut self.config).set_path(path.as_ref());
        self
    }

    /// Replaces the `Cache-Control` value of every served response.
    pub fn cache_control(mut self, value: HeaderValue) -> Self {
        Arc::make_mut(&mut self.config).cache_control = value;
        self
    }

    /// Turns serving on (the default) or off. When off, every request goes to the inner
    /// service; the service type stays the same, so a builder switch needs no second type.
    pub fn enabled(mut self, enabled: bool) -> Self {
        Arc::make_mut(&mut self.config).enabled = enabled;
        self
    }
}

impl Default for ClientBundleLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for ClientBundleLayer {
    type Service = ClientBundle<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientBundle {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// A [`Service`] that answers the socket.io client files itself and passes every other
/// request to `S`; made by [`ClientBundleLayer`].
#[derive(Clone, Debug)]
pub struct ClientBundle<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> ClientBundle<S> {
    /// Wraps `inner` with the default settings of [`ClientBundleLayer::new`].
    pub fn new(inner: S) -> Self {
        ClientBundleLayer::new().layer(inner)
    }

    /// A [`ClientBundleLayer`] with the default settings, to configure.
    pub fn layer() -> ClientBundleLayer {
        ClientBundleLayer::new()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ClientBundle<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match self.config.respond(&request) {
            Some(response) => ResponseFuture::asset(response),
            None => ResponseFuture::inner(self.inner.call(request)),
        }
    }
}

//! The Tower layer a switchboard is mounted with.
use std::{
    task::{Context, Poll},
    time::{Duration, Instant},
};

use socketioxide::{adapter::Adapter, layer::SocketIoLayer, service::SocketIoService};
use tower_layer::Layer;
use tower_service::Service;

use crate::delivery::Handshake;

/// Mounts Socket.IO on a router: `Router::new().route(..).layer(layer)`.
///
/// Requests for the JavaScript client (`/socket.io/socket.io.js` and the other files of the
/// npm package's `dist/`, see `client_bundle`) are answered first; other requests under the
/// Socket.IO path (`/socket.io/` unless configured otherwise) are answered by socketioxide;
/// every other request goes on to the wrapped service, so the application's own routes keep
/// working unchanged.
pub struct SwitchboardLayer<A: Adapter> {
    pub(crate) socketio: SocketIoLayer<A>,
    /// The engine.io ping interval, stamped on each request with its arrival time.
    pub(crate) ping_interval: Duration,
    #[cfg(feature = "client-bundle")]
    pub(crate) client: crate::client_bundle::ClientBundleLayer,
}

impl<A: Adapter> Clone for SwitchboardLayer<A> {
    fn clone(&self) -> Self {
        Self {
            socketio: self.socketio.clone(),
            ping_interval: self.ping_interval,
            #[cfg(feature = "client-bundle")]
            client: self.client.clone(),
        }
    }
}

impl<A: Adapter> std::fmt::Debug for SwitchboardLayer<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchboardLayer").finish_non_exhaustive()
    }
}

/// The service [`SwitchboardLayer`] wraps an inner service in.
#[cfg(feature = "client-bundle")]
pub type SwitchboardService<S, A> =
    Stamped<crate::client_bundle::ClientBundle<SocketIoService<S, A>>>;

/// The service [`SwitchboardLayer`] wraps an inner service in.
#[cfg(not(feature = "client-bundle"))]
pub type SwitchboardService<S, A> = Stamped<SocketIoService<S, A>>;

/// Stamps each engine.io handshake request with the time it arrived, before the client bundle
/// and socketioxide see it: the socket's request parts then tell when its heartbeat began,
/// which the delivery of backlogs keeps clear of (see [`crate::delivery`]).
#[derive(Debug, Clone)]
pub struct Stamped<S> {
    inner: S,
    ping_interval: Duration,
}

impl<S, B> Service<http::Request<B>> for Stamped<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if is_handshake(request.uri()) {
            request.extensions_mut().insert(Handshake {
                at: Instant::now(),
                ping_interval: self.ping_interval,
            });
        }
        self.inner.call(request)
    }
}

/// An engine.io handshake: `EIO=` without `sid=` in the query. Later requests of a session
/// (polls, the websocket upgrade) and the application's own routes are left alone.
fn is_handshake(uri: &http::Uri) -> bool {
    uri.query().is_some_and(|q| {
        let mut params = q.split('&');
        params.clone().any(|p| p.starts_with("EIO=")) && !params.any(|p| p.starts_with("sid="))
    })
}

impl<S: Clone, A: Adapter> Layer<S> for SwitchboardLayer<A> {
    type Service = SwitchboardService<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        let socketio = self.socketio.layer(inner);
        #[cfg(feature = "client-bundle")]
        let socketio = self.client.layer(socketio);
        Stamped {
            inner: socketio,
            ping_interval: self.ping_interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_handshake;

    #[test]
    fn only_engine_io_handshakes_are_stamped() {
        let uri = |s: &str| s.parse::<http::Uri>().unwrap();
        assert!(is_handshake(&uri(
            "/socket.io/?EIO=4&transport=polling&t=x"
        )));
        assert!(is_handshake(&uri("/socket.io/?EIO=4&transport=websocket")));
        assert!(!is_handshake(&uri(
            "/socket.io/?EIO=4&transport=polling&sid=abc"
        )));
        assert!(!is_handshake(&uri(
            "/socket.io/?EIO=4&transport=websocket&sid=abc"
        )));
        assert!(!is_handshake(&uri("/socket.io/socket.io.js")));
        assert!(!is_handshake(&uri("/api/items?page=2")));
    }
}

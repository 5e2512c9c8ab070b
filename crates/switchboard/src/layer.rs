//! The Tower layer a switchboard is mounted with.
use socketioxide::{adapter::Adapter, layer::SocketIoLayer, service::SocketIoService};
use tower_layer::Layer;

/// Mounts Socket.IO on a router: `Router::new().route(..).layer(layer)`.
///
/// Requests for the JavaScript client (`/socket.io/socket.io.js` and the other files of the
/// npm package's `dist/`, see `client_bundle`) are answered first; other requests under the
/// Socket.IO path (`/socket.io/` unless configured otherwise) are answered by socketioxide;
/// every other request goes on to the wrapped service, so the application's own routes keep
/// working unchanged.
pub struct SwitchboardLayer<A: Adapter> {
    pub(crate) socketio: SocketIoLayer<A>,
    #[cfg(feature = "client-bundle")]
    pub(crate) client: crate::client_bundle::ClientBundleLayer,
}

impl<A: Adapter> Clone for SwitchboardLayer<A> {
    fn clone(&self) -> Self {
        Self {
            socketio: self.socketio.clone(),
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
pub type SwitchboardService<S, A> = crate::client_bundle::ClientBundle<SocketIoService<S, A>>;

/// The service [`SwitchboardLayer`] wraps an inner service in.
#[cfg(not(feature = "client-bundle"))]
pub type SwitchboardService<S, A> = SocketIoService<S, A>;

impl<S: Clone, A: Adapter> Layer<S> for SwitchboardLayer<A> {
    type Service = SwitchboardService<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        let socketio = self.socketio.layer(inner);
        #[cfg(feature = "client-bundle")]
        let socketio = self.client.layer(socketio);
        socketio
    }
}

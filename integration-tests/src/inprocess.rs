//! Servers built in the test itself: a switchboard layer on an axum router, served on a free
//! loopback port by `switchboard::serve_with_shutdown`, stopped when the handle is dropped.
use std::{net::SocketAddr, time::Duration};

use switchboard::{
    BuildError, SwitchboardBuilder,
    socketioxide::{SocketIo, adapter::Adapter},
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A running in-process server.
pub struct InProcess<A: Adapter> {
    addr: SocketAddr,
    io: SocketIo<A>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl<A: Adapter> InProcess<A> {
    /// Serves `app` (which already carries the switchboard layer) on a free port of 127.0.0.1.
    pub async fn serve(app: axum::Router, io: SocketIo<A>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free loopback port");
        let addr = listener.local_addr().expect("listener address");
        let (stop, stopped) = oneshot::channel::<()>();
        let signal = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(switchboard::serve_with_shutdown(
            listener,
            app,
            io.clone(),
            signal,
            Duration::from_secs(2),
        ));
        Self {
            addr,
            io,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Builds `builder` into a layer on an empty router and serves it.
    pub async fn start(builder: SwitchboardBuilder<A>) -> Result<Self, BuildError>
    where
        A: switchboard::adapter::DefinedAdapter,
    {
        let (layer, io) = builder.build_layer()?;
        Ok(Self::serve(axum::Router::new().layer(layer), io).await)
    }

    /// The loopback address the server listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's Socket.IO handle.
    pub fn io(&self) -> &SocketIo<A> {
        &self.io
    }

    /// Stops the server (as on SIGTERM: see `switchboard::serve_with_shutdown`) and waits for
    /// it to finish.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task panicked"),
            None => Ok(()),
        }
    }
}

impl<A: Adapter> Drop for InProcess<A> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Runs `js/probe.mjs` (a plan of client steps, see the script's header) against `base_url`
/// with the official client, and returns its observations. Panics with the script's output
/// when a step does not complete in time.
pub async fn run_probe(base_url: &str, plan: serde_json::Value) -> serde_json::Value {
    crate::run_node_async(
        "probe.mjs",
        &[base_url, &plan.to_string()],
        crate::SCENARIO_TIMEOUT,
    )
    .await
}

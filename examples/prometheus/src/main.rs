//! switchboard's metrics for Prometheus: the seed's `/sports` namespace (room `soccer`, event
//! `chat`) and `GET /metrics` on the same axum router, so one port serves the clients and the
//! scraper.
//!
//! ```sh
//! cargo run -p prometheus-example            # PORT=3001 by default
//! curl -s http://127.0.0.1:3001/metrics | grep switchboard_
//! ```
//!
//! A Prometheus scrape job for it:
//!
//! ```yaml
//! scrape_configs:
//!   - job_name: switchboard
//!     static_configs:
//!       - targets: ["127.0.0.1:3001"]   # metrics_path defaults to /metrics
//! ```
//!
//! The recorder is installed with `PrometheusBuilder::install_recorder`, which starts no HTTP
//! listener of its own: the returned handle renders the text format and the router serves it.
//! It is installed first thing, before the layer is built and any client connects, because
//! switchboard binds its metric handles to the recorder present at a namespace's first
//! connection (see `switchboard::metrics`).
//!
//! Environment: `PORT` (default 3001); `CHAT_TOKEN` (unset: open) makes `/sports` require
//! `auth: { token }` or `Authorization: Bearer <token>`, so refused connections show up in
//! `switchboard_connect_refusals_total{reason="guard",status="401"}`; `RUST_LOG` (default
//! `info`; `switchboard=debug` adds the `connect`, `guard` and `event` spans).
use std::{
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{Response, StatusCode, header::AUTHORIZATION},
    routing::get,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use switchboard::{Namespace, guard::GuardRequest, prelude::*};
use tower_http::validate_request::ValidateRequestHeaderLayer;
use tracing_subscriber::EnvFilter;

/// What a client sends with `chat`.
#[derive(Debug, Deserialize)]
struct Chat {
    room: String,
    message: String,
}

/// Why a chat was refused; the client reads it as `ack.error.message`.
#[derive(Debug, thiserror::Error)]
enum ChatError {
    #[error("you are not in room `{0}`: a chat only goes to a room you have joined")]
    NotAMember(String),
    #[error("the message could not be delivered to room `{room}`: {reason}")]
    NotDelivered { room: String, reason: String },
}

/// The seed's `/sports` namespace: every socket joins `soccer` and the room is greeted; `chat`
/// goes to a room the sender is in.
struct Sports;

#[switchboard::namespace("/sports")]
impl Sports {
    #[on_connect]
    async fn welcome<A: Adapter>(&self, socket: SocketRef<A>) {
        socket.join("soccer");
        if let Err(error) = socket
            .within("soccer")
            .emit("message", "Hello soccer fans!")
            .await
        {
            tracing::warn!(%error, "greeting not delivered");
        }
    }

    #[on("chat")]
    async fn chat<A: Adapter>(
        &self,
        socket: SocketRef<A>,
        Data(chat): Data<Chat>,
    ) -> Result<(), ChatError> {
        if !socket.rooms().iter().any(|r| *r == chat.room) {
            return Err(ChatError::NotAMember(chat.room));
        }
        socket
            .within(chat.room.clone())
            .emit("message", &chat.message)
            .await
            .map_err(|e| ChatError::NotDelivered {
                room: chat.room,
                reason: e.to_string(),
            })
    }
}

/// Installs the Prometheus recorder as the global `metrics` recorder and keeps it tidy.
///
/// Upkeep drains histogram buckets; switchboard emits none today, but an application's own
/// histograms would otherwise grow until the next scrape.
fn install_prometheus() -> Result<PrometheusHandle, Box<dyn std::error::Error>> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// The guard `CHAT_TOKEN` adds: `Authorization: Bearer <token>` (which switchboard also builds
/// from `auth: { token }`), or a 401 the client reads in `connect_error`.
// The response as the error is tower-http's `ValidateRequest` contract, not a choice here.
#[allow(clippy::result_large_err)]
fn require_token(
    token: String,
) -> ValidateRequestHeaderLayer<
    impl tower_http::validate_request::ValidateRequest<Body, ResponseBody = Body> + Clone,
> {
    let expected = format!("Bearer {token}");
    ValidateRequestHeaderLayer::custom(move |req: &mut GuardRequest| {
        match req.headers().get(AUTHORIZATION) {
            Some(v) if v.as_bytes() == expected.as_bytes() => Ok(()),
            _ => Err(Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .body(Body::from("a valid token is required"))
                .unwrap_or_default()),
        }
    })
}

/// `CHAT_TOKEN`, when set and not empty.
fn chat_token() -> Result<Option<String>, String> {
    match std::env::var("CHAT_TOKEN") {
        Ok(token) if token.is_empty() => Ok(None),
        Ok(token) if token.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(token)),
        Ok(_) => Err(
            "CHAT_TOKEN must be printable ASCII without spaces (it is sent in an HTTP header)"
                .into(),
        ),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err("CHAT_TOKEN is not valid Unicode".into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // First: handles created before this would report to the no-op recorder.
    let prometheus = install_prometheus()?;

    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|e| format!("PORT={p:?} is not a port number: {e}"))?,
        Err(_) => 3001,
    };

    let mut sports = Sports.into_def();
    if let Some(token) = chat_token()? {
        tracing::info!("CHAT_TOKEN is set: /sports requires it");
        sports = sports.guard(require_token(token));
    }
    let (layer, io) = Switchboard::builder().namespace(sports).build_layer()?;
    // Socket.IO under /socket.io/ and the scrape endpoint, on one router and one port.
    let app = Router::new()
        .route(
            "/metrics",
            get(move || std::future::ready(prometheus.render())),
        )
        .layer(layer);

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("listening on http://{addr} (metrics at http://{addr}/metrics)");
    switchboard::serve(listener, app, io).await?;
    Ok(())
}

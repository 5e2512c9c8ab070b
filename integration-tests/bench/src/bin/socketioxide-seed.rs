//! The seed program written directly on socketioxide, without switchboard: what `seed-chat`
//! is compared with. Same behaviour (greeting on connect, `chat` re-broadcast to a room the
//! sender is in, the same log lines), same socketioxide features and defaults, TCP_NODELAY on.
//!
//! `PORT` sets the port (127.0.0.1). For the memory experiments of `docs/benchmarks.md`, these
//! variables change socketioxide's configuration (unset: socketioxide's default):
//! `SIO_WS_READ_BUFFER_SIZE` (bytes), `SIO_MAX_BUFFER_SIZE` (packets),
//! `SIO_WS_MAX_MESSAGE_SIZE` and `SIO_WS_MAX_FRAME_SIZE` (bytes).
use std::net::{Ipv4Addr, SocketAddr};

use axum::{Router, response::Html, routing::get, serve::ListenerExt};
use serde::Deserialize;
use socketioxide::{
    SocketIo,
    extract::{Data, SocketRef},
};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Deserialize)]
struct Chat {
    room: String,
    message: String,
}

async fn greet(socket: &SocketRef, room: &'static str, greeting: &str) {
    socket.join(room);
    tracing::info!(ns = socket.ns(), sid = %socket.id, room, "a user connected");
    if let Err(error) = socket.within(room).emit("message", greeting).await {
        tracing::warn!(ns = socket.ns(), room, %error, "greeting not delivered");
    }
}

async fn relay(socket: SocketRef, Data(chat): Data<Chat>) {
    if !socket.rooms().iter().any(|r| *r == chat.room) {
        tracing::warn!(
            ns = socket.ns(),
            room = chat.room,
            "chat refused: not a member"
        );
        return;
    }
    if let Err(error) = socket
        .within(chat.room)
        .emit("message", &chat.message)
        .await
    {
        tracing::warn!(ns = socket.ns(), %error, "chat not delivered");
    }
}

fn env_number<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(None),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let port: u16 = env_number("PORT")?.unwrap_or(3000);

    let mut builder = SocketIo::builder();
    if let Some(bytes) = env_number("SIO_WS_READ_BUFFER_SIZE")? {
        builder = builder.ws_read_buffer_size(bytes);
    }
    if let Some(packets) = env_number("SIO_MAX_BUFFER_SIZE")? {
        builder = builder.max_buffer_size(packets);
    }
    if let Some(bytes) = env_number("SIO_WS_MAX_MESSAGE_SIZE")? {
        builder = builder.ws_max_message_size(bytes);
    }
    if let Some(bytes) = env_number("SIO_WS_MAX_FRAME_SIZE")? {
        builder = builder.ws_max_frame_size(bytes);
    }
    let (layer, io) = builder.build_layer();
    io.ns("/sports", async |socket: SocketRef| {
        socket.on("chat", relay);
        greet(&socket, "soccer", "Hello soccer fans!").await;
    });
    io.ns("/movies", async |socket: SocketRef| {
        socket.on("chat", relay);
        greet(&socket, "comedy", "Hello comedy fans!").await;
    });

    let app = Router::new()
        .route("/", get(|| async { Html("<p>socketioxide seed</p>") }))
        .layer(layer);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = tokio::net::TcpListener::bind(addr).await?.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
    });
    println!("listening on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}

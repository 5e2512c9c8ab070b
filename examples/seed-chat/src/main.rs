//! The seed program on switchboard: two namespaces, `/sports` and `/movies`; each socket joins
//! its namespace's room on connect and the room is greeted; `chat` re-broadcasts a message to a
//! room of the same namespace, if the sender is a member of it.
//!
//! Run with `cargo run -p seed-chat` and open <http://127.0.0.1:3000>. `PORT` changes the port;
//! `CHAT_TOKEN=secret` makes both namespaces require that token; `REDIS_URL=redis://host:6379`
//! shares the rooms with every instance on that Redis (docs/clustering.md).
use std::net::{Ipv4Addr, SocketAddr};

use axum::{Router, response::Html, routing::get};
use serde::Deserialize;
use switchboard::prelude::*;
use switchboard::redis::{RedisConfig, RedisConnection, RedisError};
use switchboard::{SwitchboardBuilder, adapter::ReadyAdapter};
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

/// Joins `room` and greets everyone in it, the new socket included.
async fn greet<A: Adapter>(socket: &SocketRef<A>, room: &'static str, greeting: &str) {
    socket.join(room);
    tracing::info!(ns = socket.ns(), sid = %socket.id, room, "a user connected");
    if let Err(error) = socket.within(room).emit("message", greeting).await {
        tracing::warn!(ns = socket.ns(), room, %error, "greeting not delivered");
    }
}

/// Sends `chat.message` to every member of `chat.room`, sender included.
async fn relay<A: Adapter>(socket: &SocketRef<A>, chat: Chat) -> Result<(), ChatError> {
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

/// The `/sports` namespace: room `soccer`.
struct Sports;

#[switchboard::namespace("/sports")]
impl Sports {
    #[on_connect]
    async fn welcome<A: Adapter>(&self, socket: SocketRef<A>) {
        greet(&socket, "soccer", "Hello soccer fans!").await;
    }

    #[on("chat")]
    async fn chat<A: Adapter>(
        &self,
        socket: SocketRef<A>,
        Data(chat): Data<Chat>,
    ) -> Result<(), ChatError> {
        relay(&socket, chat).await
    }
}

/// The `/movies` namespace: room `comedy`.
struct Movies;

#[switchboard::namespace("/movies")]
impl Movies {
    #[on_connect]
    async fn welcome<A: Adapter>(&self, socket: SocketRef<A>) {
        greet(&socket, "comedy", "Hello comedy fans!").await;
    }

    #[on("chat")]
    async fn chat<A: Adapter>(
        &self,
        socket: SocketRef<A>,
        Data(chat): Data<Chat>,
    ) -> Result<(), ChatError> {
        relay(&socket, chat).await
    }
}

/// The token both namespaces require, from `CHAT_TOKEN` (unset or empty: no token needed).
///
/// The guard is tower-http's `ValidateRequestHeaderLayer` with a bearer check. A browser sends the token as
/// `io("/sports", { auth: { token } })`, which switchboard presents to guards as
/// `Authorization: Bearer <token>`; Node and native clients may send that header themselves.
fn chat_token() -> Result<Option<String>, String> {
    match std::env::var("CHAT_TOKEN") {
        Ok(token) if token.is_empty() => Ok(None),
        Ok(token) => match http::HeaderValue::from_str(&format!("Bearer {token}")) {
            Ok(_) => Ok(Some(token)),
            Err(_) => {
                Err("CHAT_TOKEN must be printable ASCII (it is sent in an HTTP header)".into())
            }
        },
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err("CHAT_TOKEN is not valid Unicode".into()),
    }
}

/// The check behind `ValidateRequestHeaderLayer`: a 401 whose body tells the client what is
/// wrong (the client reads it as `connect_error`'s `message`).
// The response as the error is tower-http's `ValidateRequest` contract, not a choice here.
#[allow(clippy::result_large_err)]
fn require_token(
    token: String,
) -> impl FnMut(&mut http::Request<axum::body::Body>) -> Result<(), http::Response<axum::body::Body>>
+ Clone {
    let expected = format!("Bearer {token}");
    move |req| {
        let refuse = |why: &str| {
            let mut res = http::Response::new(axum::body::Body::from(why.to_owned()));
            *res.status_mut() = http::StatusCode::UNAUTHORIZED;
            Err(res)
        };
        match req.headers().get(http::header::AUTHORIZATION) {
            None => refuse(
                "a token is required: connect with auth: { token }, or send Authorization: Bearer <token>",
            ),
            Some(v) if !v.as_bytes().starts_with(b"Bearer ") => {
                refuse("malformed Authorization header: expected `Bearer <token>`")
            }
            Some(v) if !constant_time_eq(v.as_bytes(), expected.as_bytes()) => {
                refuse("wrong token")
            }
            Some(_) => Ok(()),
        }
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|e| format!("PORT={p:?} is not a port number: {e}"))?,
        Err(_) => 3000,
    };

    // Display, not Debug: the message names the URL and says what to check.
    match redis_from_env().await.map_err(|e| e.to_string())? {
        Some(redis) => serve_chat(Switchboard::builder_redis(&redis), port).await,
        None => serve_chat(Switchboard::builder(), port).await,
    }
}

/// `REDIS_URL` (e.g. `redis://127.0.0.1:6379`): the room adapter is then Redis, and every
/// instance with the same `REDIS_URL` shares rooms. Unreachable: start-up fails, naming it.
async fn redis_from_env() -> Result<Option<RedisConnection>, RedisError> {
    let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let redis = RedisConfig::from_url(&url)?.connect().await?;
    tracing::info!(
        url = redis.url(),
        "REDIS_URL is set: rooms are shared through Redis"
    );
    Ok(Some(redis))
}

/// The namespaces, the optional token guard and the page, on any room adapter.
async fn serve_chat<A: ReadyAdapter>(
    builder: SwitchboardBuilder<A>,
    port: u16,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = builder.namespace(Sports).namespace(Movies);
    if let Some(token) = chat_token()? {
        tracing::info!("CHAT_TOKEN is set: both namespaces require it");
        builder = builder.guard_all(ValidateRequestHeaderLayer::custom(require_token(token)));
    }
    let (layer, io) = builder.build_layer_async().await?;
    let app = Router::new()
        .route("/", get(|| async { Html(include_str!("page.html")) }))
        .layer(layer);

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("listening on http://{addr}");
    switchboard::serve(listener, app, io).await?;
    Ok(())
}

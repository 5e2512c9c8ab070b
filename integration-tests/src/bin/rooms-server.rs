//! A server whose `/rooms` namespace exposes every room operation as an event, so that the
//! end-to-end tests can drive room behaviour from the official JavaScript client and compare
//! adapters: in memory when run alone, Redis when `REDIS_URL` is set (several of these
//! processes then share rooms).
//!
//! Each event answers through its ack: `{ ok: value }` or `{ error: { message } }`. The
//! operations go through the `SocketIo` handle (`io.of("/rooms")`) unless they are about the
//! calling socket, so the handle's API, the one an application uses outside handlers, is the
//! one under test. `/other` is a second namespace with the same room names, to check that
//! nothing crosses namespaces.
//!
//! Environment: `PORT` (required), `REDIS_URL` (optional).
use std::net::{Ipv4Addr, SocketAddr};

use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::prelude::*;
use switchboard::redis::{RedisConfig, RedisConnection};
use tracing_subscriber::EnvFilter;

const NS: &str = "/rooms";

/// A broadcast request: to `to` (all sockets if empty), except `except`, from the socket
/// (sender excluded) or from the handle (sender included if it matches).
#[derive(Debug, Deserialize)]
struct Emit {
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    except: Vec<String>,
    #[serde(default)]
    from_socket: bool,
    data: Value,
}

/// Sockets in `room` join (or leave) `target`.
#[derive(Debug, Deserialize)]
struct Remote {
    room: String,
    target: String,
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn ops<A: Adapter>(
    io: &SocketIo<A>,
) -> Result<switchboard::socketioxide::operators::BroadcastOperators<A>, String> {
    io.of(NS)
        .ok_or_else(|| format!("namespace {NS} is not registered"))
}

struct Rooms {
    instance: String,
    redis: Option<RedisConnection>,
}

#[switchboard::namespace("/rooms")]
impl Rooms {
    /// Which instance the socket is connected to, and its id.
    #[on("whoami")]
    async fn whoami<A: Adapter>(&self, socket: SocketRef<A>) -> Ack<Value> {
        Ack(json!({ "instance": self.instance, "id": socket.id.to_string() }))
    }

    #[on("join")]
    async fn join<A: Adapter>(
        &self,
        socket: SocketRef<A>,
        Data(room): Data<String>,
    ) -> Ack<Vec<String>> {
        socket.join(room);
        Ack(own_rooms(&socket))
    }

    #[on("leave")]
    async fn leave<A: Adapter>(
        &self,
        socket: SocketRef<A>,
        Data(room): Data<String>,
    ) -> Ack<Vec<String>> {
        socket.leave(room);
        Ack(own_rooms(&socket))
    }

    /// The calling socket's rooms (its own id room left out).
    #[on("rooms")]
    async fn rooms<A: Adapter>(&self, socket: SocketRef<A>) -> Ack<Vec<String>> {
        Ack(own_rooms(&socket))
    }

    #[on("emit")]
    async fn emit<A: Adapter>(
        &self,
        socket: SocketRef<A>,
        io: SocketIo<A>,
        Data(req): Data<Emit>,
    ) -> Result<bool, String> {
        let ops = if req.from_socket {
            socket.broadcast()
        } else {
            ops(&io)?
        };
        let ops = if req.to.is_empty() {
            ops
        } else {
            ops.to(req.to)
        };
        let ops = if req.except.is_empty() {
            ops
        } else {
            ops.except(req.except)
        };
        ops.emit("message", &req.data)
            .await
            .map_err(|e| e.to_string())?;
        Ok(true)
    }

    /// Ids of the sockets in `room`, on every instance.
    #[on("members")]
    async fn members<A: Adapter>(
        &self,
        io: SocketIo<A>,
        Data(room): Data<String>,
    ) -> Result<Vec<String>, String> {
        let sockets = ops(&io)?
            .within(room)
            .fetch_sockets()
            .await
            .map_err(|e| e.to_string())?;
        Ok(sorted(
            sockets.iter().map(|s| s.data().id.to_string()).collect(),
        ))
    }

    /// Ids of the sockets in `room` connected to this instance.
    #[on("local-members")]
    async fn local_members<A: Adapter>(
        &self,
        io: SocketIo<A>,
        Data(room): Data<String>,
    ) -> Result<Vec<String>, String> {
        Ok(sorted(
            ops(&io)?
                .within(room)
                .sockets()
                .iter()
                .map(|s| s.id.to_string())
                .collect(),
        ))
    }

    /// Every room of the namespace, on every instance.
    #[on("all-rooms")]
    async fn all_rooms<A: Adapter>(&self, io: SocketIo<A>) -> Result<Vec<String>, String> {
        let rooms = ops(&io)?.rooms().await.map_err(|e| e.to_string())?;
        Ok(sorted(rooms.into_iter().map(|r| r.to_string()).collect()))
    }

    /// The rooms of every socket in `room`, asked of the socket wherever it is.
    #[on("rooms-of")]
    async fn rooms_of<A: Adapter>(
        &self,
        io: SocketIo<A>,
        Data(room): Data<String>,
    ) -> Result<Value, String> {
        let sockets = ops(&io)?
            .within(room)
            .fetch_sockets()
            .await
            .map_err(|e| e.to_string())?;
        let mut out = serde_json::Map::new();
        for s in sockets {
            let rooms = s.rooms().await.map_err(|e| e.to_string())?;
            let rooms: Vec<String> = rooms
                .into_iter()
                .map(|r| r.to_string())
                .filter(|r| *r != s.data().id.to_string())
                .collect();
            out.insert(s.data().id.to_string(), json!(sorted(rooms)));
        }
        Ok(Value::Object(out))
    }

    #[on("remote-join")]
    async fn remote_join<A: Adapter>(
        &self,
        io: SocketIo<A>,
        Data(r): Data<Remote>,
    ) -> Result<bool, String> {
        ops(&io)?
            .within(r.room)
            .join(r.target)
            .await
            .map_err(|e| e.to_string())?;
        Ok(true)
    }

    #[on("remote-leave")]
    async fn remote_leave<A: Adapter>(
        &self,
        io: SocketIo<A>,
        Data(r): Data<Remote>,
    ) -> Result<bool, String> {
        ops(&io)?
            .within(r.room)
            .leave(r.target)
            .await
            .map_err(|e| e.to_string())?;
        Ok(true)
    }

    #[on("remote-disconnect")]
    async fn remote_disconnect<A: Adapter>(
        &self,
        io: SocketIo<A>,
        Data(room): Data<String>,
    ) -> Result<bool, String> {
        ops(&io)?
            .within(room)
            .disconnect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(true)
    }

    /// The Redis adapter's counters (`null` in memory).
    #[on("stats")]
    async fn stats(&self) -> Ack<Value> {
        Ack(match &self.redis {
            Some(redis) => {
                let s = redis.stats();
                json!({
                    "connected": s.connected, "published": s.published,
                    "publishFailures": s.publish_failures, "queryFailures": s.query_failures,
                    "received": s.received, "dropped": s.dropped,
                    "disconnects": s.disconnects, "reconnects": s.reconnects,
                })
            }
            None => Value::Null,
        })
    }
}

/// The socket's rooms without the room named after its own id.
fn own_rooms<A: Adapter>(socket: &SocketRef<A>) -> Vec<String> {
    let id = socket.id.to_string();
    sorted(
        socket
            .rooms()
            .into_iter()
            .map(|r| r.to_string())
            .filter(|r| *r != id)
            .collect(),
    )
}

/// A second namespace with the same room names: what happens in `/rooms` never reaches it.
struct Other;

#[switchboard::namespace("/other")]
impl Other {
    #[on("join")]
    async fn join<A: Adapter>(
        &self,
        socket: SocketRef<A>,
        Data(room): Data<String>,
    ) -> Ack<Vec<String>> {
        socket.join(room);
        Ack(own_rooms(&socket))
    }

    #[on("rooms")]
    async fn rooms<A: Adapter>(&self, socket: SocketRef<A>) -> Ack<Vec<String>> {
        Ack(own_rooms(&socket))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let port: u16 = std::env::var("PORT")?.parse()?;
    let instance = format!("127.0.0.1:{port}");
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    match std::env::var("REDIS_URL") {
        Ok(url) => {
            let redis = RedisConfig::from_url(&url)?.connect().await?;
            let (layer, io) = Switchboard::builder_redis(&redis)
                .namespace(Rooms {
                    instance,
                    redis: Some(redis.clone()),
                })
                .namespace(Other)
                .build_layer_async()
                .await?;
            println!(
                "listening on http://127.0.0.1:{port} (Redis {})",
                redis.url()
            );
            switchboard::serve(listener, axum::Router::new().layer(layer), io).await?;
        }
        Err(_) => {
            let (layer, io) = Switchboard::builder()
                .namespace(Rooms {
                    instance,
                    redis: None,
                })
                .namespace(Other)
                .build_layer_async()
                .await?;
            println!("listening on http://127.0.0.1:{port} (in memory)");
            switchboard::serve(listener, axum::Router::new().layer(layer), io).await?;
        }
    }
    Ok(())
}

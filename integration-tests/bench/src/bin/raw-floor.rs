//! The floor: an axum websocket server that speaks just enough engine.io v4 / socket.io v5 to
//! run the seed program for the load generator. It sends the same frames as a Socket.IO
//! server (open packet, namespace CONNECT ack, greeting, re-broadcast to the room) and does
//! nothing else: no polling, no heartbeat, no acks, no packet validation beyond what the seed
//! needs. Whatever a Socket.IO server on axum costs above this is the price of Socket.IO.
//!
//! Like socketioxide it reads with a 4 KiB websocket buffer, writes from one task per
//! connection that flushes once its queue is empty, and encodes a broadcast once.
//! `PORT` sets the port (127.0.0.1).
use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddr},
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Router,
    extract::{
        State, WebSocketUpgrade,
        ws::{Message, Utf8Bytes, WebSocket},
    },
    response::Response,
    routing::get,
    serve::ListenerExt,
};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

/// A namespace of the seed: its path, the room its sockets join, the greeting.
struct Namespace {
    path: &'static str,
    room: &'static str,
    greeting: &'static str,
    members: RwLock<HashMap<u64, UnboundedSender<Utf8Bytes>>>,
}

impl Namespace {
    fn new(path: &'static str, room: &'static str, greeting: &'static str) -> Self {
        Self {
            path,
            room,
            greeting,
            members: RwLock::new(HashMap::new()),
        }
    }

    /// Encodes `42<ns>,["message",<text>]` once and queues it for every member.
    fn broadcast(&self, text: &str) {
        let Ok(text) = serde_json::to_string(text) else {
            return;
        };
        let frame = Utf8Bytes::from(format!("42{},[\"message\",{text}]", self.path));
        let members = self.members.read().unwrap_or_else(|e| e.into_inner());
        for member in members.values() {
            let _ = member.send(frame.clone());
        }
    }
}

struct Floor {
    next_id: AtomicU64,
    namespaces: [Namespace; 2],
}

#[derive(Deserialize)]
struct Chat {
    room: String,
    message: String,
}

async fn upgrade(ws: WebSocketUpgrade, State(floor): State<Arc<Floor>>) -> Response {
    ws.read_buffer_size(4096)
        .on_upgrade(move |socket| connection(socket, floor))
}

async fn connection(socket: WebSocket, floor: Arc<Floor>) {
    let id = floor.next_id.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = unbounded_channel::<Utf8Bytes>();
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if sink.feed(Message::Text(frame)).await.is_err() {
                return;
            }
            while let Ok(frame) = rx.try_recv() {
                if sink.feed(Message::Text(frame)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    let _ = tx.send(Utf8Bytes::from(format!(
        "0{{\"sid\":\"raw{id}\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":100000}}"
    )));
    let mut joined: Vec<&Namespace> = Vec::new();
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let text = text.as_str();
        let Some(packet) = text.strip_prefix('4') else {
            continue; // pongs and anything else the floor does not need
        };
        if let Some(rest) = packet.strip_prefix('0') {
            let path = rest.trim_end_matches(',');
            if let Some(ns) = floor.namespaces.iter().find(|ns| ns.path == path) {
                let _ = tx.send(Utf8Bytes::from(format!("40{path},{{\"sid\":\"raw{id}\"}}")));
                ns.members
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, tx.clone());
                joined.push(ns);
                ns.broadcast(ns.greeting);
            }
        } else if let Some(rest) = packet.strip_prefix('2') {
            let Some(ns) = joined.iter().find(|ns| {
                rest.strip_prefix(ns.path)
                    .is_some_and(|r| r.starts_with(','))
            }) else {
                continue;
            };
            let payload = &rest[ns.path.len() + 1..];
            if let Ok((event, chat)) = serde_json::from_str::<(String, Chat)>(payload)
                && event == "chat"
                && chat.room == ns.room
            {
                ns.broadcast(&chat.message);
            }
        }
    }
    for ns in joined {
        ns.members
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
    drop(tx);
    let _ = writer.await;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p.parse().map_err(|_| format!("PORT={p:?} is not a port"))?,
        Err(_) => 3000,
    };
    let floor = Arc::new(Floor {
        next_id: AtomicU64::new(0),
        namespaces: [
            Namespace::new("/sports", "soccer", "Hello soccer fans!"),
            Namespace::new("/movies", "comedy", "Hello comedy fans!"),
        ],
    });
    let app = Router::new()
        .route("/socket.io/", get(upgrade))
        .with_state(floor);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = tokio::net::TcpListener::bind(addr).await?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    println!("listening on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}

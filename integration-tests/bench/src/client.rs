//! The load generator's client: engine.io v4 / socket.io v5 over a websocket, and nothing more.
//!
//! A client opens `GET /socket.io/?EIO=4&transport=websocket` (TCP_NODELAY on), reads the
//! engine.io open packet `0{…}`, connects to one namespace (`40/sports,` answered by
//! `40/sports,{"sid":…}`), then splits in two: a [`ChatSender`] that emits
//! `42/sports,["chat",{"room":…,"message":…}]`, and an [`EventReceiver`] that answers pings
//! (`2` → `3`) and hands the argument of every `message` event to a callback. That is all the
//! seed program needs, and it keeps a client to one task and a few kilobytes.
use std::{
    borrow::Cow,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::{
    SinkExt, StreamExt,
    stream::{SplitSink, SplitStream},
};
use tokio::{net::TcpStream, sync::Mutex, time::timeout};
use tokio_tungstenite::{
    WebSocketStream, client_async_with_config,
    tungstenite::{self, Message, protocol::WebSocketConfig},
};

type Ws = WebSocketStream<TcpStream>;
type Sink = Arc<Mutex<SplitSink<Ws, Message>>>;

/// Why a client could not connect, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection was refused or failed: is the server running?
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Where the client tried to connect.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The websocket handshake or a later websocket operation failed.
    #[error("websocket error: {0}")]
    Ws(#[from] tungstenite::Error),
    /// The server closed the connection before the namespace was joined.
    #[error("the server closed the connection while {0}")]
    Closed(&'static str),
    /// The server sent something the seed protocol does not expect at that point.
    #[error("unexpected frame while {during}: {frame:?}")]
    Unexpected {
        /// What the client was waiting for.
        during: &'static str,
        /// The frame, as text.
        frame: String,
    },
    /// The server refused the namespace (`44/ns,{message}`).
    #[error("the server refused namespace {ns}: {frame}")]
    Refused {
        /// The namespace asked for.
        ns: String,
        /// The `connect_error` frame.
        frame: String,
    },
    /// The server did not answer in time.
    #[error("timed out while {0}")]
    Timeout(&'static str),
}

/// Emits `chat` events on one namespace; cheap to clone.
#[derive(Clone)]
pub struct ChatSender {
    sink: Sink,
    ns: Arc<str>,
}

/// A socket.io frame as [`EventReceiver::run_frames`] reports it.
#[derive(Debug)]
pub enum Frame<'a> {
    /// The argument of a `message` event.
    Message(&'a str),
    /// Any other event on the namespace, as the whole frame.
    Event(&'a str),
    /// The server disconnected the socket from the namespace.
    Disconnect,
}

/// Reads a client's frames: answers pings, passes `message` events on.
pub struct EventReceiver {
    stream: SplitStream<Ws>,
    sink: Sink,
    /// `42/sports,["message","`: the prefix of a `message` event with a string argument.
    message_prefix: String,
    /// `42/sports,`: the prefix of any event on the namespace.
    event_prefix: String,
}

/// Connects to `addr`, joins namespace `ns` (e.g. `/sports`) and returns the two halves.
///
/// Every step must finish within `deadline` in total.
pub async fn connect(
    addr: SocketAddr,
    ns: &str,
    deadline: Duration,
) -> Result<(ChatSender, EventReceiver), ClientError> {
    timeout(deadline, connect_inner(addr, ns, None))
        .await
        .map_err(|_| ClientError::Timeout("connecting"))?
}

/// Like [`connect`], with the client's TCP receive buffer set to `bytes`: a client that stops
/// reading then holds little in its kernel, and what it does not read stays on the server.
pub async fn connect_with_recv_buffer(
    addr: SocketAddr,
    ns: &str,
    deadline: Duration,
    bytes: u32,
) -> Result<(ChatSender, EventReceiver), ClientError> {
    timeout(deadline, connect_inner(addr, ns, Some(bytes)))
        .await
        .map_err(|_| ClientError::Timeout("connecting"))?
}

async fn connect_inner(
    addr: SocketAddr,
    ns: &str,
    recv_buffer: Option<u32>,
) -> Result<(ChatSender, EventReceiver), ClientError> {
    let connect = async {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }?;
        if let Some(bytes) = recv_buffer {
            socket.set_recv_buffer_size(bytes)?;
        }
        socket.connect(addr).await
    };
    let tcp: TcpStream = connect
        .await
        .map_err(|source| ClientError::Connect { addr, source })?;
    tcp.set_nodelay(true)
        .map_err(|source| ClientError::Connect { addr, source })?;
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    // A small read buffer: ten thousand clients live in this process.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _response) = client_async_with_config(url, tcp, Some(config)).await?;

    let open = next_text(&mut ws, "waiting for the engine.io open packet").await?;
    if !open.starts_with("0{") {
        return Err(ClientError::Unexpected {
            during: "waiting for the engine.io open packet",
            frame: open,
        });
    }
    ws.send(Message::text(format!("40{ns},"))).await?;
    let ack_prefix = format!("40{ns},");
    let refused_prefix = format!("44{ns},");
    loop {
        let frame = next_text(&mut ws, "waiting for the namespace CONNECT ack").await?;
        if frame.starts_with(&ack_prefix) {
            break;
        } else if frame == "2" {
            ws.send(Message::text("3")).await?;
        } else if frame.starts_with(&refused_prefix) {
            return Err(ClientError::Refused {
                ns: ns.to_owned(),
                frame,
            });
        } else {
            return Err(ClientError::Unexpected {
                during: "waiting for the namespace CONNECT ack",
                frame,
            });
        }
    }

    let (sink, stream) = ws.split();
    let sink = Arc::new(Mutex::new(sink));
    Ok((
        ChatSender {
            sink: sink.clone(),
            ns: ns.into(),
        },
        EventReceiver {
            stream,
            sink,
            message_prefix: format!("42{ns},[\"message\",\""),
            event_prefix: format!("42{ns},"),
        },
    ))
}

async fn next_text(ws: &mut Ws, during: &'static str) -> Result<String, ClientError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | None => return Err(ClientError::Closed(during)),
            Some(Ok(Message::Binary(_))) => {
                return Err(ClientError::Unexpected {
                    during,
                    frame: "<binary>".to_owned(),
                });
            }
            Some(Ok(_)) => {} // websocket ping/pong frames
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

impl ChatSender {
    /// Emits `chat` with `{room, message}` and flushes it to the socket.
    pub async fn chat(&self, room: &str, message: &str) -> Result<(), ClientError> {
        let frame = chat_frame(&self.ns, room, message);
        self.sink.lock().await.send(Message::text(frame)).await?;
        Ok(())
    }

    /// Emits several `chat`s in a row and flushes once: a burst.
    pub async fn chat_burst(
        &self,
        room: &str,
        messages: impl IntoIterator<Item = String>,
    ) -> Result<(), ClientError> {
        let mut sink = self.sink.lock().await;
        for message in messages {
            sink.feed(Message::text(chat_frame(&self.ns, room, &message)))
                .await?;
        }
        sink.flush().await?;
        Ok(())
    }
}

fn chat_frame(ns: &str, room: &str, message: &str) -> String {
    let payload = serde_json::json!(["chat", { "room": room, "message": message }]);
    format!("42{ns},{payload}")
}

impl EventReceiver {
    /// Reads until the connection closes: answers each ping with a pong and calls `on_message`
    /// with the argument of each `message` event. Other frames are ignored.
    ///
    /// Returns `Ok` when the server closes the connection.
    pub async fn run(mut self, mut on_message: impl FnMut(&str)) -> Result<(), ClientError> {
        while let Some(frame) = self.stream.next().await {
            let text = match frame? {
                Message::Text(text) => text,
                Message::Close(_) => return Ok(()),
                _ => continue,
            };
            let text = text.as_str();
            if text == "2" {
                self.sink.lock().await.send(Message::text("3")).await?;
            } else if text.starts_with('1') {
                return Ok(());
            } else if let Some(message) = self.message_argument(text) {
                on_message(&message);
            }
        }
        Ok(())
    }

    /// Like [`run`](Self::run), but every socket.io frame of the namespace reaches `on_frame`:
    /// `message` arguments, other events (whole frame), and the namespace's DISCONNECT.
    /// Returns when the connection closes or the namespace is disconnected.
    pub async fn run_frames(self, on_frame: impl FnMut(Frame<'_>)) -> Result<(), ClientError> {
        self.run_frames_paced(None, on_frame).await
    }

    /// Like [`run_frames`](Self::run_frames), reading one websocket frame every `pace` (a slow
    /// client: the server sees its TCP window fill) until `pace` is `None` or its time is up.
    pub async fn run_frames_paced(
        mut self,
        pace: Option<(Duration, Instant)>,
        mut on_frame: impl FnMut(Frame<'_>),
    ) -> Result<(), ClientError> {
        let disconnect = format!("41{}", &self.event_prefix[2..]);
        while let Some(frame) = self.stream.next().await {
            if let Some((every, until)) = pace
                && Instant::now() < until
            {
                tokio::time::sleep(every).await;
            }
            let text = match frame? {
                Message::Text(text) => text,
                Message::Close(_) => return Ok(()),
                _ => continue,
            };
            let text = text.as_str();
            if text == "2" {
                self.sink.lock().await.send(Message::text("3")).await?;
            } else if text.starts_with('1') {
                return Ok(());
            } else if text == disconnect || text == disconnect.trim_end_matches(',') {
                on_frame(Frame::Disconnect);
                return Ok(());
            } else if let Some(message) = self.message_argument(text) {
                on_frame(Frame::Message(&message));
            } else if text.starts_with(&self.event_prefix) {
                on_frame(Frame::Event(text));
            }
        }
        Ok(())
    }

    /// The string argument of a `message` event, or `None` for any other frame.
    fn message_argument<'a>(&self, text: &'a str) -> Option<Cow<'a, str>> {
        // Fast path: `42/ns,["message","plain text"]`, no escapes.
        if let Some(rest) = text.strip_prefix(&self.message_prefix)
            && let Some(inner) = rest.strip_suffix("\"]")
            && !inner.contains(['"', '\\'])
        {
            return Some(Cow::Borrowed(inner));
        }
        // Anything else on the namespace: an optional ack id, then a JSON array.
        let rest = text.strip_prefix(&self.event_prefix)?;
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        let (event, arg): (String, serde_json::Value) = serde_json::from_str(rest).ok()?;
        match (event.as_str(), arg) {
            ("message", serde_json::Value::String(s)) => Some(Cow::Owned(s)),
            _ => None,
        }
    }
}

//! Hostile engine.io / socket.io payloads through the whole switchboard stack, in process.
//!
//! Each input is the body of one HTTP long-polling POST on a session that has just joined
//! `/f`: engine.io packets separated by `\x1e`, socket.io packets inside them, binary
//! attachments as `b<base64>`. The namespaces are written with `#[switchboard::namespace]`, so
//! the macro-generated extraction and dispatch run on whatever the input holds.
//!
//! Invariants, checked on every input:
//! - no panic escapes anywhere (the service, socketioxide's tasks, switchboard's handlers);
//!   the one deliberate panic, in the `boom` handler, must be contained by switchboard;
//! - afterwards the server still answers a well-formed event on a fresh session with the
//!   right acknowledgement.
//!
//! The runtime is created once, on one thread, with tokio's clock paused: an idle long-poll
//! jumps to the next heartbeat instead of waiting 25 real seconds.
#![no_main]

use std::{future::Future, sync::OnceLock};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard::prelude::*;
use tower::{BoxError, ServiceExt, util::BoxCloneSyncService};

/// The message of the `boom` handler's panic: the only panic allowed to happen.
const DELIBERATE: &str = "fuzz: deliberate handler panic";

#[derive(Debug, Serialize, Deserialize)]
struct Point {
    x: i64,
    y: i64,
    label: Option<String>,
}

struct Fuzzed;

#[switchboard::namespace("/f")]
impl Fuzzed {
    #[on_connect]
    async fn hello<A: Adapter>(&self, socket: SocketRef<A>, TryData(auth): TryData<Value>) {
        if auth.is_ok() {
            socket.join("authed");
        }
    }

    /// The probe the invariant checks: echoes its payload.
    #[on("ping")]
    async fn ping(&self, Data(value): Data<Value>) -> Ack<Value> {
        Ack(value)
    }

    #[on("point")]
    async fn point(&self, Data(p): Data<Point>) -> Result<Point, String> {
        if p.x == i64::MIN {
            return Err("x out of range".to_owned());
        }
        Ok(Point {
            x: p.x.wrapping_neg(),
            ..p
        })
    }

    #[on("pair")]
    async fn pair(&self, Data((name, n)): Data<(String, u8)>) -> Ack<String> {
        Ack(format!("{name}{n}"))
    }

    #[on("blob")]
    async fn blob(&self, Data((meta, data)): Data<(Value, Bytes)>) -> Ack<(Value, usize)> {
        Ack((meta, data.len()))
    }

    #[on("join")]
    async fn join<A: Adapter>(&self, socket: SocketRef<A>, Data(room): Data<String>) -> Ack<usize> {
        socket.join(room);
        Ack(socket.rooms().len())
    }

    #[on("shout")]
    async fn shout<A: Adapter>(&self, socket: SocketRef<A>, Data(text): Data<String>) {
        socket.within("authed").emit("shout", &text).await.ok();
    }

    #[on("boom")]
    async fn boom(&self) -> Ack<u8> {
        panic!("{DELIBERATE}")
    }

    #[on_any]
    async fn other(
        &self,
        Event(name): Event,
        TryData(data): TryData<Value>,
    ) -> Result<String, String> {
        data.map(|_| name).map_err(|e| e.to_string())
    }
}

struct Tenant;

#[switchboard::namespace("/t/{id}")]
impl Tenant {
    #[on("whoami")]
    async fn whoami(&self, params: NsParams) -> Ack<String> {
        Ack(params.get("id").unwrap_or_default().to_owned())
    }
}

type Svc = BoxCloneSyncService<Request<Full<Bytes>>, (StatusCode, Bytes), BoxError>;

struct Harness {
    rt: tokio::runtime::Runtime,
    svc: Svc,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let deliberate = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|m| m == DELIBERATE);
            if !deliberate {
                previous(info);
                // Tokio catches panics of spawned tasks; the fuzzer must see them all.
                std::process::abort();
            }
        }));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a tokio runtime");
        let svc = rt.block_on(async {
            let (svc, _io) = Switchboard::builder()
                .namespace(Fuzzed)
                .namespace(Tenant)
                .build_svc()
                .expect("the fuzz server builds");
            BoxCloneSyncService::new(tower::service_fn(move |req: Request<Full<Bytes>>| {
                let svc = svc.clone();
                async move {
                    let res = ServiceExt::<Request<Full<Bytes>>>::oneshot(svc, req).await?;
                    collect(res).await
                }
            }))
        });
        Harness { rt, svc }
    })
}

/// A response's status and whole body.
async fn collect<B>(res: http::Response<B>) -> Result<(StatusCode, Bytes), BoxError>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let status = res.status();
    let body = res.into_body().collect().await.map_err(Into::into)?;
    Ok((status, body.to_bytes()))
}

/// One HTTP request to the server; its status and body.
async fn request(svc: &Svc, method: Method, sid: Option<&str>, body: Bytes) -> (StatusCode, Bytes) {
    let uri = match sid {
        Some(sid) => format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
        None => "/socket.io/?EIO=4&transport=polling".to_owned(),
    };
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::CONTENT_TYPE, "text/plain;charset=UTF-8")
        .body(Full::new(body))
        .expect("a valid request");
    svc.clone()
        .oneshot(req)
        .await
        .expect("the service never fails")
}

/// A new engine.io session that has joined `/f`; its id.
async fn session(svc: &Svc) -> String {
    let (status, open) = request(svc, Method::GET, None, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK, "handshake refused");
    let open: Value = serde_json::from_slice(&open[1..]).expect("an engine.io OPEN packet");
    let sid = open["sid"].as_str().expect("a session id").to_owned();
    let (status, _) = request(svc, Method::POST, Some(&sid), Bytes::from_static(b"40/f,")).await;
    assert_eq!(status, StatusCode::OK, "CONNECT refused");
    let packets = poll_until(svc, &sid, b"40/f,").await;
    assert!(packets.is_some(), "no CONNECT acknowledgement");
    sid
}

/// Polls `sid` until a packet starting with `prefix` arrives (answering pings); `None` when
/// the session ends first. A bounded number of polls: a server that never answers fails.
async fn poll_until(svc: &Svc, sid: &str, prefix: &[u8]) -> Option<Bytes> {
    for _ in 0..8 {
        let (status, body) = request(svc, Method::GET, Some(sid), Bytes::new()).await;
        if status != StatusCode::OK {
            return None;
        }
        if body.split(|b| *b == 0x1e).any(|p| p.starts_with(prefix)) {
            return Some(body);
        }
        if body.split(|b| *b == 0x1e).any(|p| p == b"1") {
            return None;
        }
        // A heartbeat: answer it so that the session survives the next one.
        request(svc, Method::POST, Some(sid), Bytes::from_static(b"3")).await;
    }
    panic!("no `{}` within 8 polls", String::from_utf8_lossy(prefix));
}

async fn close(svc: &Svc, sid: &str) {
    request(svc, Method::POST, Some(sid), Bytes::from_static(b"1")).await;
}

async fn run(svc: &Svc, input: &[u8]) {
    let sid = session(svc).await;
    request(svc, Method::POST, Some(&sid), Bytes::copy_from_slice(input)).await;
    // Whatever the input made the server send (or its heartbeat, the clock being paused).
    request(svc, Method::GET, Some(&sid), Bytes::new()).await;
    close(svc, &sid).await;

    // The server still serves a well-behaved client, with the right ack.
    let sid = session(svc).await;
    let (status, _) = request(
        svc,
        Method::POST,
        Some(&sid),
        Bytes::from_static(br#"42/f,7["ping",{"n":7}]"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "a well-formed event was refused");
    let answer = poll_until(svc, &sid, b"43/f,7")
        .await
        .expect("the ack, not a closed session");
    assert!(
        answer
            .split(|b| *b == 0x1e)
            .any(|p| p == br#"43/f,7[{"n":7}]"#),
        "wrong ack: {}",
        String::from_utf8_lossy(&answer)
    );
    close(svc, &sid).await;
}

/// Drives `fut` on the harness's runtime.
fn block_on<F: Future>(fut: F) -> F::Output {
    harness().rt.block_on(fut)
}

fuzz_target!(|input: &[u8]| {
    let h = harness();
    block_on(run(&h.svc, input));
});

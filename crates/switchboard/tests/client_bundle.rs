//! HTTP-level tests of the client-bundle layer (feature `client-bundle`): every served file,
//! headers, revalidation, negotiation, and every request that must reach the inner service.
#![cfg(feature = "client-bundle")]
#![allow(clippy::unwrap_used)]

use std::{convert::Infallible, io::Read as _};

use axum::{
    Router,
    body::{Body, Bytes},
    routing,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use switchboard::client_bundle::{CLIENT_VERSION, ClientBundleLayer, file_names};
use tower::{Layer as _, ServiceExt as _, service_fn};

/// What `socket.io-client` ships in `dist/`, and so exactly what must be served.
const FILES: [&str; 8] = [
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
];

const JS: &str = "application/javascript; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

/// A status/body pair no bundle response has, echoing what the inner service received.
async fn inner(request: Request<Body>) -> Result<Response<Body>, Infallible> {
    let seen = format!("{} {}", request.method(), request.uri());
    let body = request.into_body().collect().await.unwrap().to_bytes();
    Ok(Response::builder()
        .status(StatusCode::IM_A_TEAPOT)
        .header("x-inner", seen)
        .body(Body::from(body))
        .unwrap())
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn is_from_inner(&self) -> bool {
        self.status == StatusCode::IM_A_TEAPOT && self.headers.contains_key("x-inner")
    }
}

async fn send_to(layer: ClientBundleLayer, request: Request<Body>) -> Reply {
    let response = layer
        .layer(service_fn(inner))
        .oneshot(request)
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

async fn send(method: Method, uri: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send_to(
        ClientBundleLayer::new(),
        request.body(Body::empty()).unwrap(),
    )
    .await
}

async fn get(uri: &str, headers: &[(&str, &str)]) -> Reply {
    send(Method::GET, uri, headers).await
}

fn path(name: &str) -> String {
    format!("/socket.io/{name}")
}

fn brotli_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gzip_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn the_listed_names_are_the_dist_files() {
    let mut served: Vec<_> = file_names().collect();
    let mut expected = FILES.to_vec();
    served.sort_unstable();
    expected.sort_unstable();
    assert_eq!(served, expected);
}

#[tokio::test]
async fn every_file_is_served_with_its_type_and_caching_headers() {
    for name in FILES {
        let reply = get(&path(name), &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
        let is_map = name.ends_with(".map");
        assert_eq!(
            reply.header(header::CONTENT_TYPE),
            Some(if is_map { JSON } else { JS }),
            "{name}"
        );
        assert_eq!(
            reply.header(header::CONTENT_ENCODING),
            None,
            "{name}: no Accept-Encoding"
        );
        assert_eq!(
            reply.header(header::CONTENT_LENGTH),
            Some(reply.body.len().to_string().as_str())
        );
        assert_eq!(reply.header(header::VARY), Some("accept-encoding"));
        assert_eq!(
            reply.header(header::CACHE_CONTROL),
            Some("public, max-age=3600")
        );
        assert_eq!(
            reply.header(header::X_CONTENT_TYPE_OPTIONS),
            Some("nosniff")
        );
        let etag = reply.header(header::ETAG).unwrap();
        assert!(
            etag.starts_with(&format!("\"{CLIENT_VERSION}-")) && etag.ends_with('"'),
            "{etag}"
        );

        if is_map {
            let map: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
            assert_eq!(map["version"], 3, "{name}");
            assert_eq!(map["file"], name.trim_end_matches(".map"), "{name}");
        } else {
            let banner = format!("/*!\n * Socket.IO v{CLIENT_VERSION}\n");
            assert!(
                reply.body.starts_with(banner.as_bytes()),
                "{name} lacks the client banner"
            );
        }
    }
}

#[tokio::test]
async fn compressed_bodies_decompress_to_the_file_and_lengths_are_exact() {
    for name in FILES {
        let plain = get(&path(name), &[("accept-encoding", "identity")]).await;
        assert_eq!(plain.header(header::CONTENT_ENCODING), None);

        for (accept, coding, decode) in [
            ("br", "br", brotli_decode as fn(&[u8]) -> Vec<u8>),
            ("gzip", "gzip", gzip_decode),
        ] {
            let reply = get(&path(name), &[("accept-encoding", accept)]).await;
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(
                reply.header(header::CONTENT_ENCODING),
                Some(coding),
                "{name}"
            );
            assert_eq!(
                reply.header(header::CONTENT_LENGTH),
                Some(reply.body.len().to_string().as_str())
            );
            assert!(
                reply.body.len() < plain.body.len(),
                "{name}: {coding} is not smaller"
            );
            assert_eq!(
                decode(&reply.body),
                plain.body,
                "{name}: {coding} body differs"
            );
            assert_ne!(
                reply.header(header::ETAG),
                plain.header(header::ETAG),
                "one tag per encoding"
            );
            assert_eq!(reply.header(header::VARY), Some("accept-encoding"));
        }
    }
}

#[tokio::test]
async fn accept_encoding_is_negotiated_with_q_values() {
    let cases: [(Option<&str>, Option<&str>); 14] = [
        (None, None),
        (Some(""), None),
        (Some("gzip, deflate, br, zstd"), Some("br")),
        (Some("br, gzip"), Some("br")),
        (Some("gzip"), Some("gzip")),
        (Some("deflate"), None),
        (Some("identity"), None),
        (Some("br;q=0, gzip"), Some("gzip")),
        (Some("br;q=0, gzip;q=0"), None),
        (Some("br;q=0.5, gzip;q=0.8"), Some("gzip")),
        (Some("gzip;q=0.1, identity;q=0.5"), None),
        (Some("*"), Some("br")),
        (Some("*;q=0.3, br;q=0"), Some("gzip")),
        (Some("*;q=0"), None), // every coding refused: identity anyway
    ];
    for (accept, expected) in cases {
        let headers: Vec<_> = accept.map(|a| ("accept-encoding", a)).into_iter().collect();
        let reply = get(&path("socket.io.min.js"), &headers).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.header(header::CONTENT_ENCODING),
            expected,
            "Accept-Encoding: {accept:?}"
        );
    }
}

#[tokio::test]
async fn if_none_match_revalidates() {
    let uri = path("socket.io.js");
    let first = get(&uri, &[("accept-encoding", "gzip")]).await;
    let etag = first.header(header::ETAG).unwrap().to_owned();
    let weak = format!("W/{etag}");
    let list = format!("\"stale\", {weak}, \"other\"");

    for if_none_match in [etag.as_str(), weak.as_str(), list.as_str(), "*"] {
        for method in [Method::GET, Method::HEAD] {
            let reply = send(
                method.clone(),
                &uri,
                &[
                    ("accept-encoding", "gzip"),
                    ("if-none-match", if_none_match),
                ],
            )
            .await;
            assert_eq!(
                reply.status,
                StatusCode::NOT_MODIFIED,
                "{method} If-None-Match: {if_none_match}"
            );
            assert!(reply.body.is_empty());
            assert_eq!(reply.header(header::ETAG), Some(etag.as_str()));
            assert_eq!(reply.header(header::VARY), Some("accept-encoding"));
            assert_eq!(
                reply.header(header::CACHE_CONTROL),
                first.header(header::CACHE_CONTROL)
            );
            assert_eq!(reply.header(header::CONTENT_LENGTH), None);
        }
    }

    // The gzip tag does not validate the brotli representation, and a stale tag is a 200.
    let other = get(&uri, &[("accept-encoding", "br"), ("if-none-match", &etag)]).await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.header(header::CONTENT_ENCODING), Some("br"));
    for stale in ["\"stale\"", "W/\"stale\", \"older\"", "garbage"] {
        let reply = get(
            &uri,
            &[("accept-encoding", "gzip"), ("if-none-match", stale)],
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "If-None-Match: {stale}");
        assert_eq!(reply.body, first.body);
    }
}

#[tokio::test]
async fn head_has_the_get_headers_and_no_body() {
    for name in FILES {
        for accept in ["br", "gzip", "identity"] {
            let headers = [("accept-encoding", accept)];
            let got = get(&path(name), &headers).await;
            let head = send(Method::HEAD, &path(name), &headers).await;
            assert_eq!(head.status, StatusCode::OK);
            assert!(head.body.is_empty(), "{name}: HEAD has a body");
            assert_eq!(
                head.headers, got.headers,
                "{name} ({accept}): HEAD headers differ from GET"
            );
            assert_eq!(
                head.header(header::CONTENT_LENGTH),
                Some(got.body.len().to_string().as_str())
            );
        }
    }
}

#[tokio::test]
async fn traversal_and_encoded_names_reach_the_inner_service() {
    for uri in [
        "/socket.io/../socket.io/socket.io.js",
        "/socket.io/./socket.io.js",
        "/socket.io//socket.io.js",
        "/socket.io/%2e%2e/socket.io/socket.io.js",
        "/socket.io/%2E%2E/socket.io/socket.io.js",
        "/socket.io%2fsocket.io.js",
        "/socket.io%2Fsocket.io.js",
        "/socket.io/socket.io%2ejs",
        "/socket.io/%73ocket.io.js",
        "/socket.io/socket.io.js%00",
        "/socket.io/socket.io.js/",
        "/socket.io/socket.io.js/..",
        "/socket.io/dist/socket.io.js",
        "/socket.io/../../etc/passwd",
    ] {
        let reply = get(uri, &[]).await;
        assert!(
            reply.is_from_inner(),
            "{uri} was answered by the bundle layer"
        );
        assert_eq!(
            reply.header("x-inner".try_into().unwrap()),
            Some(format!("GET {uri}").as_str())
        );
    }
}

#[tokio::test]
async fn unknown_names_reach_the_inner_service() {
    for name in [
        "socket.io.esm.js",
        "socket.io.msgpack.js",
        "socket.io.esm.js.map",
        "socket.io.js.br",
        "socket.io.js.gz",
        "Socket.IO.js",
        "socket.io.min.js.map.map",
        "",
        "?EIO=4&transport=polling",
    ] {
        let reply = get(&path(name), &[("accept-encoding", "br")]).await;
        assert!(
            reply.is_from_inner(),
            "/socket.io/{name} must go to the inner service"
        );
    }
    for uri in [
        "/socket.io.js",
        "/other/socket.io.js",
        "/socket.iox/socket.io.js",
        "/",
    ] {
        assert!(get(uri, &[]).await.is_from_inner(), "{uri}");
    }
}

#[tokio::test]
async fn other_methods_reach_the_inner_service_with_their_body() {
    for method in [
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
    ] {
        let request = Request::builder()
            .method(method.clone())
            .uri("/socket.io/socket.io.js")
            .body(Body::from("payload"))
            .unwrap();
        let reply = send_to(ClientBundleLayer::new(), request).await;
        assert!(reply.is_from_inner(), "{method}");
        assert_eq!(reply.body, "payload");
    }
}

#[tokio::test]
async fn a_custom_path_moves_the_files() {
    let layer = || ClientBundleLayer::new().path("/custom");
    let request = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();

    let reply = send_to(layer(), request("/custom/socket.io.js")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(header::CONTENT_TYPE), Some(JS));
    assert!(
        send_to(layer(), request("/socket.io/socket.io.js"))
            .await
            .is_from_inner()
    );
    assert!(
        send_to(layer(), request("/custom/socket.io.esm.js"))
            .await
            .is_from_inner()
    );

    let trailing = ClientBundleLayer::new().path("/custom/");
    assert_eq!(
        send_to(trailing, request("/custom/socket.io.min.js"))
            .await
            .status,
        StatusCode::OK
    );
    let root = ClientBundleLayer::new().path("/");
    assert_eq!(
        send_to(root, request("/socket.io.min.js")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn serving_off_passes_everything_through() {
    let request = Request::get("/socket.io/socket.io.js")
        .body(Body::empty())
        .unwrap();
    assert!(
        send_to(ClientBundleLayer::new().enabled(false), request)
            .await
            .is_from_inner()
    );
}

#[tokio::test]
async fn cache_control_is_configurable() {
    let layer = ClientBundleLayer::new().cache_control(HeaderValue::from_static("no-cache"));
    let request = Request::get("/socket.io/socket.io.js")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send_to(layer, request).await.header(header::CACHE_CONTROL),
        Some("no-cache")
    );
}

/// The intended stacking: the bundle layer outside socketioxide's, as one layer (the way a
/// builder can return them) on an axum router.
fn app_with_socketio() -> Router {
    let (socketio, _io) = socketioxide::SocketIo::new_layer();
    // `Stack::new(inner, outer)`: the bundle layer sees each request first.
    let layer = tower_layer::Stack::new(socketio, ClientBundleLayer::new());
    Router::new()
        .route("/", routing::get(|| async { "index" }))
        .layer(layer)
}

async fn call(app: Router, method: Method, uri: &str) -> (StatusCode, HeaderMap, Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let (parts, body) = app.oneshot(request).await.unwrap().into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn stacked_outside_socketioxide_on_an_axum_router() {
    let app = app_with_socketio();

    let (status, headers, body) = call(app.clone(), Method::GET, "/socket.io/socket.io.js").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], JS);
    assert_eq!(
        headers[header::CONTENT_LENGTH],
        body.len().to_string().as_str()
    );

    // engine.io still owns the rest of the path: a polling handshake opens a session…
    let (status, _, body) = call(
        app.clone(),
        Method::GET,
        "/socket.io/?EIO=4&transport=polling",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with(b"0{\"sid\":"), "{body:?}");
    // …and a name the client package does not ship is engine.io's to reject, not a 200.
    let (status, _, _) = call(app.clone(), Method::GET, "/socket.io/socket.io.esm.js").await;
    assert_ne!(status, StatusCode::OK);
    let (status, _, _) = call(app.clone(), Method::POST, "/socket.io/socket.io.js").await;
    assert_ne!(status, StatusCode::OK);

    let (status, _, body) = call(app, Method::GET, "/").await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"index"[..]));
}

/// Over a real socket, hyper must keep the `Content-Length` of a `HEAD` response and the
/// exact length of a `GET` one.
#[tokio::test]
async fn content_length_survives_a_real_server() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app_with_socketio()).into_future());

    let mut lengths = Vec::new();
    for method in ["GET", "HEAD"] {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!(
            "{method} /socket.io/socket.io.min.js HTTP/1.1\r\nHost: {address}\r\n\
             Accept-Encoding: gzip\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_end(&mut raw),
        )
        .await
        .unwrap()
        .unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("content-encoding: gzip"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        let body = &raw[split + 4..];
        match method {
            "GET" => assert_eq!(body.len(), length),
            _ => assert!(body.is_empty()),
        }
        lengths.push(length);
    }
    assert_eq!(lengths[0], lengths[1]);
    server.abort();
}

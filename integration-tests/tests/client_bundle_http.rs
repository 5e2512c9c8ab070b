//! The JavaScript client served by a real `seed-chat` server, checked on the wire.
//!
//! `crates/switchboard/tests/client_bundle.rs` covers the layer in depth (every rule of
//! negotiation, revalidation, traversal, custom paths, serving off); these tests check that
//! the same answers come out of a real server process over TCP, next to engine.io: headers
//! and lengths survive hyper, `304`s have no body, compressed bodies decompress to the file,
//! and the engine.io handshake under the same path is untouched.
//!
//! The client is raw HTTP/1.1 over a `TcpStream` (one request per connection,
//! `Connection: close`), so what is asserted is exactly what was sent.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use integration_tests::SeedChat;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP response as it came off the wire.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    /// The value of header `name` (case-insensitive); panics if it appears more than once.
    fn header(&self, name: &str) -> Option<&str> {
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        let first = values.next();
        assert!(values.next().is_none(), "header {name} appears twice");
        first
    }

    fn content_length(&self) -> Option<usize> {
        self.header("content-length").map(|v| {
            v.parse()
                .unwrap_or_else(|e| panic!("Content-Length {v:?}: {e}"))
        })
    }

    fn describe(&self) -> String {
        let mut out = format!("HTTP {}\n", self.status);
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\n"));
        }
        out.push_str(&format!("({} body bytes)", self.body.len()));
        out
    }
}

/// Sends `method target` with `headers` to the server and reads the whole response.
fn request(server: &SeedChat, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    let port = server.port();
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .unwrap_or_else(|e| panic!("connecting to 127.0.0.1:{port}: {e}"));
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .expect("setting socket timeouts");
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .unwrap_or_else(|e| panic!("sending {method} {target}: {e}"));
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("reading the response to {method} {target}: {e}"));
    parse_reply(&raw, method == "HEAD")
        .unwrap_or_else(|why| panic!("{method} {target}: malformed response ({why}): {raw:?}"))
}

fn parse_reply(raw: &[u8], head_request: bool) -> Result<Reply, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| e.to_string())?;
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("no status line")?;
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("bad header line {line:?}"))?;
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut reply = Reply {
        status,
        headers,
        body: Vec::new(),
    };
    if head_request || status == 304 || status == 204 {
        if !rest.is_empty() {
            return Err(format!(
                "{} bytes after a response without a body",
                rest.len()
            ));
        }
        return Ok(reply);
    }
    reply.body = if reply
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)?
    } else if let Some(length) = reply.content_length() {
        if rest.len() != length {
            return Err(format!(
                "Content-Length {length} but {} body bytes",
                rest.len()
            ));
        }
        rest.to_vec()
    } else {
        rest.to_vec()
    };
    Ok(reply)
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("unterminated chunk size")?;
        let size = std::str::from_utf8(&rest[..line_end]).map_err(|e| e.to_string())?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("chunk size {size:?}: {e}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("truncated chunk")?;
        body.extend_from_slice(chunk);
        rest = rest.get(size + 2..).ok_or("truncated chunk")?;
    }
}

fn get(server: &SeedChat, target: &str, headers: &[(&str, &str)]) -> Reply {
    request(server, "GET", target, headers)
}

fn brotli_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("a valid brotli stream");
    out
}

fn gzip_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a valid gzip stream");
    out
}

#[test]
fn every_file_is_served_with_its_type_length_and_caching_headers() {
    let server = SeedChat::spawn(&[]);
    // The list itself is checked against the npm package in crates/switchboard/tests.
    let files: Vec<&str> = switchboard::client_bundle::file_names().collect();
    assert_eq!(files.len(), 8);
    for name in files {
        let target = format!("/socket.io/{name}");
        let reply = get(&server, &target, &[]);
        let show = reply.describe();
        assert_eq!(reply.status, 200, "{target}: {show}");
        let want_type = if name.ends_with(".map") {
            "application/json; charset=utf-8"
        } else {
            "application/javascript; charset=utf-8"
        };
        assert_eq!(reply.header("content-type"), Some(want_type), "{target}");
        assert_eq!(reply.content_length(), Some(reply.body.len()), "{target}");
        assert!(!reply.body.is_empty(), "{target}: empty body");
        assert_eq!(reply.header("content-encoding"), None, "{target}: {show}");
        let etag = reply.header("etag").unwrap_or("");
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
            "{target}: expected a strong ETag: {show}"
        );
        assert!(reply.header("cache-control").is_some(), "{target}: {show}");
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        assert!(
            reply
                .header("vary")
                .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
            "{target}: {show}"
        );
    }
    let script = get(&server, "/socket.io/socket.io.js", &[]);
    let text = String::from_utf8_lossy(&script.body);
    assert!(
        text.starts_with("/*!\n * Socket.IO v"),
        "socket.io.js does not start with the client's banner: {:?}",
        &text[..text.len().min(80)]
    );
}

#[test]
fn if_none_match_answers_304_without_a_body() {
    let server = SeedChat::spawn(&[]);
    let target = "/socket.io/socket.io.js";
    let fresh = get(&server, target, &[]);
    let etag = fresh.header("etag").expect("an ETag").to_owned();

    let weak = format!("W/{etag}");
    let list = format!("\"not-this-one\", {etag}");
    for if_none_match in [etag.as_str(), weak.as_str(), list.as_str()] {
        let reply = get(&server, target, &[("If-None-Match", if_none_match)]);
        let show = reply.describe();
        assert_eq!(reply.status, 304, "If-None-Match: {if_none_match}: {show}");
        assert!(reply.body.is_empty(), "{show}");
        assert_eq!(reply.header("etag"), Some(etag.as_str()), "{show}");
        assert!(reply.header("cache-control").is_some(), "{show}");
        assert!(reply.header("vary").is_some(), "{show}");
    }

    let stale = get(&server, target, &[("If-None-Match", "\"not-this-one\"")]);
    assert_eq!(stale.status, 200, "{}", stale.describe());
    assert_eq!(stale.body, fresh.body);

    // A tag names one representation: the brotli copy has its own, and revalidates with it.
    let br = get(&server, target, &[("Accept-Encoding", "br")]);
    let br_etag = br.header("etag").expect("an ETag").to_owned();
    assert_ne!(br_etag, etag);
    let again = get(
        &server,
        target,
        &[("Accept-Encoding", "br"), ("If-None-Match", &br_etag)],
    );
    assert_eq!(again.status, 304, "{}", again.describe());
}

#[test]
fn br_and_gzip_are_negotiated_and_decompress_to_the_file() {
    let server = SeedChat::spawn(&[]);
    let target = "/socket.io/socket.io.js";
    let plain = get(&server, target, &[]).body;

    let br = get(&server, target, &[("Accept-Encoding", "gzip, deflate, br")]);
    assert_eq!(br.status, 200);
    assert_eq!(
        br.header("content-encoding"),
        Some("br"),
        "{}",
        br.describe()
    );
    assert_eq!(br.content_length(), Some(br.body.len()));
    assert!(br.body.len() < plain.len());
    assert_eq!(brotli_decode(&br.body), plain);

    let gzip = get(&server, target, &[("Accept-Encoding", "gzip")]);
    assert_eq!(gzip.status, 200);
    assert_eq!(
        gzip.header("content-encoding"),
        Some("gzip"),
        "{}",
        gzip.describe()
    );
    assert_eq!(gzip.content_length(), Some(gzip.body.len()));
    assert!(gzip.body.len() < plain.len());
    assert_eq!(gzip_decode(&gzip.body), plain);

    let prefers_gzip = get(&server, target, &[("Accept-Encoding", "br;q=0.5, gzip")]);
    assert_eq!(prefers_gzip.header("content-encoding"), Some("gzip"));

    let identity = get(&server, target, &[("Accept-Encoding", "identity")]);
    assert_eq!(identity.header("content-encoding"), None);
    assert_eq!(identity.body, plain);
}

#[test]
fn head_has_the_get_headers_and_no_body() {
    let server = SeedChat::spawn(&[]);
    for encoding in ["identity", "br", "gzip"] {
        let headers = [("Accept-Encoding", encoding)];
        let got = get(&server, "/socket.io/socket.io.min.js", &headers);
        let head = request(&server, "HEAD", "/socket.io/socket.io.min.js", &headers);
        assert_eq!(head.status, 200, "{}", head.describe());
        assert!(head.body.is_empty());
        assert_eq!(head.content_length(), Some(got.body.len()), "{encoding}");
        for name in ["content-type", "content-encoding", "etag", "cache-control"] {
            assert_eq!(head.header(name), got.header(name), "{encoding}: {name}");
        }
    }
}

#[test]
fn other_names_and_traversal_attempts_are_not_served() {
    let server = SeedChat::spawn(&[]);
    let plain = get(&server, "/socket.io/socket.io.js", &[]).body;
    for target in [
        "/socket.io/socket.io.esm.js",
        "/socket.io/socket.io.js.gz",
        "/socket.io/socket.io.JS",
        "/socket.io/socket.io%2ejs",
        "/socket.io/../socket.io/socket.io.js",
        "/socket.io/%2e%2e/socket.io/socket.io.js",
        "/socket.io/x/..%2fsocket.io.js",
        "/socket.io%2fsocket.io.js",
        "/socket.io.js",
    ] {
        let reply = get(&server, target, &[]);
        assert_ne!(reply.status, 200, "{target}: {}", reply.describe());
        assert_ne!(reply.body, plain, "{target} served the client");
    }
    let post = request(
        &server,
        "POST",
        "/socket.io/socket.io.js",
        &[("Content-Length", "0")],
    );
    assert_ne!(post.status, 200, "POST: {}", post.describe());
}

#[test]
fn the_engine_io_polling_handshake_still_works() {
    let server = SeedChat::spawn(&[]);
    let reply = get(&server, "/socket.io/?EIO=4&transport=polling", &[]);
    let show = reply.describe();
    assert_eq!(reply.status, 200, "{show}");
    let body = String::from_utf8(reply.body).expect("a text handshake");
    let open = body
        .strip_prefix('0')
        .unwrap_or_else(|| panic!("expected an engine.io OPEN packet, got {body:?}"));
    let open: serde_json::Value = serde_json::from_str(open)
        .unwrap_or_else(|e| panic!("the OPEN packet is not JSON ({e}): {body:?}"));
    assert!(
        open["sid"].as_str().is_some_and(|sid| !sid.is_empty()),
        "{open}"
    );
    assert_eq!(open["upgrades"], serde_json::json!(["websocket"]), "{open}");
    assert!(open["pingInterval"].is_u64(), "{open}");
}

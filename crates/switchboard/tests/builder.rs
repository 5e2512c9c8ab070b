//! The builder's checks and switches, without a network.
use axum::{Router, body::Body};
use http::{Request, StatusCode};
use switchboard::{BuildError, NamespaceDef, Switchboard, prelude::*};
use tower::ServiceExt;

async fn status(app: &Router, uri: &str) -> StatusCode {
    let req = Request::get(uri)
        .body(Body::empty())
        .expect("a valid request");
    app.clone()
        .oneshot(req)
        .await
        .expect("the router is infallible")
        .status()
}

#[tokio::test]
async fn serves_the_client_under_the_socketio_path_unless_told_not_to() {
    let (layer, _io) = Switchboard::builder().build_layer().unwrap();
    let app = Router::new().layer(layer);
    assert_eq!(
        status(&app, "/socket.io/socket.io.js").await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, "/socket.io/socket.io.min.js.map").await,
        StatusCode::OK
    );

    let (layer, _io) = Switchboard::builder()
        .serve_client(false)
        .build_layer()
        .unwrap();
    let app = Router::new().layer(layer);
    assert_ne!(
        status(&app, "/socket.io/socket.io.js").await,
        StatusCode::OK
    );

    let (layer, _io) = Switchboard::builder()
        .req_path("/rt")
        .build_layer()
        .unwrap();
    let app = Router::new().layer(layer);
    assert_eq!(status(&app, "/rt/socket.io.js").await, StatusCode::OK);
    assert_ne!(
        status(&app, "/socket.io/socket.io.js").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn application_routes_fall_through() {
    let (layer, _io) = Switchboard::builder().build_layer().unwrap();
    let app = Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .layer(layer);
    assert_eq!(status(&app, "/health").await, StatusCode::OK);
    assert_eq!(status(&app, "/nope").await, StatusCode::NOT_FOUND);
}

#[test]
fn refuses_invalid_paths_duplicates_and_duplicate_events() {
    let err = Switchboard::builder()
        .namespace(NamespaceDef::new("sports"))
        .build_layer()
        .unwrap_err();
    assert!(
        matches!(err, BuildError::InvalidPath { ref path, .. } if path == "sports"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "invalid namespace path `sports`: a namespace path starts with `/`"
    );

    let err = Switchboard::builder()
        .namespace(NamespaceDef::new("/a"))
        .namespace(NamespaceDef::new("/a"))
        .build_layer()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "namespace `/a` is registered twice; register each path once"
    );

    let err = Switchboard::builder()
        .namespace(
            NamespaceDef::new("/a")
                .on("x", async || ())
                .on("x", async || ()),
        )
        .build_layer()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "namespace `/a` has two handlers for event `x`; keep one"
    );
}

#[test]
fn overlapping_dynamic_namespaces_are_refused() {
    let err = Switchboard::builder()
        .namespace(NamespaceDef::new("/t/{id}"))
        .namespace(NamespaceDef::new("/t/{name}"))
        .build_layer()
        .unwrap_err();
    assert!(matches!(err, BuildError::DynamicNamespace { .. }), "{err}");
}

/// The macro leaves methods callable: a handler is unit-testable without a server.
struct Math;

#[switchboard::namespace("/math")]
impl Math {
    #[on("double")]
    async fn double(&self, Data(n): Data<i64>) -> Ack<i64> {
        Ack(n * 2)
    }
}

#[tokio::test]
async fn handler_methods_stay_ordinary_methods() {
    assert_eq!(Math.double(Data(21)).await, Ack(42));
    let def: NamespaceDef = switchboard::Namespace::into_def(Math);
    assert_eq!(def.path(), "/math");
}

/// `SocketRef` without a type parameter ties a namespace to the default in-memory adapter.
struct Bare;

#[switchboard::namespace("/in-memory")]
impl Bare {
    #[on_connect]
    async fn welcome(&self, socket: SocketRef) {
        socket.join("everyone");
    }
}

/// `adapter = ..` pins the adapter explicitly.
struct Pinned;

#[switchboard::namespace("/pinned", adapter = switchboard::InMemory)]
impl Pinned {
    #[on("ping")]
    async fn ping(&self) -> Ack<&'static str> {
        Ack("pong")
    }
}

#[test]
fn namespaces_tied_to_the_in_memory_adapter_build() {
    let (_layer, io) = Switchboard::builder()
        .namespace(Bare)
        .namespace(Pinned)
        .build_layer()
        .unwrap();
    assert!(io.of("/in-memory").is_some());
    assert!(io.of("/pinned").is_some());
}

/// socketioxide's own in-memory adapter, without switchboard's delivery guarantee.
struct Plain;

#[switchboard::namespace("/plain", adapter = LocalAdapter)]
impl Plain {
    #[on("ping")]
    async fn ping(&self) -> Ack<&'static str> {
        Ack("pong")
    }
}

#[test]
fn socketioxides_local_adapter_still_builds() {
    let (_layer, io) = Switchboard::builder_with_adapter::<LocalAdapter>(())
        .namespace(Plain)
        .build_layer()
        .unwrap();
    assert!(io.of("/plain").is_some());
}

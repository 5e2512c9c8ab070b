//! Running guard stacks on a CONNECT and turning their answer into a verdict.
use std::{panic::AssertUnwindSafe, sync::Arc, time::Duration};

use axum::body::Body;
use bytes::Bytes;
use futures_util::FutureExt;
use http::{HeaderValue, header::AUTHORIZATION};
use socketioxide::{
    adapter::Adapter,
    extract::TryData,
    handler::{FromConnectParts, Value},
    socket::Socket,
};
use tower::{BoxError, ServiceExt, util::BoxCloneSyncService};
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

use crate::metrics::ConnectRefusal;

use super::{
    ConnectAuth, ConnectNamespace, GuardEndpoint, GuardRequest, PassedThrough, extension::Admitted,
};

/// A guard stack with its types erased; it never fails, its answer is the verdict.
pub(crate) type BoxedGuard = BoxCloneSyncService<GuardRequest, Verdict, std::convert::Infallible>;

/// Accepted with the admitted extensions, or refused.
pub(crate) type Verdict = Result<http::Extensions, Refused>;

/// A refused CONNECT: the message for the client, and why, as the metrics count it. Opaque;
/// public only because [`GuardLayer`]'s hidden method names it.
#[doc(hidden)]
#[derive(Debug)]
pub struct Refused {
    pub(crate) message: String,
    pub(crate) why: ConnectRefusal,
}

impl Refused {
    fn new(why: ConnectRefusal, message: String) -> Self {
        Self { message, why }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The longest response body read to explain a refusal.
const MAX_REASON_BYTES: usize = 512;

/// A Tower layer that can guard a namespace: its service takes a [`GuardRequest`] and answers
/// an HTTP response (body `B`), is `Clone + Send + Sync`, and its errors convert to
/// [`BoxError`]. Implemented for every such layer; you never implement it yourself.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot guard a namespace",
    label = "not a guard layer",
    note = "a guard is a Tower layer whose service takes `switchboard::guard::GuardRequest` (an `http::Request<axum::body::Body>`), answers an `http::Response`, and is `Clone + Send + Sync + 'static`",
    note = "tower's `RateLimit` is not `Clone`: use `concurrency_limit` with `load_shed`, or a limiter that keeps its state behind an `Arc`"
)]
pub trait GuardLayer<B>: Layer<GuardEndpoint> {
    /// Applies the layer to [`GuardEndpoint`] and erases the result.
    #[doc(hidden)]
    fn into_guard(self) -> BoxedGuard;
}

impl<L, B> GuardLayer<B> for L
where
    L: Layer<GuardEndpoint>,
    L::Service: Service<GuardRequest, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    <L::Service as Service<GuardRequest>>::Future: Send + 'static,
    <L::Service as Service<GuardRequest>>::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn into_guard(self) -> BoxedGuard {
        let svc = self.layer(GuardEndpoint);
        BoxCloneSyncService::new(tower::service_fn(move |req: GuardRequest| {
            let svc = svc.clone();
            async move {
                let res: Result<_, BoxError> = svc.oneshot(req).await.map_err(Into::into);
                Ok(match res {
                    Ok(res) => verdict(res).await,
                    Err(error) => Err(describe_error(error)),
                })
            }
        }))
    }
}

async fn verdict<B>(res: http::Response<B>) -> Verdict
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let status = res.status();
    let (mut parts, body) = res.into_parts();
    if status.is_success() {
        return match parts.extensions.remove::<PassedThrough>() {
            Some(PassedThrough(ext)) => Ok(ext),
            // A 2xx answered by the stack itself never reached the endpoint: fail closed.
            None => Err(Refused::new(
                ConnectRefusal::Failed,
                format!(
                    "the connection guard answered {status} without letting the connection through"
                ),
            )),
        };
    }
    let text = axum::body::to_bytes(Body::new(body), MAX_REASON_BYTES)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let reason = text.unwrap_or_else(|| status.canonical_reason().unwrap_or("Refused").to_owned());
    Err(Refused::new(
        ConnectRefusal::Guard(status),
        format!("{reason} (HTTP {})", status.as_u16()),
    ))
}

/// A stack's error: a `load_shed` refusal counts as the 503 it stands for.
fn describe_error(error: BoxError) -> Refused {
    if error.is::<tower::timeout::error::Elapsed>() {
        Refused::new(
            ConnectRefusal::Timeout,
            "the connection guard timed out".to_owned(),
        )
    } else if error.is::<tower::load_shed::error::Overloaded>() {
        Refused::new(
            ConnectRefusal::Guard(http::StatusCode::SERVICE_UNAVAILABLE),
            "too many connection attempts; try again later".to_owned(),
        )
    } else {
        Refused::new(
            ConnectRefusal::Failed,
            format!("connection refused: {error}"),
        )
    }
}

/// The guards of one namespace (the all-namespaces ones first) and their time budget.
#[derive(Clone)]
pub(crate) struct Guards {
    pub(crate) stacks: Vec<BoxedGuard>,
    pub(crate) timeout: Duration,
}

impl Guards {
    pub(crate) fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }

    /// Runs every stack in order; on acceptance stores the admitted extensions in the socket.
    pub(crate) async fn check<A: Adapter>(
        &self,
        socket: &Arc<Socket<A>>,
        auth: &Option<Value>,
    ) -> Result<(), Refused> {
        let auth = ConnectAuth(match auth {
            Some(_) => TryData::<serde_json::Value>::from_connect_parts(socket, auth)
                .ok()
                .and_then(|TryData(v)| v.ok()),
            None => None,
        });
        let mut admitted = http::Extensions::new();
        for stack in &self.stacks {
            let mut req = handshake_request(socket, &auth);
            req.extensions_mut().extend(admitted.clone());
            let span = tracing::debug_span!("guard", ns = socket.ns(), sid = %socket.id);
            let run = AssertUnwindSafe(stack.clone().oneshot(req))
                .catch_unwind()
                .instrument(span);
            admitted = match tokio::time::timeout(self.timeout, run).await {
                Ok(Ok(Ok(Ok(ext)))) => ext,
                Ok(Ok(Ok(Err(refusal)))) => return Err(refusal),
                Ok(Ok(Err(never))) => match never {},
                Ok(Err(_panic)) => {
                    tracing::error!(ns = socket.ns(), sid = %socket.id, "connection guard panicked; refusing the connection");
                    return Err(Refused::new(
                        ConnectRefusal::Failed,
                        "the connection guard failed".to_owned(),
                    ));
                }
                Err(_elapsed) => {
                    return Err(Refused::new(
                        ConnectRefusal::Timeout,
                        format!(
                            "the connection guard did not answer within {:?}",
                            self.timeout
                        ),
                    ));
                }
            };
        }
        socket.extensions.insert(Admitted(Arc::new(admitted)));
        Ok(())
    }
}

/// The handshake request as a guard sees it.
fn handshake_request<A: Adapter>(socket: &Arc<Socket<A>>, auth: &ConnectAuth) -> GuardRequest {
    let parts = socket.req_parts();
    let mut req = http::Request::new(Body::empty());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    *req.extensions_mut() = parts.extensions.clone();
    if !req.headers().contains_key(AUTHORIZATION)
        && let Some(token) = auth.token().filter(|t| !t.is_empty())
        && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        req.headers_mut().insert(AUTHORIZATION, value);
    }
    req.extensions_mut().insert(auth.clone());
    req.extensions_mut()
        .insert(ConnectNamespace(socket.ns().to_owned()));
    req
}

//! Which requests are answered, and the response each one gets.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};

use super::{
    assets::{self, Asset},
    negotiate::{Encoding, choose_encoding, none_match},
};

/// The settings shared by a [`ClientBundleLayer`](super::ClientBundleLayer) and every
/// service it makes.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// The Socket.IO path without its trailing slash: `/socket.io`, or `` for `/`.
    prefix: Box<str>,
    pub(crate) cache_control: HeaderValue,
    pub(crate) enabled: bool,
}

impl Config {
    pub(crate) fn new() -> Self {
        Self {
            prefix: super::DEFAULT_PATH.into(),
            cache_control: HeaderValue::from_static(super::DEFAULT_CACHE_CONTROL),
            enabled: true,
        }
    }

    /// Accepts the path the way socketioxide's `req_path` is written (`/socket.io`,
    /// `/socket.io/`, `socket.io`) and keeps it as a prefix without trailing slash.
    pub(crate) fn set_path(&mut self, path: &str) {
        let trimmed = path.trim_matches('/');
        self.prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        }
        .into();
    }

    /// The response for `request`, or `None` when the request is not for a bundle file:
    /// not `GET`/`HEAD`, not under the path, or not exactly an allow-listed name. The path
    /// is compared raw (percent-encoding is not decoded), so `..`, `%2e%2e`, `%2f` or
    /// `socket.io%2ejs` can never name a file.
    pub(crate) fn respond<B>(&self, request: &Request<B>) -> Option<Response<Option<Bytes>>> {
        if !self.enabled {
            return None;
        }
        let head = match *request.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => return None,
        };
        let name = request
            .uri()
            .path()
            .strip_prefix(&*self.prefix)?
            .strip_prefix('/')?;
        let asset = assets::find(name)?;
        Some(self.response(asset, request.headers(), head))
    }

    fn response(
        &self,
        asset: &'static Asset,
        headers: &HeaderMap,
        head: bool,
    ) -> Response<Option<Bytes>> {
        let (encoding, encoded) =
            match choose_encoding(headers, asset.br.is_some(), asset.gzip.is_some()) {
                Encoding::Brotli => asset.br.as_ref().map(|e| (Encoding::Brotli, e)),
                Encoding::Gzip => asset.gzip.as_ref().map(|e| (Encoding::Gzip, e)),
                Encoding::Identity => None,
            }
            .unwrap_or((Encoding::Identity, &asset.identity));

        let mut response = Response::new(None);
        let out = response.headers_mut();
        // Sent on 200 and 304 alike (RFC 9110 §15.4.5): caches must key on the encoding and
        // revalidate against the representation's own tag.
        out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        out.insert(header::ETAG, HeaderValue::from_static(encoded.etag));
        out.insert(header::CACHE_CONTROL, self.cache_control.clone());

        if none_match(headers, encoded.etag) {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            tracing::trace!(file = asset.name, ?encoding, "client bundle: 304");
            return response;
        }

        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type()),
        );
        out.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(encoded.bytes.len()),
        );
        out.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Some(coding) = encoding.header_value() {
            out.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        if !head {
            *response.body_mut() = Some(Bytes::from_static(encoded.bytes));
        }
        tracing::trace!(file = asset.name, ?encoding, head, "client bundle: 200");
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(config: &Config, uri: &str) -> Option<Response<Option<Bytes>>> {
        config.respond(&Request::get(uri).body(()).expect("test request"))
    }

    #[test]
    fn path_forms_are_normalised() {
        for (path, uri) in [
            ("/socket.io", "/socket.io/socket.io.js"),
            ("/socket.io/", "/socket.io/socket.io.js"),
            ("socket.io", "/socket.io/socket.io.js"),
            ("/custom/nested", "/custom/nested/socket.io.js"),
            ("/", "/socket.io.js"),
            ("", "/socket.io.js"),
        ] {
            let mut config = Config::new();
            config.set_path(path);
            assert!(get(&config, uri).is_some(), "{path:?} should serve {uri}");
        }
    }

    #[test]
    fn only_exact_names_under_the_path() {
        let config = Config::new();
        assert!(get(&config, "/socket.io/socket.io.min.js?v=1").is_some());
        for uri in [
            "/socket.io.js",
            "/socket.io/",
            "/socket.io/socket.io.esm.js",
            "/socket.io//socket.io.js",
            "/socket.io/./socket.io.js",
            "/socket.io/../socket.io/socket.io.js",
            "/socket.io/%2e%2e/socket.io/socket.io.js",
            "/socket.io%2fsocket.io.js",
            "/socket.io/socket.io%2ejs",
            "/socket.iox/socket.io.js",
            "/other/socket.io/socket.io.js",
        ] {
            assert!(get(&config, uri).is_none(), "{uri} must not be served");
        }
    }

    #[test]
    fn disabled_serves_nothing_and_other_methods_pass() {
        let mut config = Config::new();
        config.enabled = false;
        assert!(get(&config, "/socket.io/socket.io.js").is_none());
        let config = Config::new();
        let post = Request::post("/socket.io/socket.io.js")
            .body(())
            .expect("test request");
        assert!(config.respond(&post).is_none());
    }
}

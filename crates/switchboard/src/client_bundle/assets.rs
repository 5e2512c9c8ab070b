//! The files, as `build.rs` prepared them: one [`Asset`] per allow-listed name, each with its
//! bytes as shipped and, where they are smaller, precompressed brotli and gzip copies.

/// One representation of a file: its bytes and its strong ETag (quotes included).
#[derive(Debug)]
pub(crate) struct Encoded {
    pub(crate) bytes: &'static [u8],
    pub(crate) etag: &'static str,
}

/// A served file.
#[derive(Debug)]
pub(crate) struct Asset {
    /// The file name under the Socket.IO path, e.g. `socket.io.min.js`.
    pub(crate) name: &'static str,
    pub(crate) identity: Encoded,
    pub(crate) br: Option<Encoded>,
    pub(crate) gzip: Option<Encoded>,
}

impl Asset {
    /// Source maps are JSON; everything else is a script.
    pub(crate) fn content_type(&self) -> &'static str {
        if self.name.ends_with(".map") {
            "application/json; charset=utf-8"
        } else {
            "application/javascript; charset=utf-8"
        }
    }
}

// Defines `CLIENT_VERSION` and `ASSETS`.
include!(concat!(env!("OUT_DIR"), "/client-bundle/assets.rs"));

/// The asset named exactly `name` (a raw, undecoded path segment), if it is allow-listed.
pub(crate) fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_dist_files_are_listed() {
        let mut names: Vec<_> = ASSETS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "socket.io.esm.min.js",
                "socket.io.esm.min.js.map",
                "socket.io.js",
                "socket.io.js.map",
                "socket.io.min.js",
                "socket.io.min.js.map",
                "socket.io.msgpack.min.js",
                "socket.io.msgpack.min.js.map",
            ]
        );
    }

    #[test]
    fn every_representation_has_a_distinct_strong_etag_naming_the_version() {
        let mut seen = std::collections::HashSet::new();
        for asset in &ASSETS {
            let reprs = [
                Some(&asset.identity),
                asset.br.as_ref(),
                asset.gzip.as_ref(),
            ];
            for encoded in reprs.into_iter().flatten() {
                assert!(
                    encoded.etag.starts_with(&format!("\"{CLIENT_VERSION}-")),
                    "{}",
                    encoded.etag
                );
                assert!(encoded.etag.ends_with('"') && !encoded.etag.starts_with("W/"));
                assert!(seen.insert(encoded.etag), "duplicate ETag {}", encoded.etag);
            }
        }
    }

    #[test]
    fn compressed_copies_exist_and_are_smaller() {
        for asset in &ASSETS {
            let original = asset.identity.bytes.len();
            assert!(original > 1000, "{} is suspiciously small", asset.name);
            for encoded in [&asset.br, &asset.gzip] {
                let encoded = encoded.as_ref().expect("JS and JSON always compress");
                assert!(encoded.bytes.len() < original);
            }
        }
    }

    #[test]
    fn lookup_is_exact() {
        assert!(find("socket.io.js").is_some());
        for name in [
            "socket.io.esm.js",
            "Socket.io.js",
            "socket.io.js/",
            "",
            "./socket.io.js",
        ] {
            assert!(find(name).is_none(), "{name}");
        }
        assert_eq!(
            find("socket.io.min.js.map").map(Asset::content_type),
            Some("application/json; charset=utf-8")
        );
    }
}

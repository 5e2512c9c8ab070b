//! Build step of the `client-bundle` feature.
//!
//! 1. Read the pin (`client-bundle.toml`: the `socket.io-client` version and the sha512
//!    integrity the npm registry publishes for its tarball).
//! 2. Obtain that tarball ([`source::obtain`]) and verify it against the pin: an explicit
//!    path in `SWITCHBOARD_CLIENT_TARBALL`, a cached copy, or `npm pack`.
//! 3. Extract exactly the allow-listed `dist/` files ([`FILES`]), in memory.
//! 4. Precompress them and write them plus `assets.rs` (the table that
//!    `src/client_bundle/assets.rs` includes) into `$OUT_DIR/client-bundle/`
//!    ([`generate::write`]).

mod generate;
mod source;

use std::{
    env, fs,
    io::Read,
    path::{Component, Path, PathBuf},
};

use base64::Engine as _;
use flate2::read::GzDecoder;

/// The npm package whose `dist/` files are served.
const PACKAGE: &str = "socket.io-client";

/// The file (next to `Cargo.toml`) that pins the version and its integrity.
const PIN_FILE: &str = "client-bundle.toml";

/// The `dist/` files of `socket.io-client` that are served, and nothing else.
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

/// A `dist/` file bigger than this is refused: the real ones are a few hundred KiB, so a
/// bigger one means the pin points at something unexpected.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Runs the whole step; the error is the message shown to the person building.
pub(crate) fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(required_env("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(required_env("OUT_DIR")?).join("client-bundle");
    let pin_path = manifest_dir.join(PIN_FILE);

    println!("cargo::rerun-if-changed={}", pin_path.display());
    for var in [source::TARBALL_ENV, source::CACHE_DIR_ENV, "DOCS_RS"] {
        println!("cargo::rerun-if-env-changed={var}");
    }

    let pin = Pin::load(&pin_path)?;
    fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;

    if env::var_os("DOCS_RS").is_some() {
        // docs.rs builds without network or npm; the docs do not need the bytes.
        println!("cargo::warning=DOCS_RS is set: the client bundle is replaced by empty files");
        return generate::write_placeholder(&pin.version, &out_dir);
    }

    let tarball = source::obtain(&pin, &out_dir)?;
    let files = extract(&tarball).map_err(|e| {
        format!(
            "{PACKAGE}@{} (verified) does not have the expected layout: {e}. \
             Check that the pinned version still ships the files {FILES:?} in dist/.",
            pin.version
        )
    })?;
    generate::write(&pin.version, &files, &out_dir)
}

fn required_env(name: &str) -> Result<String, String> {
    env::var(name).map_err(|e| format!("cargo did not set {name} for the build script: {e}"))
}

/// The pinned version and the sha512 digest its tarball must have.
pub(crate) struct Pin {
    pub(crate) version: String,
    /// The integrity string as written, `sha512-<base64>`, for messages.
    pub(crate) integrity: String,
    pub(crate) sha512: Vec<u8>,
}

impl Pin {
    /// Reads `key = "value"` lines; `#` starts a comment line. Anything else is an error, so
    /// a typo cannot silently leave the old pin in force.
    fn load(path: &Path) -> Result<Self, String> {
        let text = fs::read_to_string(path)
            .map_err(|e| format!("cannot read the client pin {}: {e}", path.display()))?;
        let (mut version, mut integrity) = (None, None);
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || {
                format!(
                    "{}:{}: expected `key = \"value\"`",
                    path.display(),
                    index + 1
                )
            };
            let (key, value) = line.split_once('=').ok_or_else(bad)?;
            let value = value
                .trim()
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .filter(|v| !v.contains('"'))
                .ok_or_else(bad)?;
            match key.trim() {
                "version" => version = Some(value.to_owned()),
                "integrity" => integrity = Some(value.to_owned()),
                other => {
                    return Err(format!(
                        "{}:{}: unknown key `{other}` (only `version` and `integrity`)",
                        path.display(),
                        index + 1
                    ));
                }
            }
        }
        let missing = |key| format!("{}: `{key}` is missing", path.display());
        let version = version.ok_or_else(|| missing("version"))?;
        let integrity = integrity.ok_or_else(|| missing("integrity"))?;
        if version.is_empty()
            || !version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        {
            return Err(format!(
                "{}: `version` {version:?} is not an exact version",
                path.display()
            ));
        }
        let sha512 = integrity
            .strip_prefix("sha512-")
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .filter(|digest| digest.len() == 64)
            .ok_or_else(|| {
                format!(
                    "{}: `integrity` must be the registry's `sha512-<base64>` value, as printed by \
                     `npm view {PACKAGE}@{version} dist.integrity`",
                    path.display()
                )
            })?;
        Ok(Self {
            version,
            integrity,
            sha512,
        })
    }

    /// `socket.io-client@4.8.4`, as npm spells a package spec.
    pub(crate) fn spec(&self) -> String {
        format!("{PACKAGE}@{}", self.version)
    }
}

/// Reads the allow-listed files out of the gzipped tarball, in [`FILES`] order. Entries are
/// matched by exact path (`<top>/dist/<name>`) and never written to disk by their own name.
fn extract(tarball: &[u8]) -> Result<Vec<(&'static str, Vec<u8>)>, String> {
    let mut found: Vec<Option<Vec<u8>>> = vec![None; FILES.len()];
    let mut archive = tar::Archive::new(GzDecoder::new(tarball));
    let entries = archive
        .entries()
        .map_err(|e| format!("not a gzipped tarball: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("unreadable tar entry: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| format!("bad tar path: {e}"))?
            .into_owned();
        let Some(index) = dist_file_index(&path) else {
            continue;
        };
        if entry.size() > MAX_FILE_BYTES {
            return Err(format!(
                "{} is {} bytes, over the limit",
                path.display(),
                entry.size()
            ));
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        found[index] = Some(bytes);
    }
    FILES
        .iter()
        .zip(found)
        .map(|(name, bytes)| {
            bytes
                .map(|b| (*name, b))
                .ok_or_else(|| format!("dist/{name} is missing"))
        })
        .collect()
}

/// `package/dist/socket.io.js` → index of `socket.io.js` in [`FILES`].
fn dist_file_index(path: &Path) -> Option<usize> {
    let mut components = path.components();
    let (
        Some(Component::Normal(_)),
        Some(Component::Normal(dist)),
        Some(Component::Normal(name)),
        None,
    ) = (
        components.next(),
        components.next(),
        components.next(),
        components.next(),
    )
    else {
        return None;
    };
    if dist != "dist" {
        return None;
    }
    FILES.iter().position(|file| name == *file)
}

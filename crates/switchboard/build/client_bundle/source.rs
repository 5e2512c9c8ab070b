//! Where the `socket.io-client` tarball comes from, tried in this order:
//!
//! 1. `SWITCHBOARD_CLIENT_TARBALL`: a path to the `.tgz` (offline builds, vendored CI).
//!    When set it is the only source: a wrong file is an error, not a reason to go online.
//! 2. The cache: `$SWITCHBOARD_CLIENT_CACHE_DIR`, else `$XDG_CACHE_HOME/switchboard`, else
//!    `$HOME/.cache/switchboard` (`%LOCALAPPDATA%\switchboard` on Windows), file
//!    `socket.io-client-<version>.tgz`. A copy that fails verification is ignored.
//! 3. `npm pack socket.io-client@<version> --prefer-offline` in a directory under `OUT_DIR`.
//!    npm uses its own registry configuration and cache, so this also works offline once npm
//!    has fetched the tarball. The result is stored in the cache for the next build.
//!
//! Every candidate is checked against the pinned sha512 before it is used.

use std::{
    env, fs, io,
    path::{Path, PathBuf},
    process::Command,
};

use base64::Engine as _;
use sha2::{Digest, Sha512};

use super::{PACKAGE, PIN_FILE, Pin};

/// Path to a tarball to use instead of the cache or npm.
pub(crate) const TARBALL_ENV: &str = "SWITCHBOARD_CLIENT_TARBALL";
/// Overrides the cache directory.
pub(crate) const CACHE_DIR_ENV: &str = "SWITCHBOARD_CLIENT_CACHE_DIR";

/// Returns the verified tarball, or a message listing what was tried and what to do.
pub(crate) fn obtain(pin: &Pin, out_dir: &Path) -> Result<Vec<u8>, String> {
    if let Some(path) = env::var_os(TARBALL_ENV) {
        let path = PathBuf::from(path);
        println!("cargo::rerun-if-changed={}", path.display());
        let bytes = fs::read(&path)
            .map_err(|e| format!("{TARBALL_ENV}={}: cannot read it: {e}", path.display()))?;
        verify(pin, &bytes).map_err(|e| {
            format!(
                "{TARBALL_ENV}={} is not {}: {e}. Point it at the tarball that \
                 `npm pack {}` produces, or unset it.",
                path.display(),
                pin.spec(),
                pin.spec()
            )
        })?;
        return Ok(bytes);
    }

    let mut tried = vec![format!("{TARBALL_ENV}: not set")];
    let cache = cache_file(pin);
    match &cache {
        Some(file) => match fs::read(file) {
            Ok(bytes) => match verify(pin, &bytes) {
                Ok(()) => return Ok(bytes),
                Err(e) => {
                    println!("cargo::warning=ignoring the cached {}: {e}", file.display());
                    tried.push(format!("cache {}: {e}", file.display()));
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tried.push(format!("cache {}: not there yet", file.display()));
            }
            Err(e) => tried.push(format!("cache {}: {e}", file.display())),
        },
        None => tried.push(format!(
            "cache: no cache directory (none of {CACHE_DIR_ENV}, XDG_CACHE_HOME, HOME is set)"
        )),
    }

    match npm_pack(pin, &out_dir.join("npm-pack")) {
        Ok(bytes) => {
            // A registry or npm cache that hands out other bytes than the pin is a
            // supply-chain signal: stop, do not fall back to anything.
            verify(pin, &bytes).map_err(|e| {
                format!(
                    "`npm pack {}` returned a tarball that fails verification: {e}",
                    pin.spec()
                )
            })?;
            if let Some(file) = &cache
                && let Err(e) = store(file, &bytes)
            {
                println!("cargo::warning=could not cache {}: {e}", file.display());
            }
            Ok(bytes)
        }
        Err(e) => {
            tried.push(format!("`npm pack {}`: {e}", pin.spec()));
            Err(help(pin, &tried))
        }
    }
}

/// Checks the tarball against the pinned sha512 (npm's `dist.integrity`).
fn verify(pin: &Pin, bytes: &[u8]) -> Result<(), String> {
    let digest = Sha512::digest(bytes);
    if digest.as_slice() == pin.sha512.as_slice() {
        Ok(())
    } else {
        Err(format!(
            "integrity mismatch: {PIN_FILE} pins {}, the file has sha512-{}",
            pin.integrity,
            base64::engine::general_purpose::STANDARD.encode(digest.as_slice())
        ))
    }
}

fn cache_file(pin: &Pin) -> Option<PathBuf> {
    let var = |name: &str| {
        env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = var(CACHE_DIR_ENV)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("switchboard")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("switchboard")))
        .or_else(|| var("LOCALAPPDATA").map(|d| d.join("switchboard")))?;
    Some(dir.join(format!("{PACKAGE}-{}.tgz", pin.version)))
}

/// Writes through a temporary name and renames, so a concurrent build never reads half a file.
fn store(file: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir)?;
    }
    let partial = file.with_extension(format!("tgz.partial-{}", std::process::id()));
    fs::write(&partial, bytes)?;
    fs::rename(&partial, file).inspect_err(|_| {
        let _ = fs::remove_file(&partial);
    })
}

fn npm_pack(pin: &Pin, dir: &Path) -> Result<Vec<u8>, String> {
    // Start from an empty directory so the tarball found afterwards is the one npm just wrote.
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let output = Command::new(npm)
        .args(["pack", &pin.spec(), "--prefer-offline", "--ignore-scripts"])
        // Errors only, and give up within seconds rather than a minute when offline.
        .args([
            "--loglevel=error",
            "--fetch-retries=1",
            "--fetch-retry-mintimeout=2000",
        ])
        .arg("--fetch-retry-maxtimeout=10000")
        .arg("--pack-destination")
        .arg(dir)
        .current_dir(dir)
        .env("NPM_CONFIG_UPDATE_NOTIFIER", "false")
        .output()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => "npm is not installed (not found on PATH)".to_owned(),
            _ => format!("cannot run npm: {e}"),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "npm failed ({}):\n      {}",
            output.status,
            tail.join("\n      ")
        ));
    }
    let file = dir.join(format!("{PACKAGE}-{}.tgz", pin.version));
    let bytes = fs::read(&file)
        .map_err(|e| format!("npm succeeded but {} is unreadable: {e}", file.display()));
    let _ = fs::remove_dir_all(dir);
    bytes
}

fn help(pin: &Pin, tried: &[String]) -> String {
    let spec = pin.spec();
    let version = &pin.version;
    let mut message = format!(
        "switchboard could not obtain the socket.io JavaScript client ({spec}), which the \
         `client-bundle` feature serves at /socket.io/socket.io.js.\n\nTried, in order:\n"
    );
    for (index, attempt) in tried.iter().enumerate() {
        message.push_str(&format!("  {}. {attempt}\n", index + 1));
    }
    message.push_str(&format!(
        "\nDo one of these, then build again:\n\
         \x20 - make `npm` available with access to the npm registry once; the tarball is then \
         cached and later builds work offline;\n\
         \x20 - get the tarball another way (`npm pack {spec}` on a machine with npm, or the URL \
         that `npm view {spec} dist.tarball` prints), copy it to this machine and set \
         {TARBALL_ENV}=/path/to/{PACKAGE}-{version}.tgz;\n\
         \x20 - or turn client serving off: depend on switchboard with \
         `default-features = false` (and re-enable the other default features you use).\n\
         The tarball must match {PIN_FILE}: {}\n",
        pin.integrity
    ));
    message
}

//! Build script of `switchboard`.
//!
//! With the `client-bundle` feature (on by default) it obtains the official socket.io
//! JavaScript client at the version pinned in `client-bundle.toml`, verifies it, and writes
//! the files and their precompressed forms into `OUT_DIR` (see `build/client_bundle/`).
//! Without the feature it does nothing: the module is compiled out of the build script too,
//! so its build-dependencies (which are optional and enabled by the feature) are not needed.

#[cfg(feature = "client-bundle")]
#[path = "build/client_bundle/mod.rs"]
mod client_bundle;

fn main() {
    // Only rerun when an input we name changes, not on every edit in the package.
    println!("cargo::rerun-if-changed=build.rs");

    #[cfg(feature = "client-bundle")]
    if let Err(message) = client_bundle::run() {
        // Cargo shows a failing build script's stderr under "--- stderr"; the message says
        // what to do next, a panic backtrace would only hide it.
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

//! Shared fixture for the end-to-end tests: real servers driven by real clients.
//!
//! The clients are the official JavaScript ones, run by Node from `integration-tests/js/`
//! (versions pinned in its `package-lock.json`). A scenario script there connects to a server,
//! does one thing (greet, chat, reconnect, …) and prints what it observed as one JSON object;
//! the Rust tests assert on that object. So the JavaScript side only observes and the
//! expectations live next to the Rust code they are about.
//!
//! - [`ensure_node_modules`] installs the pinned JavaScript dependencies (`npm ci`) if needed.
//! - [`run_scenario`] / [`run_scenario_async`] run one scenario and return its observations.
//! - [`run_script`] runs another script of the same shape (`metrics.mjs`, …).
//! - [`SeedChat`] runs the `seed-chat` example binary on a free port for one test;
//!   [`SeedChat::spawn_binary`] with [`package_binary`] runs another example the same way.
//! - [`run_browser`] opens a page in headless Chromium (`js/browser.mjs`, driven by
//!   `playwright-core`) and returns its observations; [`chromium_path`] finds the browser and
//!   [`test_output_dir`] gives each test a folder for screenshots.
//!
//! Requirements: `node` (20 or newer) and `npm` on `PATH`, or their paths in the `NODE` and
//! `NPM` environment variables; for the browser tests also Chromium (`CHROMIUM_PATH`, default
//! `/usr/bin/chromium`). `scripts/test` checks for them, installs what it can and installs the
//! modules up front; the fixture does it again only when they are missing or stale.
//!
//! ```no_run
//! use integration_tests::{run_scenario, SeedChat};
//!
//! let server = SeedChat::spawn(&[]);
//! let observed = run_scenario("greetings", &server.base_url(), &["--transports", "polling"]);
//! assert_eq!(observed["transport"], "polling");
//! ```

pub mod cluster;
pub mod inprocess;
pub mod redis;

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long one scenario may run before the fixture kills it. The scenario enforces its own,
/// shorter deadline (`--deadline`, 30 s by default); this one only catches a hung `node`.
pub const SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`SeedChat::spawn`] waits for the server to accept TCP connections.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`run_browser`] lets `js/browser.mjs` run before the fixture kills it. The script
/// enforces its own, shorter deadline (60 s); this one only catches a hung `node`.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration-tests lives inside the workspace")
        .to_path_buf()
}

/// The directory of the JavaScript side: `package.json`, the lock file and the scenarios.
pub fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

fn node() -> String {
    std::env::var("NODE").unwrap_or_else(|_| "node".to_owned())
}

fn npm() -> String {
    std::env::var("NPM").unwrap_or_else(|_| "npm".to_owned())
}

/// Makes sure `integration-tests/js/node_modules` holds exactly what `package-lock.json`
/// pins, running `npm ci` if a package is missing or has another version.
///
/// Runs at most once per process; later calls return at once. Panics with a message naming
/// `node` or `npm` when they are not installed, and with npm's output when `npm ci` fails.
/// Concurrent test *processes* (e.g. under nextest) should have the modules installed up
/// front, as `scripts/test` does, since two `npm ci` in one directory would race.
pub fn ensure_node_modules() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        check_tool(&node(), "node", "Node.js 20 or newer");
        let dir = js_dir();
        if let Some(stale) = stale_module(&dir) {
            check_tool(&npm(), "npm", "npm (it ships with Node.js)");
            eprintln!(
                "integration-tests: {stale}; running `npm ci` in {}",
                dir.display()
            );
            let output = Command::new(npm())
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("could not run `npm ci` in {}: {e}", dir.display()));
            assert!(
                output.status.success(),
                "`npm ci` failed in {} ({}):\n{}",
                dir.display(),
                output.status,
                describe_output(&output)
            );
            if let Some(stale) = stale_module(&dir) {
                panic!("`npm ci` succeeded but node_modules is still stale: {stale}");
            }
        }
    });
}

fn check_tool(program: &str, name: &str, what: &str) {
    match Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{program} --version` failed ({}); the end-to-end tests need {what} as `{name}` on \
             PATH (or set {})",
            out.status,
            name.to_uppercase()
        ),
        Err(e) => panic!(
            "the end-to-end tests need {what}, but `{program}` could not be run ({e}); install \
             it (Debian: `apt-get install nodejs npm`) or set {} to its path",
            name.to_uppercase()
        ),
    }
}

/// Returns why `node_modules` does not match the lock file, or `None` if it does.
fn stale_module(dir: &Path) -> Option<String> {
    let lock_path = dir.join("package-lock.json");
    let lock = fs::read_to_string(&lock_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", lock_path.display()));
    let lock: Value = serde_json::from_str(&lock)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", lock_path.display()));
    let packages = lock["packages"].as_object().unwrap_or_else(|| {
        panic!(
            "{} has no `packages` (lockfileVersion 3)",
            lock_path.display()
        )
    });
    for (path, entry) in packages {
        if path.is_empty() || entry["optional"] == true || entry["dev"] == true {
            continue;
        }
        let Some(want) = entry["version"].as_str() else {
            continue;
        };
        let manifest = dir.join(path).join("package.json");
        let have = fs::read_to_string(&manifest)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|v| v["version"].as_str().map(str::to_owned));
        match have {
            Some(have) if have == want => {}
            Some(have) => return Some(format!("{path} is {have}, the lock file pins {want}")),
            None => return Some(format!("{path} is not installed")),
        }
    }
    None
}

/// Runs `node js/scenario.mjs <name> <base_url> <extra_args...>` and returns the JSON object
/// it prints on its last line of stdout.
///
/// `extra_args` are the scenario's flags, e.g. `["--transports", "websocket", "--ns",
/// "/chat"]` (see the header of `js/scenario.mjs`). Installs the JavaScript dependencies
/// first if needed. Panics, with the scenario's stdout and stderr, if it exits with an error,
/// prints no JSON, or runs longer than [`SCENARIO_TIMEOUT`].
///
/// Blocks the calling thread: from async code use [`run_scenario_async`].
pub fn run_scenario(name: &str, base_url: &str, extra_args: &[&str]) -> Value {
    run_script("scenario.mjs", name, base_url, extra_args)
}

/// Like [`run_scenario`], for another script of `integration-tests/js/` that follows the same
/// contract (`node <script> <name> <base_url> <flags…>`, one JSON object on the last line of
/// stdout), e.g. `metrics.mjs`.
pub fn run_script(script: &str, name: &str, base_url: &str, extra_args: &[&str]) -> Value {
    ensure_node_modules();
    let mut cmd = script_command(script, name, base_url, extra_args);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start `{}`: {e}", node()));
    let output = wait_with_timeout(child, SCENARIO_TIMEOUT);
    parse_scenario_output(name, base_url, extra_args, output)
}

/// Async version of [`run_scenario`], for tests that run their server in-process on a tokio
/// runtime: waiting for `node` does not block a runtime thread.
pub async fn run_scenario_async(name: &str, base_url: &str, extra_args: &[&str]) -> Value {
    let mut args = vec![name, base_url];
    args.extend_from_slice(extra_args);
    run_node_async("scenario.mjs", &args, SCENARIO_TIMEOUT).await
}

/// Runs `node <script> <args…>` in `integration-tests/js/` (installing the JavaScript
/// dependencies first if needed) and returns the JSON object it printed on its last line of
/// stdout. Panics, with its stdout and stderr, if it fails, prints no JSON object, or runs
/// longer than `timeout` (it is then killed). Waiting does not block a runtime thread.
pub async fn run_node_async(script: &str, args: &[&str], timeout: Duration) -> Value {
    // Installing is a one-time, blocking step; keep it off the runtime's threads.
    tokio::task::spawn_blocking(ensure_node_modules)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let what = format!("{script} {args:?}");
    let mut cmd = tokio::process::Command::new(node());
    cmd.arg(script)
        .args(args)
        .current_dir(js_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("could not start `{}`: {e}", node()));
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} ran longer than {timeout:?} and was killed"))
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
    if !output.status.success() {
        panic!(
            "{what} failed ({})\n{}",
            output.status,
            describe_output(&output)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
    match last.map(serde_json::from_str::<Value>) {
        Some(Ok(value)) if value.is_object() => value,
        _ => panic!(
            "{what} did not print a JSON object on its last line\n{}",
            describe_output(&output)
        ),
    }
}

fn script_command(script: &str, name: &str, base_url: &str, extra_args: &[&str]) -> Command {
    let mut cmd = Command::new(node());
    cmd.arg(script)
        .arg(name)
        .arg(base_url)
        .args(extra_args)
        .current_dir(js_dir());
    cmd
}

fn parse_scenario_output(
    name: &str,
    base_url: &str,
    extra_args: &[&str],
    output: Result<Output, Output>,
) -> Value {
    let what = format!("scenario {name} against {base_url} {extra_args:?}");
    let output = match output {
        Ok(output) => output,
        Err(output) => panic!(
            "{what} ran longer than {SCENARIO_TIMEOUT:?} and was killed\n{}",
            describe_output(&output)
        ),
    };
    if !output.status.success() {
        panic!(
            "{what} failed ({})\n{}",
            output.status,
            describe_output(&output)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
    match last.map(serde_json::from_str::<Value>) {
        Some(Ok(value)) if value.is_object() => value,
        _ => panic!(
            "{what} did not print a JSON object on its last line\n{}",
            describe_output(&output)
        ),
    }
}

/// Waits for `child`, collecting its output; kills it after `timeout`.
/// `Err` carries what it printed before it was killed.
fn wait_with_timeout(mut child: Child, timeout: Duration) -> Result<Output, Output> {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let (status, timed_out) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (status, false),
            Ok(None) if Instant::now() >= deadline => {
                // The process may exit between try_wait and kill; either way it is gone after.
                let _ = child.kill();
                break (child.wait().expect("waiting for a killed child"), true);
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for a child process: {e}"),
        }
    };
    let output = Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    if timed_out { Err(output) } else { Ok(output) }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error only truncates diagnostics.
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

fn describe_output(output: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout).trim_end(),
        String::from_utf8_lossy(&output.stderr).trim_end()
    )
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// The port is released before returning, so another process could take it in between; on
/// a test machine that race is rare enough, and [`SeedChat::spawn`] fails loudly if it hits.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 to find a free port")
}

/// The `seed-chat` example server, running as a child process on its own port.
///
/// Killed when dropped. If the test is panicking at that moment, the server's log is printed
/// to stderr, so a failing test shows what the server saw.
pub struct SeedChat {
    child: Child,
    port: u16,
    log_path: PathBuf,
}

impl SeedChat {
    /// Builds `seed-chat` (once per process, a no-op when it is up to date), starts it on a
    /// free port with `PORT` set, plus the extra environment `env` (e.g.
    /// `[("RUST_LOG", "debug")]`), and waits until the port accepts connections.
    ///
    /// Set `SEED_CHAT_BIN` to use a prebuilt binary instead of building one. Panics (and
    /// prints the server's log) if it exits or does not listen within [`STARTUP_TIMEOUT`].
    pub fn spawn(env: &[(&str, &str)]) -> SeedChat {
        Self::spawn_binary(&seed_chat_binary(), env)
    }

    /// Like [`spawn`](Self::spawn), for another server binary that reads `PORT` the same way
    /// (e.g. `env!("CARGO_BIN_EXE_rooms-server")`).
    pub fn spawn_binary(binary: &Path, env: &[(&str, &str)]) -> SeedChat {
        let binary = binary.to_path_buf();
        let port = free_port();
        let log_path = std::env::temp_dir().join(format!(
            "switchboard-seed-chat-{}-{port}.log",
            std::process::id()
        ));
        let log = fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let log_err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone the log file handle: {e}"));
        let child = Command::new(&binary)
            .env("PORT", port.to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", binary.display()));
        let mut server = SeedChat {
            child,
            port,
            log_path,
        };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&mut self) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.exit_status() {
                // Dropping `self` while panicking prints the server's log.
                panic!("seed-chat exited ({status}) before listening on {addr}");
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if Instant::now() >= deadline {
                panic!("seed-chat did not listen on {addr} within {STARTUP_TIMEOUT:?}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash: what the scenarios take.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_else(|e| format!("<log unreadable: {e}>"))
    }

    /// The exit status if the server has exited, `None` while it runs.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for SeedChat {
    fn drop(&mut self) {
        // Already exited is fine: the point is that it is not running after the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- seed-chat log ({}) ---\n{}",
                self.base_url(),
                self.log().trim_end()
            );
        }
        let _ = fs::remove_file(&self.log_path);
    }
}

/// Path of the `seed-chat` binary, built with the profile of the running test binary.
///
/// `env!("CARGO_BIN_EXE_seed-chat")` exists only inside the `seed-chat` package, so the
/// binary is found next to this test binary instead: tests run from
/// `<target>/<profile>/deps/`, and cargo puts the package binaries in `<target>/<profile>/`.
/// That follows `CARGO_TARGET_DIR`, `--target-dir` and `--release` without parsing them.
pub fn seed_chat_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| match std::env::var_os("SEED_CHAT_BIN") {
            Some(path) => {
                let path = PathBuf::from(path);
                assert!(
                    path.is_file(),
                    "SEED_CHAT_BIN={} is not a file",
                    path.display()
                );
                path
            }
            None => package_binary("seed-chat"),
        })
        .clone()
}

/// Path of the binary named like workspace package `package` (an example such as
/// `prometheus-example`), built like [`seed_chat_binary`] (once per package and process, with
/// the profile of the running test binary).
pub fn package_binary(package: &str) -> PathBuf {
    // Serializes the builds (and remembers them) when several tests of one binary ask at once.
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(p, _)| p == package) {
        return path.clone();
    }
    let profile_dir = profile_dir();
    build_package(&profile_dir, package);
    let path = profile_dir.join(format!("{package}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "`cargo build -p {package}` succeeded but {} does not exist",
        path.display()
    );
    built.push((package.to_owned(), path.clone()));
    path
}

/// `<target>/<profile>` of the running test binary.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test binary");
    let deps = exe
        .parent()
        .expect("the test binary has a parent directory");
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent()
            .expect("deps/ has a parent directory")
            .to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

fn build_package(profile_dir: &Path, package: &str) {
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(other) => other.to_owned(),
        None => panic!("unexpected target directory {}", profile_dir.display()),
    };
    let mut target_dir = profile_dir
        .parent()
        .expect("the profile directory has a parent")
        .to_path_buf();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cmd.args([
        "build",
        "-p",
        package,
        "--bin",
        package,
        "--profile",
        &profile,
    ]);
    // With `--target <triple>` the layout is `<target>/<triple>/<profile>`.
    if let Some(triple) = target_triple_dir(&target_dir) {
        cmd.args(["--target", &triple]);
        target_dir = target_dir
            .parent()
            .expect("the triple directory has a parent")
            .to_path_buf();
    }
    let status = cmd
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("could not run `cargo build -p {package}`: {e}"));
    assert!(
        status.success(),
        "`cargo build -p {package}` failed ({status}); see its output above"
    );
}

/// The target triple if `dir` is `<target>/<triple>` rather than `<target>` itself.
fn target_triple_dir(dir: &Path) -> Option<String> {
    // A target directory has a CACHEDIR.TAG; a per-triple directory below it does not.
    if dir.join("CACHEDIR.TAG").exists() {
        return None;
    }
    let parent = dir.parent()?;
    parent
        .join("CACHEDIR.TAG")
        .exists()
        .then(|| dir.file_name()?.to_str().map(str::to_owned))
        .flatten()
}

/// The headless Chromium the browser tests drive: `CHROMIUM_PATH` if set, else
/// `/usr/bin/chromium` (Debian's `chromium` package).
///
/// Panics, naming chromium and how to install it, when that file does not exist: a missing
/// browser fails the browser tests, it never skips them. `scripts/test` installs Chromium when
/// run as root and exports `CHROMIUM_PATH`.
pub fn chromium_path() -> PathBuf {
    let (path, origin) = match std::env::var_os("CHROMIUM_PATH") {
        Some(path) if !path.is_empty() => (PathBuf::from(path), "CHROMIUM_PATH"),
        _ => (PathBuf::from("/usr/bin/chromium"), "the default path"),
    };
    assert!(
        path.is_file(),
        "the browser tests need headless Chromium, but there is no chromium at {} ({origin}). \
         Install it with `apt-get install -y chromium` (Debian/Ubuntu, as root; \
         `./scripts/test` does this for you), or set CHROMIUM_PATH to a Chromium or Chrome \
         executable",
        path.display()
    );
    path
}

/// `integration-tests/output/<test_name>/`, created empty: where a test leaves screenshots
/// and other artifacts for a human to look at (git ignores `integration-tests/output/`).
///
/// Whatever an earlier run left there is removed first, so a file found after the test was
/// written by this run.
pub fn test_output_dir(test_name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("output")
        .join(test_name);
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot empty {}: {e}", dir.display()),
    }
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Runs `node js/browser.mjs <base_url> <output_dir>`: headless Chromium opens the
/// `seed-chat` page at `base_url`, connects, chats, saves `seed-chat.png` in `output_dir`, and
/// the JSON object the script prints on its last line of stdout is returned (see the header
/// of `js/browser.mjs` for what it holds).
///
/// Checks for Chromium first ([`chromium_path`]) and passes it on as `CHROMIUM_PATH`; installs
/// the JavaScript dependencies if needed. Panics, with the script's stdout (the partial
/// observations) and stderr (why it stopped), if it exits with an error, prints no JSON, or
/// runs longer than [`BROWSER_TIMEOUT`].
pub fn run_browser(base_url: &str, output_dir: &Path) -> Value {
    let chromium = chromium_path();
    ensure_node_modules();
    let child = Command::new(node())
        .arg("browser.mjs")
        .arg(base_url)
        .arg(output_dir)
        .env("CHROMIUM_PATH", &chromium)
        .current_dir(js_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start `{}`: {e}", node()));
    let what = format!(
        "browser.mjs against {base_url} (chromium: {})",
        chromium.display()
    );
    let output = wait_with_timeout(child, BROWSER_TIMEOUT).unwrap_or_else(|output| {
        panic!(
            "{what} ran longer than {BROWSER_TIMEOUT:?} and was killed\n{}",
            describe_output(&output)
        )
    });
    assert!(
        output.status.success(),
        "{what} failed ({})\n{}",
        output.status,
        describe_output(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
    match last.map(serde_json::from_str::<Value>) {
        Some(Ok(value)) if value.is_object() => value,
        _ => panic!(
            "{what} did not print a JSON object on its last line\n{}",
            describe_output(&output)
        ),
    }
}

//! A `redis-server` of the test's own, on a free port, killed when dropped.
//!
//! The binary is `$REDIS_SERVER`, or `redis-server` on `PATH` (`scripts/test` installs it and
//! exports `REDIS_SERVER`). A machine without it fails the test with a message saying so: the
//! Redis tests are never skipped. Each server persists nothing (`--save "" --appendonly no`)
//! and can be stopped and started again on the same port, for fault tests.
//!
//! ```no_run
//! use integration_tests::redis::RedisServer;
//!
//! let mut redis = RedisServer::start();
//! let url = redis.url(); // redis://127.0.0.1:<port>
//! redis.stop();
//! redis.restart();
//! ```
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::free_port;

/// How long [`RedisServer::start`] waits for `redis-server` to answer `PING`.
pub const REDIS_STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `redis-server`, owned by one test.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    binary: String,
}

/// The `redis-server` to run: `$REDIS_SERVER` or `redis-server` on `PATH`.
pub fn redis_server_binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

impl RedisServer {
    /// Starts `redis-server` on a free port and waits until it answers `PING`.
    ///
    /// Panics, naming `redis-server` and how to install it, when the binary cannot be run.
    pub fn start() -> RedisServer {
        let binary = redis_server_binary();
        match Command::new(&binary)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "`{binary} --version` failed ({}): the Redis tests need a working redis-server \
                 (set REDIS_SERVER to its path)",
                out.status
            ),
            Err(e) => panic!(
                "the Redis tests need redis-server, but `{binary}` could not be run ({e}); \
                 install it (Debian: `apt-get install redis-server`) or set REDIS_SERVER to its \
                 path. `./scripts/test` installs it when run as root."
            ),
        }
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("switchboard-redis-{}-{port}", std::process::id()));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let mut server = RedisServer {
            child: None,
            port,
            dir,
            binary,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (the same across [`restart`](Self::restart)s).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL: connected clients see their connection drop) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port and waits until it answers `PING`.
    pub fn restart(&mut self) {
        self.stop();
        let log_path = self.dir.join("redis.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log_path.display()));
        let log_err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone the log file handle: {e}"));
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--protected-mode", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", self.binary));
        self.child = Some(child);
        let deadline = Instant::now() + REDIS_STARTUP_TIMEOUT;
        while !self.answers_ping() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "redis-server exited ({status}) before answering on port {}\n{}",
                    self.port,
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING on port {} within {REDIS_STARTUP_TIMEOUT:?}\n{}",
                self.port,
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server answers `PING` right now.
    pub fn answers_ping(&self) -> bool {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let Ok(mut tcp) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        tcp.write_all(b"PING\r\n").is_ok()
            && tcp.read_exact(&mut buf).is_ok()
            && &buf == b"+PONG\r\n"
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("redis.log"))
            .unwrap_or_else(|e| format!("<redis log unreadable: {e}>"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!(
                "--- redis-server log (port {}) ---\n{}",
                self.port,
                self.log().trim_end()
            );
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

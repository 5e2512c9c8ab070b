//! The servers under test: how to find or build each one, start it on a free port, read its
//! memory, and stop it.
use std::{
    fmt, fs,
    net::{Ipv4Addr, SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// One of the four programs compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerKind {
    /// `seed-chat` on switchboard, default configuration.
    Switchboard,
    /// The seed hand-written on socketioxide (`socketioxide-seed`).
    Socketioxide,
    /// Node socket.io 4.8 running the seed's `server.js`.
    Node,
    /// The raw axum websocket floor (`raw-floor`).
    Raw,
}

impl ServerKind {
    /// Every kind, in the order tables list them.
    pub const ALL: [ServerKind; 4] = [
        ServerKind::Switchboard,
        ServerKind::Socketioxide,
        ServerKind::Node,
        ServerKind::Raw,
    ];

    /// The short name used on the command line (`--servers switchboard,node`).
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Switchboard => "switchboard",
            ServerKind::Socketioxide => "socketioxide",
            ServerKind::Node => "node",
            ServerKind::Raw => "raw",
        }
    }

    /// What a table column calls it.
    pub fn title(self) -> &'static str {
        match self {
            ServerKind::Switchboard => "switchboard (seed-chat)",
            ServerKind::Socketioxide => "socketioxide (hand-written)",
            ServerKind::Node => "Node socket.io 4.8",
            ServerKind::Raw => "raw axum websocket",
        }
    }

    /// Parses a [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<ServerKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Why a server could not be prepared or started.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A build or install step failed; its output is above.
    #[error("`{command}` failed: {detail}")]
    Prepare {
        /// The command that failed.
        command: String,
        /// Its exit status or the spawn error.
        detail: String,
    },
    /// The process could not be started.
    #[error("could not start {kind} ({program}): {source}")]
    Spawn {
        /// Which server.
        kind: ServerKind,
        /// The program run.
        program: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The server exited or did not listen in time.
    #[error("{kind} did not start listening on port {port}: {reason}\n--- its log ---\n{log}")]
    NotListening {
        /// Which server.
        kind: ServerKind,
        /// The port it was given.
        port: u16,
        /// Exited or timed out.
        reason: String,
        /// What it printed.
        log: String,
    },
}

/// Where each server's program is.
#[derive(Debug, Clone)]
pub struct Programs {
    /// `seed-chat`.
    pub seed_chat: PathBuf,
    /// `socketioxide-seed`.
    pub socketioxide: PathBuf,
    /// `raw-floor`.
    pub raw: PathBuf,
    /// `node`.
    pub node: String,
    /// The directory of `server.js` and its `node_modules`.
    pub node_dir: PathBuf,
}

/// The bench crate's directory.
pub fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Programs {
    /// Finds (building if needed) every program `kinds` needs, with the profile and target
    /// directory of the running harness: `seed-chat` with `cargo build -p seed-chat` (as a user
    /// builds it, on its own so no other package's features leak in) unless `SEED_CHAT_BIN`
    /// names it; the bench's own servers with `cargo build -p switchboard-bench --bins` unless
    /// `BENCH_SOCKETIOXIDE_BIN` and `BENCH_RAW_BIN` name them; Node's modules with `npm ci`
    /// when they are missing or stale.
    pub fn prepare(kinds: &[ServerKind]) -> Result<Programs, ServerError> {
        let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
        let node_dir = bench_dir().join("node");
        if kinds.contains(&ServerKind::Node) {
            npm_ci_if_stale(&node_dir)?;
        }
        let dir = profile_dir()?;
        let exe = |name: &str| dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        let from_env = |var: &str| std::env::var_os(var).map(PathBuf::from);
        let seed_chat = match from_env("SEED_CHAT_BIN") {
            Some(path) => path,
            None if kinds.contains(&ServerKind::Switchboard) => {
                cargo_build(&dir, &["-p", "seed-chat", "--bin", "seed-chat"])?;
                exe("seed-chat")
            }
            None => PathBuf::new(),
        };
        let (socketioxide, raw) = match (
            from_env("BENCH_SOCKETIOXIDE_BIN"),
            from_env("BENCH_RAW_BIN"),
        ) {
            (Some(s), Some(r)) => (s, r),
            _ => {
                cargo_build(&dir, &["-p", "switchboard-bench", "--bins"])?;
                (exe("socketioxide-seed"), exe("raw-floor"))
            }
        };
        Ok(Programs {
            seed_chat,
            socketioxide,
            raw,
            node,
            node_dir,
        })
    }
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    let mut dir = bench_dir();
    dir.pop(); // integration-tests/
    dir.pop();
    dir
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()
        .map(|a| a.port())
}

/// `<target>/<profile>` of the running binary (tests run from its `deps/`).
fn profile_dir() -> Result<PathBuf, ServerError> {
    let exe = std::env::current_exe().map_err(|e| ServerError::Prepare {
        command: "current_exe".to_owned(),
        detail: e.to_string(),
    })?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    Ok(dir)
}

/// Runs `cargo build <args>` with the profile and target directory that `dir`
/// (`<target>/<profile>`) stands for.
fn cargo_build(dir: &Path, args: &[&str]) -> Result<(), ServerError> {
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(other) => other.to_owned(),
        None => String::from("release"),
    };
    let target_dir = dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let command = format!(
        "{cargo} build {} --profile {profile} --target-dir {}",
        args.join(" "),
        target_dir.display()
    );
    let status = Command::new(&cargo)
        .arg("build")
        .args(args)
        .arg("--profile")
        .arg(&profile)
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .status()
        .map_err(|e| ServerError::Prepare {
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(ServerError::Prepare {
            command,
            detail: status.to_string(),
        })
    }
}

/// Runs `npm ci` in `dir` unless `node_modules/socket.io` already has the locked version.
fn npm_ci_if_stale(dir: &Path) -> Result<(), ServerError> {
    let read_version = |path: PathBuf, pointer: &str| -> Option<String> {
        let text = fs::read_to_string(path).ok()?;
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        value.pointer(pointer)?.as_str().map(str::to_owned)
    };
    let locked = read_version(
        dir.join("package-lock.json"),
        "/packages/node_modules~1socket.io/version",
    );
    let installed = read_version(dir.join("node_modules/socket.io/package.json"), "/version");
    if locked.is_some() && locked == installed {
        return Ok(());
    }
    let npm = std::env::var("NPM").unwrap_or_else(|_| "npm".to_owned());
    let command = format!("{npm} ci in {}", dir.display());
    eprintln!("bench: running {command}");
    let status = Command::new(&npm)
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| ServerError::Prepare {
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(ServerError::Prepare {
            command,
            detail: status.to_string(),
        })
    }
}

/// A running server; killed when dropped.
pub struct Server {
    kind: ServerKind,
    child: Child,
    port: u16,
    log_path: PathBuf,
}

/// How long a server may take to listen.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

impl Server {
    /// Starts `kind` on a free port of 127.0.0.1 with the extra environment `env`, and waits
    /// until it accepts TCP connections.
    pub fn start(
        kind: ServerKind,
        programs: &Programs,
        env: &[(String, String)],
    ) -> Result<Server, ServerError> {
        let port = free_port().map_err(|source| ServerError::Spawn {
            kind,
            program: "bind 127.0.0.1:0".to_owned(),
            source,
        })?;
        let log_path = std::env::temp_dir().join(format!(
            "switchboard-bench-{}-{kind}-{port}.log",
            std::process::id()
        ));
        let mut command = match kind {
            ServerKind::Switchboard => Command::new(&programs.seed_chat),
            ServerKind::Socketioxide => Command::new(&programs.socketioxide),
            ServerKind::Raw => Command::new(&programs.raw),
            ServerKind::Node => {
                let mut c = Command::new(&programs.node);
                c.arg("server.js").current_dir(&programs.node_dir);
                c
            }
        };
        let program = format!("{:?}", command.get_program());
        let spawn_error = |source| ServerError::Spawn {
            kind,
            program: program.clone(),
            source,
        };
        let log = fs::File::create(&log_path).map_err(spawn_error)?;
        let log_err = log.try_clone().map_err(spawn_error)?;
        let child = command
            .env("PORT", port.to_string())
            // The seed program at its defaults: no auth token, no Redis.
            .env_remove("CHAT_TOKEN")
            .env_remove("REDIS_URL")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(spawn_error)?;
        let mut server = Server {
            kind,
            child,
            port,
            log_path,
        };
        server.wait_until_listening()?;
        Ok(server)
    }

    fn wait_until_listening(&mut self) -> Result<(), ServerError> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.not_listening(format!("it exited ({status})")));
            }
            if TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok() {
                // Let the probe connection's close settle before measuring anything.
                thread::sleep(Duration::from_millis(100));
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.not_listening(format!("not within {STARTUP_TIMEOUT:?}")));
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    fn not_listening(&self, reason: String) -> ServerError {
        ServerError::NotListening {
            kind: self.kind,
            port: self.port,
            reason,
            log: self.log(),
        }
    }

    /// Which server this is.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The server process's resident memory (`VmRSS` of `/proc/<pid>/status`), in KiB.
    pub fn rss_kib(&self) -> std::io::Result<u64> {
        rss_kib(self.child.id())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_else(|e| format!("<log unreadable: {e}>"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.log_path);
    }
}

/// `VmRSS` of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> std::io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no VmRSS in /proc/{pid}/status")))
}

//! Several server instances on one Redis, driven by `js/cluster.mjs`.
//!
//! - [`Instances`]: processes of the `rooms-server` binary (`src/bin/rooms-server.rs`; tests
//!   find it with `env!("CARGO_BIN_EXE_rooms-server")`) or of `seed-chat`, in memory or
//!   sharing one [`RedisServer`](crate::redis::RedisServer).
//! - [`ClusterScenario`]: runs a scenario of `js/cluster.mjs` against several base URLs, and
//!   lets the test act between its phases (kill an instance, restart Redis) by reading the
//!   `{"phase": …}` lines it prints and writing lines to its stdin.
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::{SCENARIO_TIMEOUT, SeedChat, ensure_node_modules, js_dir};

/// Server processes started together; killed when dropped.
pub struct Instances {
    /// The running servers, in start order.
    pub servers: Vec<SeedChat>,
}

impl Instances {
    /// Starts `n` processes of `binary`, each with `REDIS_URL=redis_url` if given.
    pub fn start(binary: &Path, n: usize, redis_url: Option<&str>) -> Instances {
        let env: Vec<(&str, &str)> = redis_url.map(|u| ("REDIS_URL", u)).into_iter().collect();
        let servers = (0..n)
            .map(|_| SeedChat::spawn_binary(binary, &env))
            .collect();
        Instances { servers }
    }

    /// The base URLs, comma-separated, as `cluster.mjs` takes them.
    pub fn urls(&self) -> String {
        self.servers
            .iter()
            .map(SeedChat::base_url)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A running `node cluster.mjs <name> <urls> <args…>`.
pub struct ClusterScenario {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl ClusterScenario {
    /// Starts the scenario (installing the JavaScript dependencies first if needed).
    pub async fn start(name: &str, urls: &str, args: &[&str]) -> ClusterScenario {
        tokio::task::spawn_blocking(ensure_node_modules)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
        let mut child = tokio::process::Command::new(&node)
            .arg("cluster.mjs")
            .arg(name)
            .arg(urls)
            .args(args)
            .current_dir(js_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start `{node}`: {e}"));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = stderr.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&buf[..n]);
                }
            });
        }
        ClusterScenario {
            what: format!("cluster scenario {name} against {urls} {args:?}"),
            child,
            stdin,
            stdout,
            seen: Vec::new(),
            stderr,
        }
    }

    /// Waits for the line `{"phase": "<phase>", …}` and returns it.
    pub async fn wait_phase(&mut self, phase: &str) -> Value {
        loop {
            let line = self.next_line().await;
            let Some(line) = line else {
                self.fail(&format!("ended before phase `{phase}`")).await;
            };
            if let Ok(value) = serde_json::from_str::<Value>(&line)
                && value["phase"] == phase
            {
                return value;
            }
        }
    }

    /// Writes `line` to the scenario's stdin.
    pub async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("writing to the scenario's stdin");
        stdin.flush().await.expect("flushing the scenario's stdin");
    }

    /// Waits for the scenario to end and returns the JSON object of its last line.
    pub async fn finish(mut self) -> Value {
        while self.next_line().await.is_some() {}
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        match status {
            Ok(Ok(status)) if status.success() => {}
            Ok(Ok(status)) => self.fail(&format!("failed ({status})")).await,
            _ => self.fail("did not exit").await,
        }
        let last = self
            .seen
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .cloned();
        match last.map(|l| serde_json::from_str::<Value>(&l)) {
            Some(Ok(value)) if value.is_object() && value.get("phase").is_none() => value,
            _ => {
                self.fail("did not print a JSON object on its last line")
                    .await
            }
        }
    }

    async fn next_line(&mut self) -> Option<String> {
        match tokio::time::timeout(SCENARIO_TIMEOUT, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Ok(_) => None,
            Err(_) => {
                self.fail(&format!("printed nothing for {SCENARIO_TIMEOUT:?}"))
                    .await
            }
        }
    }

    async fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.start_kill();
        // Let the stderr reader catch up with what was written before the end.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stderr = self
            .stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        panic!(
            "{} {why}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.seen.join("\n"),
            String::from_utf8_lossy(&stderr).trim_end()
        );
    }
}

/// Runs a scenario with no phases to act on and returns its result.
pub async fn run_cluster_scenario(name: &str, urls: &str, args: &[&str]) -> Value {
    ClusterScenario::start(name, urls, args)
        .await
        .finish()
        .await
}

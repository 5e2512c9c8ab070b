//! The machine a run happened on, for the report.
use std::{fmt, fs, process::Command};

/// What the report says about the machine and the tools.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Logical CPUs available to the process.
    pub cores: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu: String,
    /// `MemTotal` from `/proc/meminfo`.
    pub memory: String,
    /// The kernel release.
    pub kernel: String,
    /// `rustc --version`.
    pub rustc: String,
    /// `node --version`.
    pub node: String,
    /// The date of the run, UTC.
    pub date: String,
}

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn proc_field(path: &str, field: &str) -> Option<String> {
    fs::read_to_string(path).ok()?.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == field).then(|| value.trim().to_owned())
    })
}

impl Machine {
    /// Reads the description of this machine.
    pub fn describe() -> Machine {
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
        let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu: proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into()),
            memory: proc_field("/proc/meminfo", "MemTotal").unwrap_or_else(|| "unknown".into()),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".into()),
            rustc: first_line(&rustc, &["--version"]),
            node: first_line(&node, &["--version"]),
            date: first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "- date: {}", self.date)?;
        writeln!(f, "- CPU: {} × {}", self.cores, self.cpu)?;
        writeln!(f, "- memory: {}", self.memory)?;
        writeln!(f, "- kernel: Linux {}", self.kernel)?;
        writeln!(f, "- Rust: {}", self.rustc)?;
        write!(f, "- Node: {}", self.node)
    }
}

//! The benchmark harness: starts each server, runs the scenarios round after round with the
//! servers' order rotated, prints medians, spreads and the budget verdict, and with
//! `--write-docs` rewrites the generated parts of `docs/benchmarks.md` and `docs/benchmarks.svg`.
//!
//! ```sh
//! cargo run --release -p switchboard-bench --bin harness -- --write-docs
//! cargo run --release -p switchboard-bench --bin harness -- --smoke
//! ```
//!
//! Exits with status 2 when a delivery went missing or a round failed (after reporting).
use std::{fs, path::Path, process::ExitCode, time::Duration};

use switchboard_bench::{
    machine::Machine,
    report::{
        CONNECTS_PER_SEC, DELIVERIES_PER_SEC, KB_PER_CONNECTION, P50_MS, P99_MS,
        ROUND_TRIPS_PER_SEC, Report, human,
    },
    scenario::{self, Limits},
    servers::{Programs, Server, ServerKind},
};

const USAGE: &str = "\
usage: harness [options]

  --smoke                 tiny sizes, one round: checks that everything works (seconds)
  --rounds N              rounds per scenario and server (default 5)
  --servers LIST          comma-separated: switchboard,socketioxide,node,raw (default all)
  --scenarios LIST        comma-separated: fanout,roundtrip,idle (default all)
  --fanout CLIENTS,BURST  fan-out size (default 1000,200)
  --roundtrip CLIENTS,CHATS  round-trip size (default 20,300)
  --idle-sizes LIST       idle connection counts (default 1000,5000,10000)
  --large-idle-rounds N   rounds for idle sizes above 1000 (default 1: each costs minutes)
  --node-max-idle N       largest idle size Node is run at (default 1000)
  --memory-sweep          also run socketioxide with leaner buffer settings (docs section)
  --write-docs            rewrite the generated parts of docs/benchmarks.md and the chart
";

#[derive(Debug, Clone)]
struct Options {
    smoke: bool,
    rounds: usize,
    servers: Vec<ServerKind>,
    fanout: Option<(usize, usize)>,
    roundtrip: Option<(usize, usize)>,
    idle_sizes: Vec<usize>,
    large_idle_rounds: usize,
    node_max_idle: usize,
    memory_sweep: bool,
    write_docs: bool,
}

fn parse_list<T>(text: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    text.split(',')
        .map(|item| parse(item.trim()).ok_or_else(|| format!("cannot read {item:?} in {text:?}")))
        .collect()
}

fn parse_pair(text: &str) -> Result<(usize, usize), String> {
    match parse_list(text, |s| s.parse::<usize>().ok())?[..] {
        [a, b] => Ok((a, b)),
        _ => Err(format!("expected two numbers like 1000,200, got {text:?}")),
    }
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        smoke: false,
        rounds: 5,
        servers: ServerKind::ALL.to_vec(),
        fanout: Some((1000, 200)),
        roundtrip: Some((20, 300)),
        idle_sizes: vec![1000, 5000, 10000],
        large_idle_rounds: 1,
        node_max_idle: 1000,
        memory_sweep: false,
        write_docs: false,
    };
    let mut scenarios: Option<Vec<String>> = None;
    let mut explicit = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--smoke" => options.smoke = true,
            "--write-docs" => options.write_docs = true,
            "--memory-sweep" => options.memory_sweep = true,
            "--rounds" => {
                let v = value()?;
                options.rounds = v.parse().map_err(|_| format!("--rounds {v:?}"))?;
                explicit.push("rounds");
            }
            "--servers" => {
                options.servers = parse_list(&value()?, ServerKind::from_name)?;
            }
            "--scenarios" => {
                scenarios = Some(parse_list(&value()?, |s| {
                    ["fanout", "roundtrip", "idle"]
                        .contains(&s)
                        .then(|| s.to_owned())
                })?);
            }
            "--fanout" => {
                options.fanout = Some(parse_pair(&value()?)?);
                explicit.push("fanout");
            }
            "--roundtrip" => {
                options.roundtrip = Some(parse_pair(&value()?)?);
                explicit.push("roundtrip");
            }
            "--idle-sizes" => {
                options.idle_sizes = parse_list(&value()?, |s| s.parse().ok())?;
                explicit.push("idle");
            }
            "--large-idle-rounds" => {
                let v = value()?;
                options.large_idle_rounds = v
                    .parse()
                    .map_err(|_| format!("--large-idle-rounds {v:?}"))?;
            }
            "--node-max-idle" => {
                let v = value()?;
                options.node_max_idle = v.parse().map_err(|_| format!("--node-max-idle {v:?}"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if options.smoke {
        if !explicit.contains(&"rounds") {
            options.rounds = 1;
        }
        if !explicit.contains(&"fanout") {
            options.fanout = Some((20, 10));
        }
        if !explicit.contains(&"roundtrip") {
            options.roundtrip = Some((3, 10));
        }
        if !explicit.contains(&"idle") {
            options.idle_sizes = vec![50];
        }
    }
    if let Some(scenarios) = scenarios {
        let has = |s: &str| scenarios.iter().any(|x| x == s);
        if !has("fanout") {
            options.fanout = None;
        }
        if !has("roundtrip") {
            options.roundtrip = None;
        }
        if !has("idle") {
            options.idle_sizes.clear();
        }
    }
    if options.rounds == 0 || options.servers.is_empty() {
        return Err("need at least one round and one server".to_owned());
    }
    Ok(options)
}

/// Idle sizes above this run only `--large-idle-rounds` rounds: the seed greets the whole
/// room on every connect, so `n` clients cost `n(n+1)/2` deliveries (50 M at 10 000).
const LARGE_IDLE: usize = 1000;

/// One measurement to make: a scenario at a size.
#[derive(Debug, Clone, Copy)]
enum Job {
    FanOut(usize, usize),
    RoundTrip(usize, usize),
    Idle(usize),
}

impl Job {
    fn name(self) -> String {
        match self {
            Job::FanOut(c, b) => format!("fan-out {c}×{b}"),
            Job::RoundTrip(c, n) => format!("round trip {c}×{n}"),
            Job::Idle(n) => format!("idle {n}"),
        }
    }
}

fn jobs(options: &Options) -> Vec<Job> {
    let mut jobs = Vec::new();
    if let Some((c, b)) = options.fanout {
        jobs.push(Job::FanOut(c, b));
    }
    if let Some((c, n)) = options.roundtrip {
        jobs.push(Job::RoundTrip(c, n));
    }
    jobs.extend(options.idle_sizes.iter().map(|&n| Job::Idle(n)));
    jobs
}

/// A server to measure: which one, where its program is, and its extra environment.
struct Target<'a> {
    kind: ServerKind,
    programs: &'a Programs,
    env: &'a [(String, String)],
}

/// Starts the target server, runs `job` against it once, records the outcome under `label`.
async fn measure(
    report: &mut Report,
    label: &str,
    job: Job,
    target: Target<'_>,
    round: usize,
    limits: &Limits,
) {
    let Target {
        kind,
        programs,
        env,
    } = target;
    let server = match Server::start(kind, programs, env) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("  {kind:<12} could not start: {error}");
            report.fail(label, kind, round, &error.to_string());
            return;
        }
    };
    let addr = server.addr();
    let outcome =
        match job {
            Job::FanOut(clients, burst) => scenario::fan_out(addr, clients, burst, limits)
                .await
                .map(|r| {
                    report.record(label, DELIVERIES_PER_SEC, kind, r.deliveries_per_sec);
                    report.account(label, kind, r.received, r.expected);
                    format!(
                        "{} deliveries/s, {}/{} delivered{} in {:.3} s (greetings {}/{})",
                        human(r.deliveries_per_sec),
                        r.received,
                        r.expected,
                        if r.duplicates > 0 {
                            format!(", {} duplicates", r.duplicates)
                        } else {
                            String::new()
                        },
                        r.elapsed.as_secs_f64(),
                        r.greetings.received,
                        r.greetings.minimum
                    )
                }),
            Job::RoundTrip(clients, chats) => scenario::round_trip(addr, clients, chats, limits)
                .await
                .map(|r| {
                    let ms = |d: Duration| d.as_secs_f64() * 1e3;
                    report.record(label, ROUND_TRIPS_PER_SEC, kind, r.round_trips_per_sec);
                    report.record(label, P50_MS, kind, ms(r.p50));
                    report.record(label, P99_MS, kind, ms(r.p99));
                    report.account(label, kind, r.deliveries, r.expected_deliveries);
                    format!(
                        "{} round trips/s, p50 {:.2} ms, p99 {:.2} ms, {}/{} delivered, {} own chats lost",
                        human(r.round_trips_per_sec),
                        ms(r.p50),
                        ms(r.p99),
                        r.deliveries,
                        r.expected_deliveries,
                        r.lost
                    )
                }),
            Job::Idle(clients) => {
                let rss = || server.rss_kib();
                scenario::idle(addr, clients, limits, &rss).await.map(|r| {
                    report.record(label, KB_PER_CONNECTION, kind, r.bytes_per_connection / 1e3);
                    report.record(label, CONNECTS_PER_SEC, kind, r.connects_per_sec);
                    format!(
                        "{:.1} KB/connection (RSS {} → {} KiB), {} connects/s, greetings {}/{}",
                        r.bytes_per_connection / 1e3,
                        r.rss_before_kib,
                        r.rss_connected_kib,
                        human(r.connects_per_sec),
                        r.greetings.received,
                        r.greetings.minimum
                    )
                })
            }
        };
    let log = server.log();
    let undelivered: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("not delivered"))
        .collect();
    let outcome = outcome.map(|line| match undelivered.first() {
        None => line,
        Some(first) => format!(
            "{line}; the server logged {} undelivered emits, first: {}",
            undelivered.len(),
            first.trim().chars().take(200).collect::<String>()
        ),
    });
    match outcome {
        Ok(line) => eprintln!("  {kind:<12} {line}"),
        Err(error) => {
            eprintln!("  {kind:<12} FAILED: {error}");
            let log = server.log();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            for line in tail.into_iter().rev() {
                eprintln!("      | {line}");
            }
            report.fail(label, kind, round, &error.to_string());
        }
    }
    drop(server);
    // Let the kernel finish closing the connections before the next server starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// The servers in round `round`'s order: rotated by one each round.
fn rotated(servers: &[ServerKind], round: usize) -> Vec<ServerKind> {
    let mut order = servers.to_vec();
    if !order.is_empty() {
        let by = round % order.len();
        order.rotate_left(by);
    }
    order
}

/// The hand-written socketioxide server of the main comparison runs with switchboard's buffer
/// sizes (`DEFAULT_MAX_BUFFER_SIZE`, `DEFAULT_WS_READ_BUFFER_SIZE`): like for like, and at them
/// neither server loses a message. The memory sweep shows socketioxide's own defaults.
fn like_for_like() -> Vec<(String, String)> {
    vec![
        ("SIO_MAX_BUFFER_SIZE".to_owned(), "1024".to_owned()),
        ("SIO_WS_READ_BUFFER_SIZE".to_owned(), "1024".to_owned()),
    ]
}

/// The socketioxide settings the memory sweep compares, as `SIO_*` variables for
/// `socketioxide-seed`.
fn sweep_variants() -> Vec<(&'static str, Vec<(String, String)>)> {
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    vec![
        (
            "defaults (ws_read_buffer_size 4096, max_buffer_size 128)",
            env(&[]),
        ),
        (
            "ws_read_buffer_size 1024",
            env(&[("SIO_WS_READ_BUFFER_SIZE", "1024")]),
        ),
        (
            "max_buffer_size 1024",
            env(&[("SIO_MAX_BUFFER_SIZE", "1024")]),
        ),
        (
            "ws_read_buffer_size 1024, max_buffer_size 1024",
            env(&[
                ("SIO_WS_READ_BUFFER_SIZE", "1024"),
                ("SIO_MAX_BUFFER_SIZE", "1024"),
            ]),
        ),
    ]
}

fn replace_section(text: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- generated:{name}:begin -->");
    let end = format!("<!-- generated:{name}:end -->");
    let block = format!("{begin}\n{}\n{end}", body.trim_end());
    match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{block}{}", &text[..b], &text[e + end.len()..])
        }
        _ => format!("{}\n\n{block}\n", text.trim_end()),
    }
}

const DOC_HEADER: &str = "# Benchmarks\n\nThe seed program measured on switchboard, hand-written on socketioxide, on Node socket.io \
and on a raw axum websocket floor. Generated parts are rewritten by the harness \
(`integration-tests/bench`); the rest is written by hand.\n";

fn write_docs(
    root: &Path,
    options: &Options,
    machine: &Machine,
    report: &Report,
    sweep: Option<&Report>,
) -> std::io::Result<()> {
    let docs = root.join("docs");
    fs::create_dir_all(&docs)?;
    let path = docs.join("benchmarks.md");
    let mut text = fs::read_to_string(&path).unwrap_or_else(|_| DOC_HEADER.to_owned());
    let mut results = format!(
        "Measured with `cargo run --release -p switchboard-bench --bin harness -- {}`: \
         {} rounds ({} for idle sizes above {LARGE_IDLE}; Node only up to {} idle connections), \
         each server started afresh for every measurement, the servers' order rotated each \
         round; **median** and, in parentheses, the spread (min–max) over the rounds. The \
         hand-written socketioxide server runs with switchboard's buffer sizes \
         (`max_buffer_size` 1024, `ws_read_buffer_size` 1024).\n\n\
         {machine}\n\n![Benchmark chart](benchmarks.svg)\n\n",
        std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        options.rounds,
        options.large_idle_rounds.min(options.rounds),
        options.node_max_idle
    );
    results.push_str(&report.markdown_table(&options.servers));
    results.push_str("\nBudget (issue 6), from the medians:\n\n");
    for line in report.budget() {
        results.push_str(&format!("- {line}\n"));
    }
    text = replace_section(&text, "results", &results);
    if let Some(sweep) = sweep {
        let mut body = String::from(
            "Hand-written socketioxide server with the settings below (`SIO_*` variables of \
             `socketioxide-seed`), up to 3 rounds, medians and spreads:\n\n",
        );
        body.push_str(&sweep.markdown_table(&[ServerKind::Socketioxide]));
        text = replace_section(&text, "memory-sweep", &body);
    }
    fs::write(&path, text)?;
    fs::write(
        docs.join("benchmarks.svg"),
        report.svg_chart(&options.servers),
    )?;
    eprintln!("bench: wrote {} and docs/benchmarks.svg", path.display());
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("harness: {e}");
            }
            eprint!("{USAGE}");
            return ExitCode::from(if e.is_empty() { 0 } else { 64 });
        }
    };
    // Ten thousand clients here, ten thousand connections in the server (which inherits it).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < 2 * 10_000 + 100 && options.idle_sizes.iter().any(|&n| n > 1000) => {
            eprintln!("bench: warning: the open-file limit is {limit}; large idle runs may fail");
        }
        Ok(_) => {}
        Err(e) => eprintln!("bench: warning: cannot raise the open-file limit: {e}"),
    }
    let mut kinds = options.servers.clone();
    if options.memory_sweep && !kinds.contains(&ServerKind::Socketioxide) {
        kinds.push(ServerKind::Socketioxide);
    }
    let programs = match tokio::task::spawn_blocking(move || Programs::prepare(&kinds)).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            eprintln!("harness: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("harness: preparing the servers panicked: {e}");
            return ExitCode::FAILURE;
        }
    };
    let like_for_like = like_for_like();
    let limits = if options.smoke {
        Limits {
            phase_timeout: Duration::from_secs(30),
            ..Limits::default()
        }
    } else {
        Limits::default()
    };
    let machine = Machine::describe();
    eprintln!("bench: {} rounds on\n{machine}", options.rounds);

    let mut report = Report::default();
    for round in 0..options.rounds {
        for job in jobs(&options) {
            let label = job.name();
            let mut job_limits = limits;
            if let Job::Idle(n) = job
                && n > LARGE_IDLE
            {
                if round >= options.large_idle_rounds {
                    continue;
                }
                job_limits.phase_timeout = Duration::from_secs(300);
            }
            eprintln!("round {}/{}: {label}", round + 1, options.rounds);
            for kind in rotated(&options.servers, round) {
                if let Job::Idle(n) = job
                    && kind == ServerKind::Node
                    && n > options.node_max_idle
                {
                    eprintln!(
                        "  {kind:<12} skipped (--node-max-idle {})",
                        options.node_max_idle
                    );
                    continue;
                }
                let target = Target {
                    kind,
                    programs: &programs,
                    env: if kind == ServerKind::Socketioxide {
                        &like_for_like
                    } else {
                        &[]
                    },
                };
                measure(&mut report, &label, job, target, round, &job_limits).await;
            }
        }
    }

    let sweep = if options.memory_sweep {
        let mut sweep = Report::default();
        let idle = options
            .idle_sizes
            .iter()
            .copied()
            .filter(|&n| n <= LARGE_IDLE)
            .max()
            .unwrap_or(LARGE_IDLE);
        let sweep_rounds = options.rounds.min(3);
        for round in 0..sweep_rounds {
            for (variant, env) in sweep_variants() {
                let mut sweep_jobs = vec![Job::Idle(idle)];
                if let Some((c, b)) = options.fanout {
                    sweep_jobs.push(Job::FanOut(c, b));
                }
                if let Some((c, n)) = options.roundtrip {
                    sweep_jobs.push(Job::RoundTrip(c, n));
                }
                for job in sweep_jobs {
                    let label = format!("{variant}: {}", job.name());
                    eprintln!("memory sweep round {}/{sweep_rounds}: {label}", round + 1);
                    let target = Target {
                        kind: ServerKind::Socketioxide,
                        programs: &programs,
                        env: &env,
                    };
                    measure(&mut sweep, &label, job, target, round, &limits).await;
                }
            }
        }
        Some(sweep)
    } else {
        None
    };

    println!("{}", report.markdown_table(&options.servers));
    println!("Budget (issue 6), from the medians:");
    for line in report.budget() {
        println!("  {line}");
    }
    if let Some(sweep) = &sweep {
        println!("\nMemory sweep (socketioxide-seed):\n");
        println!("{}", sweep.markdown_table(&[ServerKind::Socketioxide]));
    }
    if options.write_docs {
        let root = switchboard_bench::servers::workspace_root();
        if let Err(e) = write_docs(&root, &options, &machine, &report, sweep.as_ref()) {
            eprintln!("harness: cannot write docs: {e}");
            return ExitCode::FAILURE;
        }
    }
    let sweep_ok = sweep
        .as_ref()
        .is_none_or(|s| s.all_delivered() && s.failures().is_empty());
    if report.all_delivered() && report.failures().is_empty() && sweep_ok {
        println!("bench: every delivery accounted for");
        ExitCode::SUCCESS
    } else {
        println!("bench: MISSING deliveries or failed rounds (see above)");
        ExitCode::from(2)
    }
}

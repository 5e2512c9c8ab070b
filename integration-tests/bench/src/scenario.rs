//! The scenarios, each on the seed program's `/sports` namespace and its room `soccer`.
//!
//! - [`fan_out`]: many clients in the room, one of them sends a burst of `chat`s; every
//!   delivery is counted, deliveries per second are timed from the first send to the last
//!   delivery.
//! - [`round_trip`]: a few clients in the room, each sends `chat`s one at a time and waits to
//!   see its own come back; round trips per second and the latency distribution.
//! - [`idle`]: many clients connect and stay; the server's resident memory per connection
//!   (before versus while connected) and connects per second.
//!
//! The seed greets the whole room on every connect, so `n` clients joining cause at least
//! `n(n+1)/2` greeting deliveries. Every scenario waits for that storm to end before it
//! measures, and reports how many greetings arrived.
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinSet,
    time::{sleep, timeout},
};

use crate::client::{ChatSender, ClientError, connect};

/// The namespace and room every scenario uses.
pub const NAMESPACE: &str = "/sports";
/// The room the seed joins `/sports` sockets to.
pub const ROOM: &str = "soccer";
/// The seed's greeting in `/sports`.
pub const GREETING: &str = "Hello soccer fans!";

/// Bounds that keep every scenario finite.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Clients connecting at the same time (the rest wait their turn).
    pub connect_concurrency: usize,
    /// How long one client may take to connect, or one round trip to complete.
    pub step_timeout: Duration,
    /// How long a whole phase (connecting everyone, a burst's deliveries) may take.
    pub phase_timeout: Duration,
    /// How long the greeting counter must stay still before the storm counts as over.
    pub quiet: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect_concurrency: 64,
            step_timeout: Duration::from_secs(10),
            phase_timeout: Duration::from_secs(120),
            quiet: Duration::from_millis(300),
        }
    }
}

/// Why a scenario could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Not every client could connect.
    #[error("{connected} of {wanted} clients connected; client {client} failed: {error}")]
    Connect {
        /// How many clients had connected.
        connected: usize,
        /// How many were asked for.
        wanted: usize,
        /// The index of the failing client.
        client: usize,
        /// Why it failed.
        error: ClientError,
    },
    /// A phase ran out of time.
    #[error("timed out after {after:?} while {what}")]
    Timeout {
        /// What was being waited for.
        what: &'static str,
        /// How long.
        after: Duration,
    },
    /// A client failed while sending.
    #[error("client error: {0}")]
    Client(#[from] ClientError),
    /// The server's memory could not be read.
    #[error("cannot read the server's RSS: {0}")]
    Rss(std::io::Error),
}

/// How many greetings arrived, against the least the seed program sends.
#[derive(Debug, Clone, Copy, Default)]
pub struct Greetings {
    /// Greetings received by all clients together.
    pub received: u64,
    /// `n(n+1)/2`: the least `n` sequential joins produce (concurrent joins only add some).
    pub minimum: u64,
}

/// Clients connected to the server; dropping it closes every connection.
pub(crate) struct Swarm {
    pub(crate) tasks: JoinSet<Result<(), ClientError>>,
    pub(crate) senders: Vec<ChatSender>,
    connect_time: Duration,
}

/// Connects `n` clients to [`NAMESPACE`], at most `limits.connect_concurrency` at a time.
/// Each client's frames are read as soon as it is connected, by `handler(i)`.
pub(crate) async fn connect_swarm<H>(
    addr: SocketAddr,
    n: usize,
    limits: &Limits,
    handler: impl Fn(usize) -> H,
) -> Result<Swarm, ScenarioError>
where
    H: FnMut(&str) + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limits.connect_concurrency.max(1)));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    for i in 0..n {
        let on_message = handler(i);
        let permits = permits.clone();
        let tx = tx.clone();
        let step = limits.step_timeout;
        tasks.spawn(async move {
            let permit = permits
                .acquire_owned()
                .await
                .map_err(|_| ClientError::Closed("waiting for a connect permit"))?;
            let connected = connect(addr, NAMESPACE, step).await;
            drop(permit);
            match connected {
                Ok((sender, receiver)) => {
                    let _ = tx.send(Ok((i, sender)));
                    receiver.run(on_message).await
                }
                Err(error) => {
                    let _ = tx.send(Err((i, error.to_string())));
                    Err(error)
                }
            }
        });
    }
    drop(tx);
    let mut senders: Vec<Option<ChatSender>> = vec![None; n];
    let mut connected = 0;
    let collect = async {
        while let Some(result) = rx.recv().await {
            match result {
                Ok((i, sender)) => {
                    senders[i] = Some(sender);
                    connected += 1;
                    if connected == n {
                        return Ok(());
                    }
                }
                Err((i, error)) => return Err((i, error)),
            }
        }
        Ok(())
    };
    match timeout(limits.phase_timeout, collect).await {
        Ok(Ok(())) => {}
        Ok(Err((client, error))) => {
            return Err(ScenarioError::Connect {
                connected,
                wanted: n,
                client,
                error: ClientError::Unexpected {
                    during: "connecting",
                    frame: error,
                },
            });
        }
        Err(_) => {
            return Err(ScenarioError::Timeout {
                what: "connecting every client",
                after: limits.phase_timeout,
            });
        }
    }
    let connect_time = start.elapsed();
    Ok(Swarm {
        tasks,
        senders: senders.into_iter().flatten().collect(),
        connect_time,
    })
}

impl Swarm {
    /// The first client that stopped with an error, if any did.
    pub(crate) fn failure(&mut self) -> Option<String> {
        match self.tasks.try_join_next()? {
            Ok(Ok(())) => Some("a client's connection was closed".to_owned()),
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(format!("a client task failed: {e}")),
        }
    }
}

/// Waits until `counter` has reached `minimum` and then not moved for `limits.quiet`, or has
/// not moved for ten times that (some greetings were lost), or the phase times out.
pub(crate) async fn wait_quiet(counter: &AtomicU64, minimum: u64, limits: &Limits) -> u64 {
    let start = Instant::now();
    let mut last = counter.load(Ordering::Relaxed);
    let mut still_since = Instant::now();
    loop {
        sleep(Duration::from_millis(20)).await;
        let now = counter.load(Ordering::Relaxed);
        if now != last {
            last = now;
            still_since = Instant::now();
        }
        let still = still_since.elapsed();
        if (now >= minimum && still >= limits.quiet)
            || still >= limits.quiet * 10
            || start.elapsed() >= limits.phase_timeout
        {
            return now;
        }
    }
}

/// The least number of greetings `n` clients joining one room receive.
pub(crate) fn greeting_minimum(n: usize) -> u64 {
    let n = n as u64;
    n * (n + 1) / 2
}

/// The outcome of [`fan_out`].
#[derive(Debug, Clone)]
pub struct FanOut {
    /// Deliveries the burst should cause: `burst × clients`.
    pub expected: u64,
    /// Distinct deliveries counted.
    pub received: u64,
    /// Deliveries of a message a client had already received.
    pub duplicates: u64,
    /// From the first send to the last delivery.
    pub elapsed: Duration,
    /// `received / elapsed`.
    pub deliveries_per_sec: f64,
    /// The greeting storm before the burst.
    pub greetings: Greetings,
}

/// `clients` clients join the room; client 0 sends `burst` chats in a row; every client
/// counts which ones it receives.
pub async fn fan_out(
    addr: SocketAddr,
    clients: usize,
    burst: usize,
    limits: &Limits,
) -> Result<FanOut, ScenarioError> {
    struct Counters {
        base: Instant,
        greetings: AtomicU64,
        delivered: AtomicU64,
        duplicates: AtomicU64,
        last_delivery_ns: AtomicU64,
    }
    let counters = Arc::new(Counters {
        base: Instant::now(),
        greetings: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        last_delivery_ns: AtomicU64::new(0),
    });
    let mut swarm = connect_swarm(addr, clients, limits, |_| {
        let counters = counters.clone();
        let mut seen = vec![false; burst];
        move |message: &str| {
            if message == GREETING {
                counters.greetings.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let Some(seq) = message
                .strip_prefix('f')
                .and_then(|s| s.parse::<usize>().ok())
            else {
                return;
            };
            match seen.get_mut(seq) {
                Some(slot) if !*slot => {
                    *slot = true;
                    let at = counters.base.elapsed().as_nanos() as u64;
                    counters.last_delivery_ns.fetch_max(at, Ordering::Relaxed);
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    counters.duplicates.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    })
    .await?;
    let greetings = Greetings {
        received: wait_quiet(&counters.greetings, greeting_minimum(clients), limits).await,
        minimum: greeting_minimum(clients),
    };

    let expected = (burst * clients) as u64;
    let start_ns = counters.base.elapsed().as_nanos() as u64;
    let sender = swarm.senders.first().cloned();
    if let Some(sender) = sender {
        sender
            .chat_burst(ROOM, (0..burst).map(|seq| format!("f{seq}")))
            .await?;
    }
    let waited = Instant::now();
    while counters.delivered.load(Ordering::Relaxed) < expected {
        if waited.elapsed() >= limits.phase_timeout {
            break;
        }
        // Deliveries stopped: whatever is missing is not coming.
        let before = counters.delivered.load(Ordering::Relaxed);
        sleep(Duration::from_millis(5)).await;
        let last = counters
            .last_delivery_ns
            .load(Ordering::Relaxed)
            .max(start_ns);
        if counters.delivered.load(Ordering::Relaxed) == before
            && counters.base.elapsed().as_nanos() as u64
                > last + limits.step_timeout.as_nanos() as u64
        {
            break;
        }
    }
    let received = counters.delivered.load(Ordering::Relaxed);
    let last = counters.last_delivery_ns.load(Ordering::Relaxed);
    let elapsed = Duration::from_nanos(last.saturating_sub(start_ns));
    let _ = swarm.failure();
    Ok(FanOut {
        expected,
        received,
        duplicates: counters.duplicates.load(Ordering::Relaxed),
        elapsed,
        deliveries_per_sec: received as f64 / elapsed.as_secs_f64().max(1e-9),
        greetings,
    })
}

/// The outcome of [`round_trip`].
#[derive(Debug, Clone)]
pub struct RoundTrip {
    /// Round trips completed (each client's own message seen).
    pub completed: u64,
    /// Own chats that did not come back within [`ROUND_TRIP_LOST_AFTER`]: the client gave
    /// up waiting and sent the next one.
    pub lost: u64,
    /// `clients × chats`.
    pub expected: u64,
    /// Deliveries of chats to every member of the room, own and others'.
    pub deliveries: u64,
    /// `clients × chats × clients`.
    pub expected_deliveries: u64,
    /// From the common start to the last client's last round trip.
    pub elapsed: Duration,
    /// `completed / elapsed`.
    pub round_trips_per_sec: f64,
    /// Median round trip.
    pub p50: Duration,
    /// 99th percentile round trip.
    pub p99: Duration,
    /// The greeting storm before the chats.
    pub greetings: Greetings,
}

/// How long a round-trip client waits for its own chat before counting it lost and sending the
/// next: a lost message costs the client this much time, as it would a real client waiting for
/// an answer.
pub const ROUND_TRIP_LOST_AFTER: Duration = Duration::from_secs(1);

/// `clients` clients join the room; each sends `chats` chats one at a time, waiting to see its
/// own come back (or [`ROUND_TRIP_LOST_AFTER`]) before sending the next.
pub async fn round_trip(
    addr: SocketAddr,
    clients: usize,
    chats: usize,
    limits: &Limits,
) -> Result<RoundTrip, ScenarioError> {
    let greetings_count = Arc::new(AtomicU64::new(0));
    let deliveries = Arc::new(AtomicU64::new(0));
    let mut own_rx = Vec::with_capacity(clients);
    let mut own_tx = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (tx, rx) = mpsc::unbounded_channel::<usize>();
        own_tx.push(tx);
        own_rx.push(rx);
    }
    let mut swarm = connect_swarm(addr, clients, limits, |i| {
        let greetings = greetings_count.clone();
        let deliveries = deliveries.clone();
        let own = own_tx[i].clone();
        move |message: &str| {
            if message == GREETING {
                greetings.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let Some((client, seq)) = message.strip_prefix('r').and_then(|s| s.split_once(':'))
            else {
                return;
            };
            deliveries.fetch_add(1, Ordering::Relaxed);
            if client.parse::<usize>().ok() == Some(i)
                && let Ok(seq) = seq.parse::<usize>()
            {
                let _ = own.send(seq);
            }
        }
    })
    .await?;
    drop(own_tx);
    let greetings = Greetings {
        received: wait_quiet(&greetings_count, greeting_minimum(clients), limits).await,
        minimum: greeting_minimum(clients),
    };

    let start = Instant::now();
    let mut drivers = JoinSet::new();
    for (i, (sender, mut own)) in swarm.senders.iter().cloned().zip(own_rx).enumerate() {
        drivers.spawn(async move {
            let mut latencies = Vec::with_capacity(chats);
            let mut lost = 0_u64;
            for seq in 0..chats {
                let sent = Instant::now();
                sender.chat(ROOM, &format!("r{i}:{seq}")).await?;
                let seen = loop {
                    match timeout(ROUND_TRIP_LOST_AFTER, own.recv()).await {
                        Ok(Some(got)) if got == seq => break true,
                        Ok(Some(_)) => continue, // a late one, counted lost already
                        Ok(None) => return Err(ClientError::Closed("waiting for an own chat")),
                        Err(_) => break false,
                    }
                };
                if seen {
                    latencies.push(sent.elapsed());
                } else {
                    lost += 1;
                }
            }
            Ok::<_, ClientError>((latencies, lost, Instant::now()))
        });
    }
    let mut latencies = Vec::with_capacity(clients * chats);
    let mut end = start;
    let mut first_error = None;
    let mut lost = 0;
    while let Some(done) = drivers.join_next().await {
        match done {
            Ok(Ok((mut l, l_lost, finished))) => {
                latencies.append(&mut l);
                lost += l_lost;
                end = end.max(finished);
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(ClientError::Unexpected {
                    during: "driving round trips",
                    frame: e.to_string(),
                });
            }
        }
    }
    if let Some(error) = first_error {
        return Err(error.into());
    }
    // Let the last broadcasts reach the other members before counting deliveries.
    let expected_deliveries = (clients * chats * clients) as u64;
    wait_quiet(&deliveries, expected_deliveries, limits).await;
    let _ = swarm.failure();
    latencies.sort_unstable();
    let elapsed = end - start;
    let completed = latencies.len() as u64;
    Ok(RoundTrip {
        completed,
        lost,
        expected: (clients * chats) as u64,
        deliveries: deliveries.load(Ordering::Relaxed),
        expected_deliveries,
        elapsed,
        round_trips_per_sec: completed as f64 / elapsed.as_secs_f64().max(1e-9),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        greetings,
    })
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The outcome of [`idle`].
#[derive(Debug, Clone)]
pub struct Idle {
    /// How many clients stayed connected.
    pub clients: usize,
    /// From the first connect to the last namespace CONNECT ack.
    pub connect_time: Duration,
    /// `clients / connect_time`.
    pub connects_per_sec: f64,
    /// Server RSS before any client connected, in KiB.
    pub rss_before_kib: u64,
    /// Server RSS with every client connected and the greetings delivered, in KiB.
    pub rss_connected_kib: u64,
    /// `(rss_connected − rss_before) / clients`, in bytes.
    pub bytes_per_connection: f64,
    /// The greeting storm while connecting.
    pub greetings: Greetings,
}

/// `clients` clients connect and stay; `rss_kib` reads the server's resident memory.
pub async fn idle(
    addr: SocketAddr,
    clients: usize,
    limits: &Limits,
    rss_kib: &(dyn Fn() -> std::io::Result<u64> + Sync),
) -> Result<Idle, ScenarioError> {
    let rss_before_kib = rss_kib().map_err(ScenarioError::Rss)?;
    let greetings_count = Arc::new(AtomicU64::new(0));
    let mut swarm = connect_swarm(addr, clients, limits, |_| {
        let greetings = greetings_count.clone();
        move |message: &str| {
            if message == GREETING {
                greetings.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await?;
    let connect_time = swarm.connect_time;
    let greetings = Greetings {
        received: wait_quiet(&greetings_count, greeting_minimum(clients), limits).await,
        minimum: greeting_minimum(clients),
    };
    sleep(Duration::from_millis(200)).await;
    let rss_connected_kib = rss_kib().map_err(ScenarioError::Rss)?;
    if let Some(failure) = swarm.failure() {
        return Err(ClientError::Unexpected {
            during: "holding idle connections",
            frame: failure,
        }
        .into());
    }
    Ok(Idle {
        clients,
        connect_time,
        connects_per_sec: clients as f64 / connect_time.as_secs_f64().max(1e-9),
        rss_before_kib,
        rss_connected_kib,
        bytes_per_connection: (rss_connected_kib as f64 - rss_before_kib as f64) * 1024.0
            / clients.max(1) as f64,
        greetings,
    })
}

//! The delivery scenarios: does every client get every message, in order, or hear why not?
//!
//! - [`bursts`]: many clients in the room, one of them sends several bursts of `chat`s; every
//!   client must receive every message of every burst, in the order sent.
//! - [`flood`]: a few clients read as fast as they can while one client stops reading; one of
//!   the readers sends thousands of large `chat`s. The readers must receive everything in
//!   order; the paused client, when it reads again, must find an unbroken prefix of the flood
//!   followed either by the rest or by the server's slow-consumer notice and its disconnection.
//!   The server's resident memory is sampled throughout.
//!
//! - [`route_under_flood`]: a thousand clients chat to their room at a steady pace while one
//!   member of the room has stopped reading; a plain HTTP route of the same server is timed
//!   throughout, and the stalled member shows when the server's heartbeat timer closed it.
//!
//! They run against any server of the seed program; they report what happened and leave the
//! verdict to [`Bursts::whole`] and [`Flood::verdict`].
use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::time::{sleep, timeout};

use crate::{
    client::{Frame, connect},
    scenario::{
        GREETING, Limits, NAMESPACE, ROOM, ScenarioError, Swarm, connect_swarm, greeting_minimum,
        wait_quiet,
    },
    servers::rss_kib,
};

/// The event switchboard sends a slow consumer before disconnecting it.
pub const SLOW_CONSUMER_EVENT: &str = "switchboard:slow_consumer";

/// What [`bursts`] saw.
#[derive(Debug, Clone)]
pub struct Bursts {
    /// Clients in the room (the sender included).
    pub clients: usize,
    /// Bursts sent.
    pub bursts: usize,
    /// Chats per burst.
    pub size: usize,
    /// `clients × bursts × size`.
    pub expected: u64,
    /// Burst messages received, all clients together.
    pub received: u64,
    /// Messages that arrived out of order or twice, all clients together.
    pub out_of_order: u64,
    /// Clients that missed at least one message.
    pub incomplete_clients: usize,
    /// From the first send of each burst to its last delivery.
    pub burst_times: Vec<Duration>,
}

impl Bursts {
    /// Every client received every message once, in order.
    pub fn whole(&self) -> bool {
        self.received == self.expected && self.out_of_order == 0 && self.incomplete_clients == 0
    }
}

/// One client's view of a numbered stream of messages.
#[derive(Debug, Default)]
struct Sequence {
    /// The next index expected.
    next: u64,
    /// Messages not equal to `next` when they arrived.
    out_of_order: u64,
    /// When the last message arrived.
    last: Option<Instant>,
    /// The longest time between two messages.
    longest_silence: Duration,
}

impl Sequence {
    fn see(&mut self, index: u64) {
        let now = Instant::now();
        if let Some(last) = self.last {
            self.longest_silence = self.longest_silence.max(now - last);
        }
        self.last = Some(now);
        if index == self.next {
            self.next += 1;
        } else {
            self.out_of_order += 1;
            self.next = self.next.max(index + 1);
        }
    }
}

/// Clients in the room, each checking the order of the numbered messages it receives.
struct Counted {
    swarm: Swarm,
    /// Numbered messages received, all clients together.
    received: Arc<AtomicU64>,
    /// Each client's view of the numbered stream.
    sequences: Arc<Vec<Mutex<Sequence>>>,
}

impl Counted {
    /// Connects `n` clients and waits for the greeting storm to end. `index` reads a message's
    /// number, `None` for anything that is not one of the scenario's messages.
    async fn connect(
        addr: SocketAddr,
        n: usize,
        limits: &Limits,
        index: fn(&str) -> Option<u64>,
    ) -> Result<Counted, ScenarioError> {
        let greetings = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let sequences: Arc<Vec<Mutex<Sequence>>> =
            Arc::new((0..n).map(|_| Mutex::default()).collect());
        let swarm = {
            let (greetings, received, sequences) =
                (greetings.clone(), received.clone(), sequences.clone());
            connect_swarm(addr, n, limits, move |i| {
                let (greetings, received, sequences) =
                    (greetings.clone(), received.clone(), sequences.clone());
                move |message: &str| {
                    if message == GREETING {
                        greetings.fetch_add(1, Ordering::Relaxed);
                    } else if let Some(index) = index(message) {
                        lock(&sequences[i]).see(index);
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .await?
        };
        wait_quiet(&greetings, greeting_minimum(n), limits).await;
        Ok(Counted {
            swarm,
            received,
            sequences,
        })
    }

    fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Messages that arrived out of order or twice, and clients whose stream did not reach
    /// `total`.
    fn gaps(&self, total: u64) -> (u64, usize) {
        self.sequences.iter().fold((0, 0), |(ooo, incomplete), s| {
            let s = lock(s);
            (
                ooo + s.out_of_order,
                incomplete + usize::from(s.next != total),
            )
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `b{burst}:{index}`, numbered across bursts.
fn burst_message(burst: usize, size: usize, i: usize) -> String {
    format!("b{}", burst * size + i)
}

/// `clients` join the room; client 0 sends `bursts` bursts of `size` chats, each burst after
/// the previous one was delivered (or timed out).
pub async fn bursts(
    addr: SocketAddr,
    clients: usize,
    bursts: usize,
    size: usize,
    limits: &Limits,
) -> Result<Bursts, ScenarioError> {
    let mut counted = Counted::connect(addr, clients, limits, |m| {
        m.strip_prefix('b').and_then(|n| n.parse().ok())
    })
    .await?;

    let sender = counted.swarm.senders[0].clone();
    let mut burst_times = Vec::new();
    for burst in 0..bursts {
        let target = (clients * size * (burst + 1)) as u64;
        let start = Instant::now();
        sender
            .chat_burst(ROOM, (0..size).map(|i| burst_message(burst, size, i)))
            .await?;
        let wait = async {
            while counted.received() < target {
                sleep(Duration::from_millis(5)).await;
            }
        };
        let _ = timeout(limits.phase_timeout, wait).await;
        burst_times.push(start.elapsed());
        if let Some(failure) = counted.swarm.failure() {
            tracing::warn!(failure, "a client stopped during the bursts");
        }
    }
    // Anything late or duplicated.
    sleep(limits.quiet).await;
    let total = (bursts * size) as u64;
    let (out_of_order, incomplete_clients) = counted.gaps(total);
    Ok(Bursts {
        clients,
        bursts,
        size,
        expected: (clients * bursts * size) as u64,
        received: counted.received(),
        out_of_order,
        incomplete_clients,
        burst_times,
    })
}

/// How a slow client of [`flood`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Reads nothing until the readers have everything, then as fast as it can.
    Paused,
    /// Reads `per_second` websocket frames a second for `during`, then as fast as it can.
    Steady {
        /// Frames read per second.
        per_second: u32,
        /// For how long.
        during: Duration,
    },
}

/// What one slow client of [`flood`] saw.
#[derive(Debug, Clone)]
pub struct SlowClient {
    /// How it read.
    pub pace: Pace,
    /// Flood messages it received, from the first on.
    pub received: u64,
    /// Messages that reached it out of order or after a gap.
    pub out_of_order: u64,
    /// The slow-consumer notice it received, as sent.
    pub notice: Option<String>,
    /// Whether the server disconnected it from the namespace.
    pub disconnected: bool,
    /// Whether its connection was closed before it had everything or a disconnect.
    pub closed: bool,
    /// From the first send until it was done (everything, disconnected or closed).
    pub done_after: Duration,
}

/// What [`flood`] saw.
#[derive(Debug, Clone)]
pub struct Flood {
    /// Clients reading as fast as they can (the sender is one of them).
    pub readers: usize,
    /// Chats sent.
    pub chats: usize,
    /// Bytes per chat message.
    pub message_bytes: usize,
    /// Flood messages the readers received, all together (expected `readers × chats`).
    pub reader_received: u64,
    /// Messages that reached a reader out of order or twice.
    pub reader_out_of_order: u64,
    /// The longest any reader went without a flood message, between its first and its last.
    pub reader_longest_silence: Duration,
    /// From the first send to the readers' last delivery.
    pub elapsed: Duration,
    /// The clients that read slowly or not at all.
    pub slow: Vec<SlowClient>,
    /// The server's resident memory before the flood, KiB.
    pub rss_before_kib: Option<u64>,
    /// The highest resident memory sampled during the flood, KiB.
    pub rss_peak_kib: Option<u64>,
    /// Resident memory after the slow clients were dealt with, KiB.
    pub rss_after_kib: Option<u64>,
}

impl Flood {
    /// `Ok` when the readers got everything in order and every slow client got an unbroken
    /// prefix followed by one of: the rest; the slow-consumer notice and its disconnection;
    /// or, for a client that read nothing while the server dealt with it and only when
    /// `evicted` (the server reported a slow consumer), its connection closed.
    pub fn verdict(&self, evicted: bool) -> Result<(), String> {
        let expected = (self.readers * self.chats) as u64;
        if self.reader_received != expected || self.reader_out_of_order != 0 {
            return Err(format!(
                "readers received {} of {expected} ({} out of order)",
                self.reader_received, self.reader_out_of_order
            ));
        }
        for slow in &self.slow {
            if slow.out_of_order != 0 {
                return Err(format!(
                    "the {:?} client saw {} messages out of order or after a gap",
                    slow.pace, slow.out_of_order
                ));
            }
            let all = slow.received == self.chats as u64;
            let told = slow.notice.is_some() && slow.disconnected;
            let closed_as_slow = evicted && slow.closed && slow.pace == Pace::Paused;
            if !all && !told && !closed_as_slow {
                return Err(format!(
                    "the {:?} client received {} of {} and was {}",
                    slow.pace,
                    slow.received,
                    self.chats,
                    if slow.disconnected {
                        "disconnected without the slow-consumer notice"
                    } else if slow.closed {
                        "closed while it read (a heartbeat timeout?)"
                    } else {
                        "left without a reason"
                    }
                ));
            }
        }
        Ok(())
    }

    /// Peak resident memory growth during the flood, MiB.
    pub fn growth_mib(&self) -> Option<f64> {
        Some(self.rss_peak_kib?.saturating_sub(self.rss_before_kib?) as f64 / 1024.0)
    }
}

/// `f{index}:` and padding up to `bytes`.
fn flood_message(i: usize, bytes: usize) -> String {
    let mut message = format!("f{i}:");
    let pad = bytes.saturating_sub(message.len());
    message.extend(std::iter::repeat_n('x', pad));
    message
}

fn flood_index(message: &str) -> Option<u64> {
    message.strip_prefix('f')?.split(':').next()?.parse().ok()
}

/// `readers` clients join the room and read; one more client per entry of `slow` joins and
/// reads at that pace; reader 0 sends `chats` chats of `message_bytes` each. Once the readers
/// are done (or time out), a paused client reads what is left for it; every slow client gets
/// at most `limits.phase_timeout` to be done. `server_pid` is sampled for its resident memory.
pub async fn flood(
    addr: SocketAddr,
    server_pid: Option<u32>,
    readers: usize,
    chats: usize,
    message_bytes: usize,
    slow: &[Pace],
    limits: &Limits,
) -> Result<Flood, ScenarioError> {
    let counted = Counted::connect(addr, readers, limits, flood_index).await?;
    let mut receivers = Vec::new();
    for _ in slow {
        let (sender, receiver) = connect(addr, NAMESPACE, limits.step_timeout).await?;
        receivers.push((sender, receiver));
    }
    // Their greetings reach the readers too.
    sleep(limits.quiet).await;

    let rss_before_kib = server_pid.and_then(|pid| rss_kib(pid).ok());
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = server_pid.map(|pid| {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while sampling.load(Ordering::Relaxed) {
                if let Ok(kib) = rss_kib(pid) {
                    peak = peak.max(kib);
                }
                sleep(Duration::from_millis(20)).await;
            }
            peak
        })
    });

    let start = Instant::now();
    let readers_done = Arc::new(tokio::sync::Notify::new());
    let mut watchers = Vec::new();
    let mut _senders = Vec::new();
    for (&pace, (sender, receiver)) in slow.iter().zip(receivers) {
        _senders.push(sender);
        watchers.push(SlowWatch::start(
            pace,
            receiver,
            readers_done.clone(),
            start,
        ));
    }

    let sender = counted.swarm.senders[0].clone();
    let target = (readers * chats) as u64;
    let send = async {
        const CHUNK: usize = 100;
        for first in (0..chats).step_by(CHUNK) {
            let last = (first + CHUNK).min(chats);
            sender
                .chat_burst(ROOM, (first..last).map(|i| flood_message(i, message_bytes)))
                .await?;
        }
        Ok::<_, ScenarioError>(())
    };
    let wait = async {
        let mut last = 0;
        let mut still_since = Instant::now();
        loop {
            let now = counted.received();
            if now >= target {
                return;
            }
            if now / 20_000 != last / 20_000 {
                tracing::debug!(received = now, elapsed = ?start.elapsed(), "flood progress");
            }
            if now != last {
                last = now;
                still_since = Instant::now();
            } else if still_since.elapsed() > Duration::from_secs(30) {
                tracing::warn!(received = now, target, "flood: no delivery for 30 s");
                return;
            }
            sleep(Duration::from_millis(10)).await;
        }
    };
    let (sent, _) = tokio::join!(timeout(limits.phase_timeout, send), wait);
    let elapsed = start.elapsed();
    if let Ok(Err(error)) = sent {
        return Err(error);
    }
    // A paused client reads again.
    readers_done.notify_waiters();
    let mut slow_clients = Vec::new();
    for watch in watchers {
        slow_clients.push(watch.finish(chats as u64, limits.phase_timeout).await);
    }

    sampling.store(false, Ordering::Relaxed);
    let rss_peak_kib = match sampler {
        Some(task) => task.await.ok(),
        None => None,
    };
    let rss_after_kib = server_pid.and_then(|pid| rss_kib(pid).ok());
    tracing::debug!(
        next = ?counted.sequences.iter().map(|s| lock(s).next).collect::<Vec<_>>(),
        "where each reader stopped"
    );
    let (reader_out_of_order, _) = counted.gaps(chats as u64);
    let reader_longest_silence = counted
        .sequences
        .iter()
        .map(|s| lock(s).longest_silence)
        .max()
        .unwrap_or_default();
    let reader_received = counted.received();
    drop(counted);
    Ok(Flood {
        readers,
        chats,
        message_bytes,
        reader_received,
        reader_out_of_order,
        reader_longest_silence,
        elapsed,
        slow: slow_clients,
        rss_before_kib,
        rss_peak_kib,
        rss_after_kib,
    })
}

/// One slow client of [`flood`], reading in the background.
struct SlowWatch {
    pace: Pace,
    sequence: Arc<Mutex<Sequence>>,
    notice: Arc<Mutex<Option<String>>>,
    disconnected: Arc<AtomicBool>,
    reading: tokio::task::JoinHandle<()>,
    start: Instant,
}

impl SlowWatch {
    fn start(
        pace: Pace,
        receiver: crate::client::EventReceiver,
        readers_done: Arc<tokio::sync::Notify>,
        start: Instant,
    ) -> SlowWatch {
        let sequence = Arc::new(Mutex::new(Sequence::default()));
        let notice = Arc::new(Mutex::new(None));
        let disconnected = Arc::new(AtomicBool::new(false));
        let on_frame = {
            let (sequence, notice, disconnected) =
                (sequence.clone(), notice.clone(), disconnected.clone());
            move |frame: Frame<'_>| match frame {
                Frame::Message(message) => {
                    if let Some(index) = flood_index(message) {
                        lock(&sequence).see(index);
                    }
                }
                Frame::Event(text) if text.contains(SLOW_CONSUMER_EVENT) => {
                    *lock(&notice) = Some(text.to_owned());
                }
                Frame::Event(_) => {}
                Frame::Disconnect => disconnected.store(true, Ordering::Relaxed),
            }
        };
        let reading = tokio::spawn(async move {
            let paced = match pace {
                Pace::Paused => {
                    readers_done.notified().await;
                    None
                }
                Pace::Steady { per_second, during } => Some((
                    Duration::from_secs(1) / per_second.max(1),
                    Instant::now() + during,
                )),
            };
            if let Err(error) = receiver.run_frames_paced(paced, on_frame).await {
                tracing::debug!(?pace, %error, "slow client's connection ended");
            }
        });
        SlowWatch {
            pace,
            sequence,
            notice,
            disconnected,
            reading,
            start,
        }
    }

    /// Waits until the client has `chats` messages, was disconnected or closed, for at most
    /// `limit`.
    async fn finish(self, chats: u64, limit: Duration) -> SlowClient {
        let done = async {
            while lock(&self.sequence).next < chats && !self.reading.is_finished() {
                sleep(Duration::from_millis(10)).await;
            }
        };
        let _ = timeout(limit, done).await;
        let done_after = self.start.elapsed();
        let finished = self.reading.is_finished();
        self.reading.abort();
        let sequence = lock(&self.sequence);
        let disconnected = self.disconnected.load(Ordering::Relaxed);
        SlowClient {
            pace: self.pace,
            received: sequence.next,
            out_of_order: sequence.out_of_order,
            notice: lock(&self.notice).clone(),
            disconnected,
            closed: finished && !disconnected && sequence.next < chats,
            done_after,
        }
    }
}

/// What [`route_under_flood`] saw.
#[derive(Debug, Clone)]
pub struct RouteUnderFlood {
    /// Clients chatting (each also reads the room).
    pub senders: usize,
    /// Chats sent, all senders together.
    pub chats: u64,
    /// Chats the senders received, all together (expected `senders × chats`).
    pub received: u64,
    /// Chats that reached a sender out of order or twice.
    pub out_of_order: u64,
    /// HTTP requests made to the route, and how many failed.
    pub requests: usize,
    /// Requests that failed or got another status than 200.
    pub failed_requests: usize,
    /// Response times of the route: median, 99th percentile, slowest.
    pub route_p50: Duration,
    /// See `route_p50`.
    pub route_p99: Duration,
    /// See `route_p50`.
    pub route_max: Duration,
    /// The member that stopped reading, once it read again.
    pub stalled: SlowClient,
}

/// `senders` clients join the room and each sends a chat of `message_bytes` every `every`
/// for `during`; one more member of the room (with a small TCP receive buffer) reads nothing
/// until then, not even engine.io's pings. Meanwhile `GET {route}` is requested every 10 ms
/// on its own connection. The stalled member's `done_after` counts from its connection.
pub async fn route_under_flood(
    addr: SocketAddr,
    senders: usize,
    every: Duration,
    during: Duration,
    message_bytes: usize,
    route: &str,
    limits: &Limits,
) -> Result<RouteUnderFlood, ScenarioError> {
    let counted = PerSender::connect(addr, senders, limits).await?;
    let (_stalled_sender, stalled) =
        crate::client::connect_with_recv_buffer(addr, NAMESPACE, limits.step_timeout, 4096).await?;
    let stalled_at = Instant::now();
    sleep(limits.quiet).await;

    let start = Instant::now();
    let go_on = Arc::new(tokio::sync::Notify::new());
    // Its times are counted from its connection.
    let stalled = SlowWatch::start(Pace::Paused, stalled, go_on.clone(), stalled_at);
    let numbered = Arc::new(AtomicU64::new(0));
    let mut chatting = tokio::task::JoinSet::new();
    for (i, sender) in counted.swarm.senders.iter().cloned().enumerate() {
        let numbered = numbered.clone();
        // Spread the senders over the interval.
        let offset = every.mul_f64(i as f64 / senders as f64);
        chatting.spawn(async move {
            sleep(offset).await;
            let mut tick = tokio::time::interval(every);
            let mut seq = 0;
            while start.elapsed() < during {
                tick.tick().await;
                // The stalled member reads one stream made of every sender's chats; its
                // prefix is checked with the global number, the senders' with their own.
                let n = numbered.fetch_add(1, Ordering::Relaxed);
                sender
                    .chat(ROOM, &sender_message(n, i, seq, message_bytes))
                    .await?;
                seq += 1;
            }
            Ok::<_, crate::client::ClientError>(())
        });
    }
    let timing = {
        let route = route.to_owned();
        tokio::spawn(async move {
            let mut times = Vec::new();
            let mut failed = 0;
            while start.elapsed() < during {
                let asked = Instant::now();
                match timeout(Duration::from_secs(5), get(addr, &route)).await {
                    Ok(Ok(200)) => times.push(asked.elapsed()),
                    _ => failed += 1,
                }
                sleep(Duration::from_millis(10)).await;
            }
            (times, failed)
        })
    };
    while let Some(result) = chatting.join_next().await {
        if let Ok(Err(error)) = result {
            return Err(error.into());
        }
    }
    let (mut times, failed_requests) = timing.await.unwrap_or_default();
    let chats = numbered.load(Ordering::Relaxed);
    let target = chats * senders as u64;
    let wait = async {
        while counted.received.load(Ordering::Relaxed) < target {
            sleep(Duration::from_millis(10)).await;
        }
    };
    let _ = timeout(limits.phase_timeout, wait).await;
    go_on.notify_waiters();
    let stalled = stalled.finish(chats, limits.phase_timeout).await;
    let received = counted.received.load(Ordering::Relaxed);

    times.sort();
    let at = |q: f64| {
        times
            .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let out_of_order = counted.out_of_order.load(Ordering::Relaxed);
    Ok(RouteUnderFlood {
        senders,
        chats,
        received,
        out_of_order,
        requests: times.len() + failed_requests,
        failed_requests,
        route_p50: at(0.50),
        route_p99: at(0.99),
        route_max: times.last().copied().unwrap_or_default(),
        stalled,
    })
}

/// `GET path` on a new connection; the response's status.
async fn get(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await?;
    let status = std::str::from_utf8(response.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(status)
}

/// `f{global}:{sender}:{seq}:` and padding up to `bytes`: [`flood_index`] reads the global
/// number, [`PerSender`] the sender and its own sequence.
fn sender_message(global: u64, sender: usize, seq: u32, bytes: usize) -> String {
    let mut message = format!("f{global}:{sender}:{seq}:");
    let pad = bytes.saturating_sub(message.len());
    message.extend(std::iter::repeat_n('x', pad));
    message
}

/// Clients in the room, each checking that every sender's chats reach it in the order sent.
struct PerSender {
    swarm: Swarm,
    received: Arc<AtomicU64>,
    out_of_order: Arc<AtomicU64>,
}

impl PerSender {
    async fn connect(addr: SocketAddr, n: usize, limits: &Limits) -> Result<Self, ScenarioError> {
        let greetings = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let out_of_order = Arc::new(AtomicU64::new(0));
        let swarm = {
            let (greetings, received, out_of_order) =
                (greetings.clone(), received.clone(), out_of_order.clone());
            connect_swarm(addr, n, limits, move |_| {
                let (greetings, received, out_of_order) =
                    (greetings.clone(), received.clone(), out_of_order.clone());
                // The next sequence number expected from each sender.
                let mut next = vec![0u32; n];
                move |message: &str| {
                    if message == GREETING {
                        greetings.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    let mut parts = message.strip_prefix('f').unwrap_or("").split(':').skip(1);
                    let (Some(sender), Some(seq)) = (
                        parts.next().and_then(|p| p.parse::<usize>().ok()),
                        parts.next().and_then(|p| p.parse::<u32>().ok()),
                    ) else {
                        return;
                    };
                    received.fetch_add(1, Ordering::Relaxed);
                    match next.get_mut(sender) {
                        Some(expected) if *expected == seq => *expected += 1,
                        Some(expected) => {
                            out_of_order.fetch_add(1, Ordering::Relaxed);
                            *expected = (*expected).max(seq + 1);
                        }
                        None => {
                            out_of_order.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
            .await?
        };
        wait_quiet(&greetings, greeting_minimum(n), limits).await;
        Ok(PerSender {
            swarm,
            received,
            out_of_order,
        })
    }
}

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
//! Both run against any server of the seed program; they report what happened and leave the
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
}

impl Sequence {
    fn see(&mut self, index: u64) {
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
    /// From the first send to the readers' last delivery.
    pub elapsed: Duration,
    /// Flood messages the paused client received once it read again.
    pub paused_received: u64,
    /// Messages that reached the paused client out of order or after a gap.
    pub paused_out_of_order: u64,
    /// The slow-consumer notice the paused client received, as sent.
    pub paused_notice: Option<String>,
    /// Whether the server disconnected the paused client from the namespace.
    pub paused_disconnected: bool,
    /// Whether the paused client's connection was closed (by the server) while it read.
    pub paused_closed: bool,
    /// The server's resident memory before the flood, KiB.
    pub rss_before_kib: Option<u64>,
    /// The highest resident memory sampled during the flood, KiB.
    pub rss_peak_kib: Option<u64>,
    /// Resident memory after the paused client was dealt with, KiB.
    pub rss_after_kib: Option<u64>,
}

impl Flood {
    /// `Ok` when the readers got everything in order and the paused client got an unbroken
    /// prefix followed by one of: the rest; the slow-consumer notice and its disconnection;
    /// or, when `evicted` (the server reported it a slow consumer), the connection closed.
    ///
    /// The last case is a client that read nothing while its queue was full at an engine.io
    /// ping: engine.io closes such a connection at once, before any notice can be queued.
    pub fn verdict(&self, evicted: bool) -> Result<(), String> {
        let expected = (self.readers * self.chats) as u64;
        if self.reader_received != expected || self.reader_out_of_order != 0 {
            return Err(format!(
                "readers received {} of {expected} ({} out of order)",
                self.reader_received, self.reader_out_of_order
            ));
        }
        if self.paused_out_of_order != 0 {
            return Err(format!(
                "the paused client saw {} messages out of order or after a gap",
                self.paused_out_of_order
            ));
        }
        let all = self.paused_received == self.chats as u64;
        let told = self.paused_notice.is_some() && self.paused_disconnected;
        let closed_as_slow = evicted && self.paused_closed;
        if !all && !told && !closed_as_slow {
            return Err(format!(
                "the paused client received {} of {} and was {}",
                self.paused_received,
                self.chats,
                if self.paused_disconnected {
                    "disconnected without the slow-consumer notice"
                } else if self.paused_closed {
                    "closed, but the server did not report a slow consumer"
                } else {
                    "left without a reason"
                }
            ));
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

/// `readers` clients join the room and read; one more joins and stops reading; reader 0 sends
/// `chats` chats of `message_bytes` each. Once the readers are done (or time out), the paused
/// client reads what is left for it, for at most `limits.phase_timeout`. `server_pid` is
/// sampled for its resident memory.
pub async fn flood(
    addr: SocketAddr,
    server_pid: Option<u32>,
    readers: usize,
    chats: usize,
    message_bytes: usize,
    limits: &Limits,
) -> Result<Flood, ScenarioError> {
    let counted = Counted::connect(addr, readers, limits, flood_index).await?;
    let (_paused_sender, paused) = connect(addr, NAMESPACE, limits.step_timeout).await?;
    // Its greeting reaches the readers too.
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

    let sender = counted.swarm.senders[0].clone();
    let start = Instant::now();
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

    // The paused client reads again.
    let sequence = Arc::new(Mutex::new(Sequence::default()));
    let notice = Arc::new(Mutex::new(None));
    let disconnected = Arc::new(AtomicBool::new(false));
    let reading = {
        let (sequence, notice, disconnected) =
            (sequence.clone(), notice.clone(), disconnected.clone());
        tokio::spawn(paused.run_frames(move |frame| match frame {
            Frame::Message(message) => {
                if let Some(index) = flood_index(message) {
                    sequence
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .see(index);
                }
            }
            Frame::Event(text) if text.contains(SLOW_CONSUMER_EVENT) => {
                *notice.lock().unwrap_or_else(PoisonError::into_inner) = Some(text.to_owned());
            }
            Frame::Event(_) => {}
            Frame::Disconnect => disconnected.store(true, Ordering::Relaxed),
        }))
    };
    let done = async {
        loop {
            if sequence.lock().unwrap_or_else(PoisonError::into_inner).next >= chats as u64
                || reading.is_finished()
            {
                return;
            }
            sleep(Duration::from_millis(10)).await;
        }
    };
    let _ = timeout(limits.phase_timeout, done).await;
    let paused_closed = reading.is_finished();
    reading.abort();

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
    let paused = lock(&sequence);
    let paused_notice = lock(&notice).clone();
    let reader_received = counted.received();
    drop(counted);
    Ok(Flood {
        readers,
        chats,
        message_bytes,
        reader_received,
        reader_out_of_order,
        elapsed,
        paused_received: paused.next,
        paused_out_of_order: paused.out_of_order,
        paused_notice,
        paused_disconnected: disconnected.load(Ordering::Relaxed),
        paused_closed,
        rss_before_kib,
        rss_peak_kib,
        rss_after_kib,
    })
}

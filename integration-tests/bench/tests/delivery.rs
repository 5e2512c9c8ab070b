//! The delivery guarantee at seed-chat's default configuration, with the load generator:
//!
//! - three bursts of 200 chats to a room of 1000 clients arrive whole and in order;
//! - a flood of 20 000 chats of 1 KiB (20 MB) from one of four reading clients reaches every
//!   reader whole, in order and without a pause longer than 250 ms, while a client that stopped
//!   reading, one that reads 300 messages a second and one that reads 50 a second each get an
//!   unbroken prefix and then the rest or the slow-consumer notice and their disconnection;
//!   no connection is closed by the heartbeat, and the server's memory grows by 64 MiB at most.
//!
//! The figures are printed (run with `--nocapture` to see them); the guarantee, the readers'
//! longest silence, the route's p99 and the memory bound are asserted.
//!
//! These scenarios load a server to see what it does under load, so they only mean something
//! with an optimised build: they are compiled in release builds only, and `scripts/test` runs
//! them in a step of their own (`cargo test --release -p switchboard-bench --test delivery`).
//! A debug build of seed-chat writes to its sockets about ten times slower than it reads a
//! flooding sender, so its readers fall behind by more than the backlog bound.
#![cfg(not(debug_assertions))]
use std::time::Duration;

use switchboard_bench::{
    delivery::{Pace, bursts, flood, route_under_flood},
    scenario::Limits,
    servers::{Programs, Server, ServerKind},
};

/// The two scenarios load the machine; run them one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn seed_chat() -> Server {
    seed_chat_logging(None)
}

/// seed-chat with `filter` as its `RUST_LOG` (`SEED_CHAT_LOG` wins, to look into a failure).
fn seed_chat_logging(filter: Option<&str>) -> Server {
    // A thousand clients need more than the usual 1024 descriptors, here and in the server
    // (which inherits the limit).
    rlimit::increase_nofile_limit(u64::MAX).expect("raise the open-files limit");
    let programs = Programs::prepare(&[ServerKind::Switchboard]).expect("build seed-chat");
    // SEED_CHAT_LOG becomes the server's RUST_LOG, to look into a failure.
    let env: Vec<(String, String)> = std::env::var("SEED_CHAT_LOG")
        .ok()
        .or(filter.map(str::to_owned))
        .map(|filter| vec![("RUST_LOG".to_owned(), filter)])
        .unwrap_or_default();
    Server::start(ServerKind::Switchboard, &programs, &env).expect("start seed-chat")
}

fn runtime() -> tokio::runtime::Runtime {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "switchboard_bench=debug".into()),
        )
        .with_test_writer()
        .try_init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn limits() -> Limits {
    Limits {
        phase_timeout: Duration::from_secs(180),
        ..Limits::default()
    }
}

#[test]
fn three_bursts_of_200_reach_1000_clients_whole_and_in_order() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = seed_chat();
    let result = runtime()
        .block_on(bursts(server.addr(), 1000, 3, 200, &limits()))
        .unwrap_or_else(|e| {
            panic!(
                "the burst scenario failed: {e}\n--- server log ---\n{}",
                server.log()
            )
        });
    eprintln!(
        "bursts: {} of {} deliveries, {} out of order, {} incomplete clients, burst times {:?}",
        result.received,
        result.expected,
        result.out_of_order,
        result.incomplete_clients,
        result.burst_times
    );
    assert!(
        result.whole(),
        "{result:?}\n--- server log ---\n{}",
        server.log()
    );
    assert!(
        !server.log().contains("slow consumer"),
        "no client of a burst should be a slow consumer:\n{}",
        server.log()
    );
}

#[test]
fn a_flood_reaches_every_reader_while_slow_clients_are_told() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Every namespace disconnection is logged with its reason.
    let server = seed_chat_logging(Some("info,switchboard::namespace::attach=debug"));
    // One client that stops reading, one that reads 300 messages a second, and one that reads
    // 50 a second for longer than an engine.io heartbeat (25 s ping interval + 20 s timeout).
    let slow = [
        Pace::Paused,
        Pace::Steady {
            per_second: 300,
            during: Duration::from_secs(50),
        },
        Pace::Steady {
            per_second: 50,
            during: Duration::from_secs(50),
        },
    ];
    let result = runtime()
        .block_on(flood(
            server.addr(),
            Some(server.pid()),
            4,
            20_000,
            1024,
            &slow,
            &limits(),
        ))
        .unwrap_or_else(|e| {
            panic!(
                "the flood scenario failed: {e}\n--- server log ---\n{}",
                server.log()
            )
        });
    eprintln!("flood: {result:#?}");
    eprintln!(
        "flood: readers {}/{} in {:?}, longest silence {:?}; server RSS {:?} -> peak {:?} -> {:?} KiB (growth {:.1} MiB)",
        result.reader_received,
        result.readers * result.chats,
        result.elapsed,
        result.reader_longest_silence,
        result.rss_before_kib,
        result.rss_peak_kib,
        result.rss_after_kib,
        result.growth_mib().unwrap_or(f64::NAN),
    );
    for client in &result.slow {
        eprintln!(
            "flood: {:?} client: {} in order, notice {}, disconnected {}, closed {}, done after {:?}",
            client.pace,
            client.received,
            client.notice.is_some(),
            client.disconnected,
            client.closed,
            client.done_after
        );
    }
    let evicted = server.log().contains("slow consumer: dropping its backlog");
    if let Err(why) = result.verdict(evicted) {
        panic!("{why}\n--- server log ---\n{}", server.log());
    }
    assert!(
        result.reader_longest_silence <= Duration::from_millis(250),
        "a reader went {:?} without a message while slow clients were behind",
        result.reader_longest_silence
    );
    // socketioxide's words for a socket closed by the heartbeat.
    assert!(
        !server
            .log()
            .contains("client did not send a PONG packet in time"),
        "a socket was closed by the heartbeat before it was told:\n{}",
        server.log()
    );
    let growth = result
        .growth_mib()
        .expect("the server's memory was sampled");
    assert!(
        growth <= 64.0,
        "the server grew by {growth:.1} MiB during the flood"
    );
}

#[test]
fn a_plain_route_answers_while_1000_senders_chat_to_a_room_with_a_stalled_member() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Every namespace disconnection is logged with its reason.
    let server = seed_chat_logging(Some("info,switchboard::namespace::attach=debug"));
    // 1000 senders, one 200-byte chat every 5 s each (200 chats/s, 200 000 deliveries/s).
    let result = runtime()
        .block_on(route_under_flood(
            server.addr(),
            1000,
            Duration::from_secs(5),
            // Longer than engine.io's ping timeout (20 s).
            Duration::from_secs(22),
            200,
            "/",
            &limits(),
        ))
        .unwrap_or_else(|e| {
            panic!(
                "the route scenario failed: {e}\n--- server log ---\n{}",
                server.log()
            )
        });
    eprintln!("route under flood: {result:#?}");
    assert_eq!(
        (result.received, result.out_of_order),
        (result.chats * result.senders as u64, 0),
        "every sender's chats reach every sender, in order"
    );
    assert_eq!(result.failed_requests, 0, "{result:?}");
    assert!(
        result.requests >= 100,
        "the route was asked too rarely: {result:?}"
    );
    assert!(
        result.route_p99 <= Duration::from_millis(50),
        "GET / took {:?} at the 99th percentile while the room was busy",
        result.route_p99
    );
    // The stalled member answers no ping: engine.io's heartbeat, a timer of the server's
    // runtime, closes it at the ping timeout (20 s), during the flood; no reader is closed so.
    // Before, senders held by a stalled member could park every worker and stop the timers.
    let log = server.log();
    let heartbeat = log
        .matches("client did not send a PONG packet in time")
        .count();
    assert!(
        result.stalled.closed && heartbeat == 1,
        "the stalled member, and only it, should be closed by the heartbeat ({heartbeat} heartbeat closes): {:?}\n--- server log ---\n{log}",
        result.stalled,
    );
}

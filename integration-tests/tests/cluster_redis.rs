//! Several server processes on one `redis-server`, driven by the official JavaScript client:
//! `seed-chat` instances sharing rooms, an instance that stops, Redis restarted under traffic,
//! and the cross-instance broadcast latency.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use integration_tests::cluster::{ClusterScenario, Instances, run_cluster_scenario};
use integration_tests::redis::RedisServer;
use integration_tests::{free_port, seed_chat_binary};
use serde_json::json;

const ROOMS_SERVER: &str = env!("CARGO_BIN_EXE_rooms-server");

#[tokio::test(flavor = "multi_thread")]
async fn seed_chat_instances_share_rooms() {
    let redis = RedisServer::start();
    let chat = Instances::start(&seed_chat_binary(), 2, Some(&redis.url()));
    let o = run_cluster_scenario("chat", &chat.urls(), &["--burst", "200"]).await;

    assert_eq!(
        o["ackA"]["ack"],
        json!(null),
        "chat acked without error: {o}"
    );
    assert_eq!(o["ackB"]["ack"], json!(null), "{o}");
    let (from_a, from_b) = (o["fromA"].clone(), o["fromB"].clone());
    // Greetings and chats cross instances, within the namespace only.
    assert_eq!(
        o["messages"]["a"],
        json!(["Hello soccer fans!", "Hello soccer fans!", from_a, from_b]),
        "{o}"
    );
    assert_eq!(
        o["messages"]["b"],
        json!(["Hello soccer fans!", from_a, from_b]),
        "{o}"
    );
    assert_eq!(
        o["messages"]["moviesA"],
        json!(["Hello comedy fans!", "Hello comedy fans!"]),
        "nothing crosses namespaces: {o}"
    );
    assert_eq!(
        o["messages"]["moviesB"],
        json!(["Hello comedy fans!"]),
        "{o}"
    );

    // 200 chats sent back to back arrive whole and in order on the other instance.
    let burst: Vec<String> = (0..200).map(|i| format!("burst {i}")).collect();
    assert_eq!(o["burstAtB"], json!(burst), "burst at the other instance");
    // The sender's own copies arrive whole and in order too: at switchboard's default
    // per-socket buffer (1024 packets) the sender's copies and acks fit while it sends.
    let at_a: Vec<u64> = o["burstAtA"]
        .as_array()
        .expect("burstAtA")
        .iter()
        .filter_map(|m| m.as_str()?.strip_prefix("burst ")?.parse().ok())
        .collect();
    assert_eq!(
        at_a,
        (0..200).collect::<Vec<u64>>(),
        "the sender's own copies: {o}"
    );
    eprintln!(
        "200-chat burst across instances took {} ms; the sender got {} of its own copies",
        o["burstMs"],
        at_a.len()
    );
}

#[test]
fn seed_chat_refuses_to_start_without_its_redis() {
    let port = free_port().to_string();
    let dead = format!("redis://:secret@127.0.0.1:{}", free_port());
    let out = Command::new(seed_chat_binary())
        .env("PORT", &port)
        .env("REDIS_URL", &dead)
        .stdin(Stdio::null())
        .output()
        .expect("run seed-chat");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "seed-chat started without Redis:\n{stderr}"
    );
    let shown = dead.replace(":secret@", ":***@");
    assert!(
        stderr.contains(&format!("cannot reach Redis at {shown}")),
        "the error names the URL:\n{stderr}"
    );
    assert!(
        !stderr.contains("secret"),
        "the password is not printed:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_instance_leaves_the_rooms_everywhere() {
    let redis = RedisServer::start();
    let mut rooms = Instances::start(Path::new(ROOMS_SERVER), 2, Some(&redis.url()));
    let mut scenario = ClusterScenario::start("instance-stops", &rooms.urls(), &[]).await;
    scenario.wait_phase("ready").await;
    drop(rooms.servers.pop()); // kills the second instance
    let o = scenario.finish().await;
    assert_eq!(o["before"], json!(["a", "b"]), "{o}");
    assert_eq!(o["after"], json!(["a"]), "{o}");
    assert_eq!(o["allRooms"], json!(["red"]), "{o}");
    eprintln!(
        "the stopped instance's socket left `red` after {} ms",
        o["leftAfterMs"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_restart_during_traffic_recovers() {
    let mut redis = RedisServer::start();
    let rooms = Instances::start(Path::new(ROOMS_SERVER), 2, Some(&redis.url()));
    let mut scenario =
        ClusterScenario::start("redis-restart", &rooms.urls(), &["--deadline", "90000"]).await;
    scenario.wait_phase("ready").await;
    redis.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.restart();
    scenario.send("restarted").await;
    let o = scenario.finish().await;
    eprintln!(
        "redis restart: {} ticks, remote missed {}, recovered {} ms after Redis answered, slowest ack {} ms",
        o["ticks"],
        o["missingRemote"].as_array().map_or(0, Vec::len),
        o["recoveryMs"],
        o["maxAckMs"]
    );

    // Local clients were served throughout: every tick acked, every tick delivered locally.
    assert_eq!(o["failedAcks"], json!([]), "{o}");
    assert_eq!(o["missingLocal"], json!([]), "{o}");
    assert!(
        o["maxAckMs"].as_u64().is_some_and(|ms| ms < 3000),
        "a handler stalled: {o}"
    );
    // Cross-instance delivery stopped during the outage and resumed within seconds.
    assert!(
        !o["missingRemote"].as_array().is_some_and(Vec::is_empty),
        "nothing was lost? {o}"
    );
    assert!(o["recoveryMs"].as_u64().is_some_and(|ms| ms < 5000), "{o}");
    let last = o["lastTick"].as_u64().expect("lastTick");
    let missing: Vec<u64> = o["missingRemote"]
        .as_array()
        .expect("missingRemote")
        .iter()
        .filter_map(|v| v.as_u64())
        .collect();
    let first_after = o["firstDeliveredAfterRestart"]
        .as_u64()
        .expect("first delivered");
    assert!(
        missing.iter().all(|&t| t < first_after),
        "after recovery every tick crosses again (missing {missing:?}, recovered at {first_after}, last {last}): {o}"
    );
    // The sender's instance counted the failures, the disconnect and the reconnect.
    let stats = &o["statsSender"];
    assert_eq!(stats["connected"], true, "{o}");
    assert!(stats["publishFailures"].as_u64() > Some(0), "{o}");
    assert!(stats["disconnects"].as_u64() >= Some(1), "{o}");
    assert!(stats["reconnects"].as_u64() >= Some(1), "{o}");
    assert_eq!(o["statsRemote"]["connected"], true, "{o}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_instance_broadcast_latency() {
    let redis = RedisServer::start();
    let chat = Instances::start(&seed_chat_binary(), 2, Some(&redis.url()));
    let o = run_cluster_scenario("latency", &chat.urls(), &["--count", "500"]).await;
    let (remote, local) = (&o["crossInstance"], &o["local"]);
    eprintln!(
        "chat latency over loopback, {} sequential chats: cross-instance p50 {} ms, p99 {} ms, \
         max {} ms; same instance p50 {} ms, p99 {} ms",
        remote["n"], remote["p50"], remote["p99"], remote["max"], local["p50"], local["p99"]
    );
    assert_eq!(remote["n"], 500, "{o}");
    // Loose bound: the machine is shared; the figures above are the measurement.
    assert!(remote["p99"].as_f64().is_some_and(|ms| ms < 250.0), "{o}");
}

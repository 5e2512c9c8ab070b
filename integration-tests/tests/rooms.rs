//! The room contract, checked the same way on every room adapter: one test body
//! ([`room_contract`]), run against `rooms-server` in memory (one process) and on Redis (two
//! processes sharing one `redis-server`, clients spread over both).
//!
//! What differs between the two is only where the sockets are; every expectation is written
//! once, in terms of which instance each client landed on.
use std::path::Path;

use integration_tests::cluster::{Instances, run_cluster_scenario};
use integration_tests::redis::RedisServer;
use serde_json::{Value, json};

const ROOMS_SERVER: &str = env!("CARGO_BIN_EXE_rooms-server");

/// Drives `/rooms` on `instances` with `js/cluster.mjs rooms` and checks every observation.
async fn room_contract(instances: &Instances) {
    let o = run_cluster_scenario("rooms", &instances.urls(), &[]).await;
    let on = |label: &str| o["instances"][label].as_str().expect("instance").to_owned();
    if instances.servers.len() > 1 {
        assert_ne!(on("a"), on("b"), "a and b are on different instances: {o}");
        assert_eq!(on("a"), on("c"), "a and c share an instance: {o}");
    }

    // A socket's own rooms, and join/leave from its handler.
    assert_eq!(o["joinA"], json!(["red"]), "{o}");
    assert_eq!(o["joinB"], json!(["red"]), "{o}");
    assert_eq!(o["joinC"], json!(["blue"]), "{o}");
    assert_eq!(o["joinD"], json!(["red"]), "{o}");
    assert_eq!(
        o["leaveC"],
        json!(["blue"]),
        "leaving a room one is not in: {o}"
    );

    // Members of a room, on every instance (`fetch_sockets`); only local ones with `sockets`.
    assert_eq!(
        o["membersRed"],
        json!(["a", "b"]),
        "the other namespace's `red` is not counted: {o}"
    );
    assert_eq!(o["membersBlue"], json!(["c"]), "{o}");
    assert_eq!(o["membersNone"], json!([]), "{o}");
    let local_red: Vec<&str> = ["a", "b"]
        .into_iter()
        .filter(|l| on(l) == on("a"))
        .collect();
    assert_eq!(o["localMembersRedFromA"], json!(local_red), "{o}");
    assert_eq!(
        o["allRooms"],
        json!(["blue", "red"]),
        "rooms of the namespace everywhere: {o}"
    );

    // Broadcasts: to rooms, with except, from a socket (sender left out) or from the handle.
    let messages = &o["messages"];
    assert_eq!(
        messages["a"],
        json!([
            "everyone",
            "red and blue except blue",
            "red from the handle"
        ]),
        "{o}"
    );
    assert_eq!(
        messages["b"],
        json!([
            "everyone",
            "red and blue except blue",
            "red from a's socket",
            "red from the handle"
        ]),
        "{o}"
    );
    assert_eq!(
        messages["c"],
        json!(["blue from the handle", "everyone", "everyone except red"]),
        "{o}"
    );
    assert_eq!(messages["d"], json!([]), "nothing crosses namespaces: {o}");

    // Sockets matched by room join, leave and are disconnected wherever they are.
    assert_eq!(o["membersGreen"], json!(["a", "b"]), "{o}");
    assert_eq!(
        o["roomsOfGreen"],
        json!({ "a": ["green", "red"], "b": ["green", "red"] }),
        "{o}"
    );
    assert_eq!(
        o["bRoomsAfterRemoteJoin"],
        json!(["green", "red"]),
        "b's own view: {o}"
    );
    assert_eq!(o["membersRedAfterRemoteLeave"], json!([]), "{o}");
    assert_eq!(o["bRoomsAfterRemoteLeave"], json!(["green"]), "{o}");
    assert_eq!(
        o["dRoomsAtTheEnd"],
        json!(["red"]),
        "other namespace untouched: {o}"
    );
    assert_eq!(o["cDisconnect"], "io server disconnect", "{o}");
    assert_eq!(o["membersBlueAfterDisconnect"], json!([]), "{o}");
    assert_eq!(o["aStillConnected"], Value::Bool(true), "{o}");
    assert_eq!(o["bStillConnected"], Value::Bool(true), "{o}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rooms_in_memory() {
    let instances = Instances::start(Path::new(ROOMS_SERVER), 1, None);
    room_contract(&instances).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rooms_on_redis_across_two_instances() {
    let redis = RedisServer::start();
    let instances = Instances::start(Path::new(ROOMS_SERVER), 2, Some(&redis.url()));
    room_contract(&instances).await;
}

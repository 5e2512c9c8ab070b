//! The benchmark harness: the seed program on switchboard against the alternatives a user would
//! pick instead, measured on the same machine in the same run.
//!
//! Four servers run the seed program (two namespaces, a room joined on connect, a greeting
//! broadcast, `chat` re-broadcast to a room):
//!
//! - `switchboard`: the `seed-chat` example at its default configuration;
//! - `socketioxide`: the same program written directly on socketioxide
//!   (`src/bin/socketioxide-seed.rs`), with the same socketioxide features and configuration;
//! - `node`: Node socket.io 4.8 running the seed's own `server.js` (`node/`, installed with
//!   `npm ci` from the pinned lock file);
//! - `raw`: an axum websocket server that speaks just enough engine.io / socket.io framing to
//!   send the same frames (`src/bin/raw-floor.rs`): the floor for any Socket.IO server on this
//!   stack.
//!
//! The load generator ([`client`]) speaks engine.io v4 / socket.io v5 over a websocket itself,
//! so one process can hold ten thousand clients. The scenarios ([`scenario`]) are fan-out,
//! chat round trip and idle connections; the harness binary (`src/bin/harness.rs`) starts each
//! server ([`servers`]) on a free port, runs the scenarios round after round with the servers'
//! order rotated, and prints medians and spreads ([`report`]); `--write-docs` rewrites
//! `docs/benchmarks.md` and its chart.
//!
//! ```sh
//! cargo run --release -p switchboard-bench --bin harness -- --write-docs
//! ```

pub mod client;
pub mod delivery;
pub mod machine;
pub mod report;
pub mod scenario;
pub mod servers;

#!/usr/bin/env node
// Moves every metric a switchboard server counts for one namespace, with the official
// socket.io-client, and reads the server's Prometheus endpoint while the clients are still
// connected. Like scenario.mjs it only observes: the last line of stdout is one JSON object and
// the Rust test (integration-tests/tests/metrics.rs) asserts on it.
//
//   node metrics.mjs drive <baseUrl> [--flag value]...
//
// `drive`, in this order, so that every count is exact:
//   1. `--clients` sockets join `--ns` (each on its own connection) and wait for their greetings;
//   2. the first sends `chat` to `--room` with an ack, the last one without; every member
//      receives both messages;
//   3. the first emits `--unknown` and `--random` (event names the server has no handler for),
//      each with an ack;
//   4. `--refused` more sockets ask for `--ns` without `--auth` and get connect_error;
//   5. GET `<baseUrl><--metrics-path>`: the text is returned as `metrics`.
// The clients disconnect when the script ends.
//
// Flags: --ns /sports  --room soccer  --clients 3  --unknown nope  --random <name>
//        --refused 0  --auth '{"token":"x"}'  --metrics-path /metrics
//        --transports polling|websocket|default  --timeout 5000  --deadline 30000

import { Clients, ScenarioError, parseArgs } from "./lib.mjs";

const DEFAULTS = {
  transports: "default",
  ns: "/sports",
  room: "soccer",
  path: "/socket.io/",
  auth: "",
  clients: 3,
  unknown: "nope",
  random: "",
  refused: 0,
  metricsPath: "/metrics",
  timeout: 5000,
  deadline: 30000,
};

async function drive(c, o, baseUrl) {
  if (o.clients < 1) throw new ScenarioError("--clients must be at least 1");
  const members = [];
  for (let i = 0; i < o.clients; i++) {
    const m = c.client(`member${i}`, o.ns);
    await m.connect();
    members.push(m);
    // Every member already in the room sees the newcomer's greeting.
    for (const [j, earlier] of members.entries()) {
      await earlier.waitUntil(() => earlier.payloads().length >= i - j + 1, `greeting #${i - j + 1}`);
    }
  }
  const first = members[0];
  const last = members.at(-1);
  const chatAck = await first.emitWithAck("chat", [{ room: o.room, message: "with ack" }]);
  last.socket.emit("chat", { room: o.room, message: "without ack" });
  for (const m of members) {
    await m.waitUntil(() => m.payloads().includes("with ack") && m.payloads().includes("without ack"), "both chats");
  }
  const unknownAck = await first.emitWithAck(o.unknown, [{ room: o.room, message: "nobody handles this" }]);
  const randomAck = o.random ? await first.emitWithAck(o.random, ["made up by the client"]) : null;

  const refusals = [];
  for (let i = 0; i < o.refused; i++) {
    const r = c.client(`refused${i}`, o.ns, { auth: undefined });
    r.socket.connect();
    await r.waitUntil(() => r.count("connect_error") + r.count("connect") >= 1, "connect_error");
    const error = r.lifecycle.find((e) => e.kind === "connect_error");
    refusals.push({ connected: r.socket.connected, message: error?.message ?? null });
    r.close();
  }

  const response = await fetch(baseUrl + o.metricsPath, { signal: AbortSignal.timeout(o.timeout) });
  return {
    chatAck,
    unknownAck,
    randomAck,
    refusals,
    connected: members.map((m) => m.socket.connected),
    status: response.status,
    contentType: response.headers.get("content-type"),
    metrics: await response.text(),
  };
}

const SCENARIOS = { drive };

async function main() {
  const { name, baseUrl, opts } = parseArgs(process.argv.slice(2), DEFAULTS);
  const run = SCENARIOS[name];
  if (!run) throw new ScenarioError(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(", ")}`);
  const clients = new Clients(baseUrl, opts);
  const watchdog = setTimeout(() => fail(new ScenarioError(`${name} did not finish within ${opts.deadline} ms`)), opts.deadline);
  try {
    const observed = await run(clients, opts, baseUrl);
    const line = JSON.stringify({ scenario: name, baseUrl, ...observed });
    clearTimeout(watchdog);
    clients.closeAll();
    process.stdout.write(line + "\n");
    process.exit(0);
  } catch (err) {
    fail(err);
  }
}

function fail(err) {
  const what = err instanceof ScenarioError ? err.message : err?.stack ?? String(err);
  process.stderr.write(`metrics.mjs failed: ${what}\n`);
  process.exit(1);
}

main().catch(fail);

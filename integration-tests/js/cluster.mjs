#!/usr/bin/env node
// Drives several switchboard instances (one Redis) with the official socket.io-client and
// prints what it saw. The Rust side (integration-tests/src/cluster.rs) asserts on it.
//
//   node cluster.mjs <scenario> <url0,url1,...> [--flag value]...
//
// Scenarios:
//   rooms           the room contract on the `rooms-server` /rooms namespace: join/leave,
//                   broadcast with except, members, rooms, remote join/leave/disconnect.
//                   One URL (in memory) or two (Redis): the same observations are expected.
//   chat            seed-chat: cross-instance greetings and chat, a burst of --burst chats.
//   instance-stops  rooms-server: prints {"phase":"ready"}, waits for the second instance to
//                   die (the Rust side kills it), then checks its sockets left the rooms.
//   redis-restart   rooms-server: chat traffic; prints {"phase":"ready"}, then waits for the
//                   line "restarted" on stdin (Redis was stopped and started again) and
//                   measures until cross-instance delivery resumes.
//   latency         seed-chat: --count sequential chats from url0 to a member on url1; the
//                   cross-instance and local delivery latency (p50/p99/max, ms).
//
// Like scenario.mjs: the last line of stdout is one JSON object; intermediate stdout lines
// are JSON objects with a `phase`; diagnostics go to stderr.

import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";
import { Clients, ScenarioError, parseArgs, sleep, waitFor } from "./lib.mjs";

const DEFAULTS = {
  transports: "default",
  path: "/socket.io/",
  auth: "",
  timeout: 5000,
  settle: 500,
  deadline: 60000,
  burst: 200,
  count: 500,
  interval: 50,
};

const SCENARIOS = {
  rooms,
  chat,
  "instance-stops": instanceStops,
  "redis-restart": redisRestart,
  latency,
};

/** Lines written to our stdin by the Rust side, one promise per line. */
const stdinLines = (() => {
  const queue = [];
  const waiting = [];
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => (waiting.length ? waiting.shift()(line) : queue.push(line)));
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r)));
})();

function phase(name, extra = {}) {
  process.stdout.write(JSON.stringify({ phase: name, ...extra }) + "\n");
}

/** Emits `event` and returns the handler's value; throws on an ack error or timeout. */
async function call(cl, event, ...args) {
  const res = await cl.emitWithAck(event, args);
  if (res.ackTimeout) throw new ScenarioError(`${cl.label}: no ack for ${event} ${JSON.stringify(args)}`);
  if (res.ack && typeof res.ack === "object" && "error" in res.ack) {
    throw new ScenarioError(`${cl.label}: ${event} ${JSON.stringify(args)} failed: ${JSON.stringify(res.ack.error)}`);
  }
  return res.ack;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, i)] * 1000) / 1000;
}

function summary(values) {
  const s = [...values].sort((x, y) => x - y);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.length ? percentile(s, 100) : null };
}

/** The room contract. With one URL every client is on it; with two, a and c are on the
 *  first, b and d on the second. */
async function rooms(cs, o) {
  const at = (i) => cs[i % cs.length];
  const a = at(0).client("a", "/rooms");
  const b = at(1).client("b", "/rooms");
  const c = at(2).client("c", "/rooms");
  const d = at(1).client("d", "/other");
  for (const cl of [a, b, c, d]) await cl.connect();
  const ids = Object.fromEntries([a, b, c, d].map((cl) => [cl.socket.id, cl.label]));
  const label = (id) => ids[id] ?? id;
  const labels = (list) => list.map(label).sort();
  const out = { instances: {} };
  for (const cl of [a, b, c]) out.instances[cl.label] = (await call(cl, "whoami")).instance;

  out.joinA = await call(a, "join", "red");
  out.joinB = await call(b, "join", "red");
  out.joinC = await call(c, "join", "blue");
  out.joinD = await call(d, "join", "red");
  out.leaveC = await call(c, "leave", "nowhere");
  out.membersRed = labels(await call(c, "members", "red"));
  out.membersBlue = labels(await call(a, "members", "blue"));
  out.membersNone = labels(await call(a, "members", "nowhere"));
  out.localMembersRedFromA = labels(await call(a, "local-members", "red"));
  out.allRooms = (await call(a, "all-rooms")).filter((r) => !(r in ids)).sort();

  const sends = [
    [a, { to: ["red"], from_socket: true, data: "red from a's socket" }],
    [c, { to: ["red"], data: "red from the handle" }],
    [a, { to: ["red", "blue"], except: ["blue"], data: "red and blue except blue" }],
    [b, { to: ["blue"], data: "blue from the handle" }],
    [b, { data: "everyone" }],
    [c, { except: ["red"], data: "everyone except red" }],
  ];
  for (const [cl, req] of sends) await call(cl, "emit", req);
  await sleep(o.settle);
  out.messages = Object.fromEntries([a, b, c, d].map((cl) => [cl.label, cl.payloads().sort()]));

  await call(c, "remote-join", { room: "red", target: "green" });
  out.membersGreen = labels(await call(c, "members", "green"));
  out.roomsOfGreen = Object.fromEntries(
    Object.entries(await call(a, "rooms-of", "green")).map(([id, r]) => [label(id), r]),
  );
  out.bRoomsAfterRemoteJoin = await call(b, "rooms");
  await call(a, "remote-leave", { room: "green", target: "red" });
  out.membersRedAfterRemoteLeave = labels(await call(c, "members", "red"));
  out.bRoomsAfterRemoteLeave = await call(b, "rooms");
  out.dRoomsAtTheEnd = await call(d, "rooms");

  await call(b, "remote-disconnect", "blue");
  await c.waitUntil(() => c.count("disconnect") >= 1, "c disconnected by the server");
  out.cDisconnect = c.lifecycle.find((e) => e.kind === "disconnect").reason;
  out.membersBlueAfterDisconnect = labels(await call(a, "members", "blue"));
  out.aStillConnected = a.socket.connected;
  out.bStillConnected = b.socket.connected;
  return out;
}

/** seed-chat on two instances: greetings and chat cross, namespaces do not. */
async function chat(cs, o) {
  const [u0, u1] = cs;
  const a = u0.client("a", "/sports");
  const b = u1.client("b", "/sports");
  const mA = u0.client("moviesA", "/movies");
  const mB = u1.client("moviesB", "/movies");
  await a.connect();
  await a.waitUntil(() => a.payloads().length >= 1, "own greeting");
  await b.connect();
  await b.waitUntil(() => b.payloads().length >= 1, "own greeting");
  await a.waitUntil(() => a.payloads().length >= 2, "b's greeting, from the other instance");
  await mA.connect();
  await mA.waitUntil(() => mA.payloads().length >= 1, "own greeting");
  await mB.connect();
  await mB.waitUntil(() => mB.payloads().length >= 1, "own greeting");
  await mA.waitUntil(() => mA.payloads().length >= 2, "moviesB's greeting, from the other instance");

  const fromA = "a on the first instance says hi";
  const fromB = "b on the second instance says hi";
  const ackA = await a.emitWithAck("chat", [{ room: "soccer", message: fromA }]);
  await b.waitUntil(() => b.payloads().includes(fromA), `"${fromA}"`);
  const ackB = await b.emitWithAck("chat", [{ room: "soccer", message: fromB }]);
  await a.waitUntil(() => a.payloads().includes(fromB), `"${fromB}"`);

  const burst = Array.from({ length: o.burst }, (_, i) => `burst ${i}`);
  const t0 = performance.now();
  for (const message of burst) a.socket.emit("chat", { room: "soccer", message });
  const isBurst = (m) => typeof m === "string" && m.startsWith("burst ");
  await b.waitUntil(() => b.payloads().filter(isBurst).length >= burst.length, `${burst.length} burst chats`, 20000);
  const burstMs = performance.now() - t0;
  // The sender's own copies go through its server's per-socket buffer (socketioxide's
  // max_buffer_size, 128 packets by default), which a burst can overflow: observed, not
  // awaited (the Rust side asserts they come in order).
  await a.waitUntil(() => a.payloads().filter(isBurst).length >= burst.length, "own burst chats", 2000).catch(() => {});
  await sleep(o.settle);
  return {
    ackA,
    ackB,
    fromA,
    fromB,
    burst: burst.length,
    burstMs: Math.round(burstMs),
    burstAtB: b.payloads().filter(isBurst),
    burstAtA: a.payloads().filter(isBurst),
    messages: Object.fromEntries([a, b, mA, mB].map((cl) => [cl.label, cl.payloads().filter((m) => !isBurst(m))])),
  };
}

/** The second instance dies: its sockets leave the rooms seen from the first. */
async function instanceStops(cs, o) {
  const [u0, u1] = cs;
  const a = u0.client("a", "/rooms");
  const b = u1.client("b", "/rooms", { reconnection: false });
  for (const cl of [a, b]) await cl.connect();
  const ids = { [a.socket.id]: "a", [b.socket.id]: "b" };
  const labels = (list) => list.map((id) => ids[id] ?? id).sort();
  await call(a, "join", "red");
  await call(b, "join", "red");
  const before = labels(await call(a, "members", "red"));
  phase("ready");
  await b.waitUntil(() => b.count("disconnect") >= 1, "b's instance to stop", 20000);
  const t0 = performance.now();
  let after = null;
  // Poll: each `members` asks the instances still subscribed.
  while (performance.now() - t0 < 15000) {
    after = labels(await call(a, "members", "red"));
    if (after.length === 1) break;
    await sleep(100);
  }
  const leftAfterMs = Math.round(performance.now() - t0);
  await call(a, "emit", { to: ["red"], data: "still serving" });
  await a.waitUntil(() => a.payloads().includes("still serving"), "a broadcast after the stop");
  return { before, after, leftAfterMs, allRooms: (await call(a, "all-rooms")).filter((r) => !(r in ids)) };
}

/** Traffic while Redis is stopped and started again. */
async function redisRestart(cs, o) {
  const [u0, u1] = cs;
  const sender = u0.client("sender", "/rooms");
  const local = u0.client("local", "/rooms");
  const remote = u1.client("remote", "/rooms");
  for (const cl of [sender, local, remote]) {
    await cl.connect();
    await call(cl, "join", "red");
  }
  const sent = [];
  const receivedAt = { local: new Map(), remote: new Map() };
  for (const [name, cl] of [["local", local], ["remote", remote]]) {
    cl.socket.on("message", (m) => {
      if (m && typeof m === "object" && "tick" in m) receivedAt[name].set(m.tick, performance.now());
    });
  }
  let restartedAt = null;
  let stop = false;
  let tick = 0;
  const traffic = (async () => {
    while (!stop) {
      const i = tick++;
      const at = performance.now();
      const res = await sender.emitWithAck("emit", [{ to: ["red"], data: { tick: i } }]);
      sent.push({ tick: i, at, ackMs: Math.round(performance.now() - at), ok: !res.ackTimeout && res.ack === true });
      await sleep(o.interval);
    }
  })();
  await sleep(1000);
  const statsBefore = await call(sender, "stats");
  phase("ready");
  const line = await stdinLines();
  if (line.trim() !== "restarted") throw new ScenarioError(`expected "restarted" on stdin, got ${line}`);
  restartedAt = performance.now();
  const firstTickAfter = tick;
  // Recovered: the remote member receives ticks sent after the restart again.
  await waitFor(
    () => [...receivedAt.remote.keys()].some((t) => t >= firstTickAfter),
    "cross-instance delivery after the Redis restart",
    15000,
  );
  const recoveredAt = Math.min(
    ...[...receivedAt.remote.entries()].filter(([t]) => t >= firstTickAfter).map(([, at]) => at),
  );
  const firstDelivered = Math.min(...[...receivedAt.remote.keys()].filter((t) => t >= firstTickAfter));
  await sleep(1000);
  stop = true;
  await traffic;
  await sleep(o.settle);
  const lastTick = tick - 1;
  const missingAt = (name) => sent.map((s) => s.tick).filter((t) => !receivedAt[name].has(t));
  return {
    ticks: sent.length,
    firstTickAfterRestart: firstTickAfter,
    firstDeliveredAfterRestart: firstDelivered,
    recoveryMs: Math.round(recoveredAt - restartedAt),
    failedAcks: sent.filter((s) => !s.ok).map((s) => s.tick),
    maxAckMs: Math.max(...sent.map((s) => s.ackMs)),
    missingLocal: missingAt("local"),
    missingRemote: missingAt("remote"),
    lastTick,
    statsBefore,
    statsSender: await call(sender, "stats"),
    statsRemote: await call(remote, "stats"),
  };
}

/** Sequential chats from url0 to a room member on url1; latency of each delivery. */
async function latency(cs, o) {
  const [u0, u1] = cs;
  const a = u0.client("a", "/sports", { transports: ["websocket"] });
  const b = u1.client("b", "/sports", { transports: ["websocket"] });
  await a.connect();
  await b.connect();
  await a.waitUntil(() => a.payloads().length >= 2, "greetings");
  const remote = [];
  const local = [];
  for (let i = 0; i < o.count; i++) {
    const message = `latency ${i}`;
    const t0 = performance.now();
    let tA = null;
    let tB = null;
    const onA = (m) => m === message && (tA = performance.now());
    const onB = (m) => m === message && (tB = performance.now());
    a.socket.on("message", onA);
    b.socket.on("message", onB);
    a.socket.emit("chat", { room: "soccer", message });
    await waitFor(() => tA !== null && tB !== null, `"${message}" at both`, o.timeout);
    a.socket.off("message", onA);
    b.socket.off("message", onB);
    remote.push(tB - t0);
    local.push(tA - t0);
  }
  return { crossInstance: summary(remote), local: summary(local) };
}

async function main() {
  const { name, baseUrl, opts } = parseArgs(process.argv.slice(2), DEFAULTS);
  const run = SCENARIOS[name];
  if (!run) throw new ScenarioError(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(", ")}`);
  const urls = baseUrl.split(",").map((u) => u.replace(/\/+$/, ""));
  const clients = urls.map((u) => new Clients(u, opts));
  const all = () => clients.flatMap((c) => c.all);
  const watchdog = setTimeout(() => {
    fail(new ScenarioError(`scenario ${name} did not finish within --deadline ${opts.deadline} ms`), all());
  }, opts.deadline);
  try {
    const observed = await run(clients, opts);
    const line = JSON.stringify({ scenario: name, urls, ...observed });
    clearTimeout(watchdog);
    for (const c of clients) c.closeAll();
    process.stdout.write(line + "\n");
    process.exit(0);
  } catch (err) {
    fail(err, all());
  }
}

function fail(err, seen) {
  const what = err instanceof ScenarioError ? err.message : err?.stack ?? String(err);
  process.stderr.write(`scenario failed: ${what}\n`);
  try {
    if (seen?.length) process.stderr.write(`observed so far: ${JSON.stringify(seen.map((cl) => cl.summary()))}\n`);
  } catch {
    // Reporting must not hide the original failure.
  }
  process.exit(1);
}

main().catch((err) => fail(err, null));

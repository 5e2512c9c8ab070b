#!/usr/bin/env node
// Drives a switchboard server with the official socket.io-client and prints what it saw.
//
//   node scenario.mjs <scenario> <baseUrl> [--flag value]...
//
// Scenarios: greetings, chat, isolation, unknown-namespace, ack-errors, reconnect, http-get.
// Flags (all optional):
//   --transports polling|websocket|default   client transports (default: default, i.e.
//                                            polling first, then upgrade to websocket)
//   --ns /sports --room soccer               the namespace under test and the room its
//                                            sockets join on connect
//   --other-ns /movies --other-room comedy   a second namespace, for isolation checks
//                                            (`--other-ns ""`: none; greetings and chat
//                                            then use only --ns)
//   --unknown-ns /nope                       a namespace the server does not have
//   --clients 3                              room members in `chat`
//   --path /socket.io/                       Socket.IO path on the server
//   --auth '{"token":"x"}'                   handshake auth payload (JSON)
//   --timeout 5000                           deadline of each single wait, in ms
//   --settle 300                             quiet time after the last expected event, in
//                                            ms, so that unexpected extra events get recorded
//   --deadline 30000                         the whole scenario's deadline, in ms
//   --target /                               `http-get`: the path to fetch
//   --how engine|transport                   `reconnect`: close the whole engine.io socket
//                                            (engine) or only its transport, as a network
//                                            drop would (transport)
//
// The last line of stdout is one JSON object; exit code 0 means the scenario ran to its end.
// The assertions live on the Rust side (integration-tests/tests/).

import { Clients, ScenarioError, parseArgs, sleep, waitFor } from "./lib.mjs";

const DEFAULTS = {
  transports: "default",
  ns: "/sports",
  room: "soccer",
  otherNs: "/movies",
  otherRoom: "comedy",
  unknownNs: "/nope",
  clients: 3,
  path: "/socket.io/",
  auth: "",
  timeout: 5000,
  settle: 300,
  deadline: 30000,
  how: "engine",
  target: "/",
};

const SCENARIOS = {
  greetings,
  chat,
  isolation,
  "unknown-namespace": unknownNamespace,
  "ack-errors": ackErrors,
  reconnect,
  "http-get": httpGet,
};

/** Connects one socket to each namespace over one multiplexed connection; records greetings
 *  and the transport once the upgrade (if any) has settled. */
async function greetings(c, o) {
  const manager = c.manager();
  const upgrades = [];
  const main = c.multiplexed("main", manager, o.ns);
  const other = o.otherNs ? c.multiplexed("other", manager, o.otherNs) : null;
  const connected = main.connect();
  // connect() creates the engine synchronously: listen before any upgrade can happen.
  let initialTransport = null;
  manager.engine.on("open", () => (initialTransport = manager.engine.transport.name));
  manager.engine.on("upgrade", (t) => upgrades.push({ kind: "upgrade", transport: t.name }));
  manager.engine.on("upgradeError", (e) => upgrades.push({ kind: "upgradeError", message: e?.message }));
  await connected;
  await other?.connect();
  await main.waitUntil(() => main.payloads().length >= 1, "greeting");
  await other?.waitUntil(() => other.payloads().length >= 1, "greeting");
  if (o.transports === "default") {
    // The upgrade is best effort on the client side: record what happened instead of failing,
    // the Rust test asserts the final transport.
    await main
      .waitUntil(() => main.transport() === "websocket" || upgrades.length > 0, "upgrade")
      .catch((err) => upgrades.push({ kind: "noUpgrade", message: err.message }));
  }
  await sleep(o.settle);
  return {
    initialTransport,
    transport: main.transport(),
    upgrades,
    sameConnection: other ? main.socket.io === other.socket.io : null,
    clients: other ? [main.summary(), other.summary()] : [main.summary()],
  };
}

/** `--clients` members of the room plus one socket in the other namespace; two members chat
 *  (one with an ack, one without). */
async function chat(c, o) {
  const members = [];
  for (let i = 0; i < o.clients; i++) {
    const m = c.client(`member${i}`, o.ns);
    await m.connect();
    members.push(m);
    // Every member already in the room sees the newcomer's greeting: wait for all of them so
    // the order of messages is deterministic.
    for (const [j, earlier] of members.entries()) {
      await earlier.waitUntil(() => earlier.payloads().length >= i - j + 1, `greeting #${i - j + 1}`);
    }
  }
  const outsider = o.otherNs ? c.client("outsider", o.otherNs) : null;
  await outsider?.connect();
  await outsider?.waitUntil(() => outsider.payloads().length >= 1, "greeting");

  const first = `hello ${o.room} from member0`;
  const withAck = await members[0].emitWithAck("chat", [{ room: o.room, message: first }]);
  for (const m of members) await m.waitUntil(() => m.payloads().includes(first), `"${first}"`);

  const second = `hello ${o.room} from member${members.length - 1}`;
  members.at(-1).socket.emit("chat", { room: o.room, message: second });
  for (const m of members) await m.waitUntil(() => m.payloads().includes(second), `"${second}"`);

  await sleep(o.settle);
  return {
    first,
    second,
    withAck,
    members: members.map((m) => m.summary()),
    outsider: outsider?.summary() ?? null,
  };
}

/** Namespaces do not leak into each other, not even over one multiplexed connection, and a
 *  socket cannot chat to a room it is not in (including a room of another namespace). */
async function isolation(c, o) {
  if (!o.otherNs) throw new ScenarioError("isolation needs a second namespace (--other-ns)");
  const manager = c.manager();
  const muxMain = c.multiplexed("muxMain", manager, o.ns);
  const muxOther = c.multiplexed("muxOther", manager, o.otherNs);
  const main = c.client("main", o.ns);
  const other = c.client("other", o.otherNs);
  for (const cl of [muxMain, muxOther]) {
    await cl.connect();
    await cl.waitUntil(() => cl.payloads().length >= 1, "own greeting");
  }
  for (const cl of [main, other]) {
    await cl.connect();
    await cl.waitUntil(() => cl.payloads().length >= 1, "own greeting");
  }
  await muxMain.waitUntil(() => muxMain.payloads().length >= 2, "greeting of `main`");
  await muxOther.waitUntil(() => muxOther.payloads().length >= 2, "greeting of `other`");
  const all = [muxMain, muxOther, main, other];
  const counts = () => all.map((cl) => cl.events.length);

  const toMain = `only for ${o.ns} ${o.room}`;
  const toMainAck = await main.emitWithAck("chat", [{ room: o.room, message: toMain }]);
  await muxMain.waitUntil(() => muxMain.payloads().includes(toMain), `"${toMain}"`);
  await main.waitUntil(() => main.payloads().includes(toMain), `"${toMain}"`);

  const toOther = `only for ${o.otherNs} ${o.otherRoom}`;
  const toOtherAck = await other.emitWithAck("chat", [{ room: o.otherRoom, message: toOther }]);
  await muxOther.waitUntil(() => muxOther.payloads().includes(toOther), `"${toOther}"`);
  await other.waitUntil(() => other.payloads().includes(toOther), `"${toOther}"`);
  await sleep(o.settle);

  // A room of the other namespace, and the other namespace's room name used in this one:
  // neither socket is a member, so both are refused and nobody receives anything.
  const before = counts();
  const crossMain = await main.emitWithAck("chat", [{ room: o.otherRoom, message: "cross from main" }]);
  const crossOther = await other.emitWithAck("chat", [{ room: o.room, message: "cross from other" }]);
  await sleep(o.settle);
  const after = counts();

  return {
    toMain,
    toOther,
    toMainAck,
    toOtherAck,
    crossMainAck: crossMain,
    crossOtherAck: crossOther,
    eventsDuringCross: after.map((n, i) => n - before[i]),
    sameConnection: muxMain.socket.io === muxOther.socket.io,
    clients: Object.fromEntries(all.map((cl) => [cl.label, cl.summary()])),
  };
}

/** A namespace the server lacks is refused with connect_error; the connection it shared
 *  with a valid namespace keeps working. */
async function unknownNamespace(c, o) {
  const manager = c.manager();
  const unknown = c.multiplexed("unknown", manager, o.unknownNs);
  unknown.socket.connect();
  await unknown.waitUntil(() => unknown.count("connect_error") >= 1, "connect_error");
  const afterwards = c.multiplexed("afterwards", manager, o.ns);
  await afterwards.connect();
  await afterwards.waitUntil(() => afterwards.payloads().length >= 1, "greeting");
  await sleep(o.settle);
  const error = unknown.lifecycle.find((e) => e.kind === "connect_error");
  return {
    connectError: { message: error.message, data: error.data },
    unknownConnected: unknown.socket.connected,
    unknownActive: unknown.socket.active,
    unknown: unknown.summary(),
    afterwards: afterwards.summary(),
  };
}

/** Every way of sending a bad event gets an error ack, nothing is broadcast, and the socket
 *  keeps working. */
async function ackErrors(c, o) {
  const sender = c.client("sender", o.ns);
  const bystander = c.client("bystander", o.ns);
  await sender.connect();
  await sender.waitUntil(() => sender.payloads().length >= 1, "greeting");
  await bystander.connect();
  await bystander.waitUntil(() => bystander.payloads().length >= 1, "greeting");
  await sender.waitUntil(() => sender.payloads().length >= 2, "greeting of the bystander");

  const notJoined = `not-joined-${process.pid}`;
  const cases = [
    ["notMember", "chat", [{ room: notJoined, message: "should not be delivered" }]],
    ["otherNamespaceRoom", "chat", [{ room: o.otherRoom, message: "should not be delivered" }]],
    ["string", "chat", ["just a string"]],
    ["number", "chat", [42]],
    // A one-element array: serde would accept `[room, message]` as the struct in positional
    // form, so only an array that cannot be a Chat is used here.
    ["array", "chat", [[o.room]]],
    ["emptyObject", "chat", [{}]],
    ["missingMessage", "chat", [{ room: o.room }]],
    ["missingRoom", "chat", [{ message: "no room" }]],
    ["wrongFieldType", "chat", [{ room: o.room, message: 7 }]],
    ["noPayload", "chat", []],
    ["unknownEvent", "nope", [{ room: o.room, message: "nope" }]],
  ];
  const results = {};
  for (const [label, event, args] of cases) {
    results[label] = await sender.emitWithAck(event, args);
    results[label].stillConnected = sender.socket.connected;
  }
  await sleep(o.settle);
  const bystanderBefore = bystander.payloads().length;
  const senderBefore = sender.payloads().length;

  const valid = `valid after errors in ${o.room}`;
  const validAck = await sender.emitWithAck("chat", [{ room: o.room, message: valid }]);
  await sender.waitUntil(() => sender.payloads().includes(valid), `"${valid}"`);
  await bystander.waitUntil(() => bystander.payloads().includes(valid), `"${valid}"`);
  await sleep(o.settle);
  return {
    cases: results,
    valid,
    validAck,
    // Messages seen before the valid chat: only greetings, if nothing leaked.
    senderMessagesBeforeValid: sender.payloads().slice(0, senderBefore),
    bystanderMessagesBeforeValid: bystander.payloads().slice(0, bystanderBefore),
    sender: sender.summary(),
    bystander: bystander.summary(),
  };
}

/** The client reconnects on its own after its connection drops, is greeted again, and can
 *  chat on the new connection. */
async function reconnect(c, o) {
  const cl = c.client("client", o.ns);
  const managerEvents = [];
  const manager = cl.socket.io;
  for (const ev of ["reconnect_attempt", "reconnect", "reconnect_error", "reconnect_failed"]) {
    manager.on(ev, (arg) => managerEvents.push({ event: ev, arg: arg instanceof Error ? arg.message : arg ?? null }));
  }
  await cl.connect();
  await cl.waitUntil(() => cl.payloads().length >= 1, "first greeting");
  const firstTransport = cl.transport();
  const beforeAck = await cl.emitWithAck("chat", [{ room: o.room, message: "before the drop" }]);
  await cl.waitUntil(() => cl.payloads().includes("before the drop"), `"before the drop"`);

  if (o.how === "engine") {
    manager.engine.close();
  } else if (o.how === "transport") {
    // What a network drop looks like to the client: the transport closes under it.
    const transport = manager.engine.transport;
    if (transport.name === "websocket") transport.ws.close();
    else transport.close();
  } else {
    throw new ScenarioError(`--how must be engine or transport, got ${o.how}`);
  }

  await cl.waitUntil(() => cl.count("disconnect") >= 1, "disconnect");
  await cl.waitUntil(() => cl.count("connect") >= 2, "automatic reconnect");
  await cl.waitUntil(() => cl.payloads().length >= 3, "second greeting");
  const afterAck = await cl.emitWithAck("chat", [{ room: o.room, message: "after the reconnect" }]);
  await cl.waitUntil(() => cl.payloads().includes("after the reconnect"), `"after the reconnect"`);
  await sleep(o.settle);
  return {
    firstTransport,
    transport: cl.transport(),
    beforeAck,
    afterAck,
    managerEvents,
    client: cl.summary(),
  };
}

/** A plain HTTP GET of `--target` (the page the server serves next to Socket.IO). */
async function httpGet(_c, o, baseUrl) {
  const response = await fetch(baseUrl + o.target, { signal: AbortSignal.timeout(o.timeout) });
  const body = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    body,
  };
}

async function main() {
  const { name, baseUrl, opts } = parseArgs(process.argv.slice(2), DEFAULTS);
  const run = SCENARIOS[name];
  if (!run) throw new ScenarioError(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(", ")}`);
  const clients = new Clients(baseUrl, opts);
  const watchdog = setTimeout(() => {
    fail(new ScenarioError(`scenario ${name} did not finish within --deadline ${opts.deadline} ms`), clients);
  }, opts.deadline);
  try {
    const observed = await run(clients, opts, baseUrl);
    // Serialize before closing: closing records a disconnect that is not part of the scenario.
    const line = JSON.stringify({ scenario: name, baseUrl, transports: opts.transports, ...observed });
    clearTimeout(watchdog);
    clients.closeAll();
    process.stdout.write(line + "\n");
    // Pending reconnection timers or sockets must not keep the process alive.
    process.exit(0);
  } catch (err) {
    fail(err, clients);
  }
}

function fail(err, clients) {
  const what = err instanceof ScenarioError ? err.message : err?.stack ?? String(err);
  process.stderr.write(`scenario failed: ${what}\n`);
  try {
    const seen = clients?.all.map((cl) => cl.summary()) ?? [];
    if (seen.length > 0) process.stderr.write(`observed so far: ${JSON.stringify(seen)}\n`);
  } catch {
    // Reporting must not hide the original failure.
  }
  process.exit(1);
}

main().catch((err) => fail(err, null));

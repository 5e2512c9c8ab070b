#!/usr/bin/env node
// Security scenarios for connect guards and event middleware, driven by the official
// socket.io-client. Like scenario.mjs, it only observes: it prints one JSON object on the last
// line of stdout and the Rust tests (integration-tests/tests/security.rs,
// event_middleware.rs) assert on it.
//
//   node security.mjs <scenario> <baseUrl> [--flag value]...
//
// Scenarios:
//   attempt               `--count` clients (each on its own connection, all at once) ask for
//                         `--ns`; each outcome is connected or connect_error. A connected
//                         client then emits `--event` (if set) with `--payload` and reports
//                         the ack, and every client records what it received during `--settle`.
//   multiplex             one Manager: a socket on `--open-ns` (no credentials needed) connects
//                         first, then a socket on `--ns` with `--auth` asks on the same
//                         connection. Reports both outcomes, and that the first one still works.
//   refused-no-broadcast  an authorized client (`--good-auth`) joins `--ns`; a refused one
//                         (`--auth`, on a Manager kept open by a socket on `--open-ns` when
//                         given) asks for it, twice; the authorized one chats to `--room`. Every
//                         packet the refused client's Manager decodes is recorded. When its
//                         connection is still open, it then writes a forged EVENT packet for
//                         `--ns` on the raw connection.
//   event-flood           a client connects to `--ns` and sends `--flood` `--event`s at once,
//                         each with an ack; a second client (`--calm` > 0) then sends `--calm`
//                         events of its own. Reports every ack (in send order) and the
//                         lifecycle (a server disconnect shows up there).
//
// Flags (all optional):
//   --ns /sports  --open-ns /open  --room soccer  --transports polling|websocket|default
//   --auth '{"token":"x"}'         the CONNECT auth payload (JSON; "" for none)
//   --good-auth '{"token":"x"}'    refused-no-broadcast: the authorized client's auth
//   --headers '{"Authorization":"Bearer x"}'   extraHeaders of the handshake (JSON)
//   --query '{"token":"x"}'        query parameters of the handshake (JSON)
//   --count 1                      attempt: clients asking at once
//   --event whoami --payload '…'   attempt/event-flood: the event to emit (payload as JSON;
//                                  "" for none)
//   --flood 10  --calm 0           event-flood: events of the flooding and of the calm client
//   --timeout 5000                 deadline of each single wait, in ms
//   --settle 300                   quiet time at the end so that late events get recorded
//   --deadline 30000               the whole scenario's deadline, in ms
//
// Exit code 0 means the scenario ran to its end; a connect_error is an observation, not a
// failure.

import { Manager } from "socket.io-client";
import { Client, Clients, ScenarioError, parseArgs, sleep } from "./lib.mjs";

const DEFAULTS = {
  transports: "default",
  ns: "/sports",
  openNs: "",
  room: "soccer",
  path: "/socket.io/",
  auth: "",
  goodAuth: "",
  headers: "",
  query: "",
  count: 1,
  event: "",
  payload: "",
  flood: 10,
  calm: 0,
  timeout: 5000,
  settle: 300,
  deadline: 30000,
};

const SCENARIOS = {
  attempt,
  multiplex,
  "refused-no-broadcast": refusedNoBroadcast,
  "event-flood": eventFlood,
};

const json = (text) => (text ? JSON.parse(text) : undefined);

/** Client options from the handshake flags. */
function handshakeOptions(o) {
  const extra = {};
  if (o.headers) extra.extraHeaders = json(o.headers);
  if (o.query) extra.query = json(o.query);
  // Refusals are what these scenarios observe: never retry on our own.
  extra.reconnection = false;
  return extra;
}

/** Opens the client's socket and waits for `connect` or `connect_error`, whichever is first. */
async function outcome(client) {
  const started = Date.now();
  const connects = client.count("connect");
  const errors = client.count("connect_error");
  client.socket.connect();
  await client.waitUntil(
    () => client.count("connect") > connects || client.count("connect_error") > errors,
    `connect or connect_error on ${client.socket.nsp}`,
  );
  const error = client.lifecycle.filter((e) => e.kind === "connect_error").at(-1);
  const connected = client.count("connect") > connects;
  return {
    connected,
    error: connected ? null : { message: error.message, data: error.data },
    elapsedMs: Date.now() - started,
  };
}

/** The event's arguments from `--payload`. */
function eventArgs(o) {
  return o.payload ? [json(o.payload)] : [];
}

async function attempt(c, o) {
  const clients = [];
  for (let i = 0; i < o.count; i++) {
    clients.push(c.client(`client${i}`, o.ns, handshakeOptions(o)));
  }
  const outcomes = await Promise.all(clients.map(outcome));
  const acks = await Promise.all(
    clients.map((cl, i) =>
      outcomes[i].connected && o.event ? cl.emitWithAck(o.event, eventArgs(o)) : null,
    ),
  );
  await sleep(o.settle);
  const results = clients.map((cl, i) => ({
    ...outcomes[i],
    ack: acks[i],
    transport: cl.transport(),
    summary: cl.summary(),
  }));
  return { results, ...results[0] };
}

async function multiplex(c, o) {
  if (!o.openNs) throw new ScenarioError("multiplex needs --open-ns");
  const manager = c.manager(handshakeOptions(o));
  const open = c.track(
    new Client("open", manager.socket(o.openNs, {}), o.timeout),
  );
  const guarded = c.track(
    new Client("guarded", manager.socket(o.ns, { auth: json(o.auth) }), o.timeout),
  );
  const openOutcome = await outcome(open);
  const guardedOutcome = await outcome(guarded);
  // The refusal of one namespace must not take the shared connection down.
  const openAck = o.event ? await open.emitWithAck(o.event, eventArgs(o)) : null;
  const guardedAck = guardedOutcome.connected && o.event ? await guarded.emitWithAck(o.event, eventArgs(o)) : null;
  await sleep(o.settle);
  return {
    open: { ...openOutcome, ack: openAck, stillConnected: open.socket.connected, summary: open.summary() },
    guarded: { ...guardedOutcome, ack: guardedAck, summary: guarded.summary() },
    sameConnection: open.socket.io === guarded.socket.io,
  };
}

async function refusedNoBroadcast(c, o) {
  const member = c.client("member", o.ns, { ...handshakeOptions(o), auth: json(o.goodAuth) });
  const memberOutcome = await outcome(member);
  if (!memberOutcome.connected) {
    throw new ScenarioError(`the authorized client was refused: ${memberOutcome.error.message}`);
  }
  await member.waitUntil(() => member.payloads().length >= 1, "the member's greeting");

  const manager = new Manager(c.baseUrl, {
    ...c.clientOptions,
    ...handshakeOptions(o),
    forceNew: true,
  });
  c.track({ close: () => manager.engine?.close() });
  const packets = [];
  manager.on("packet", (p) => packets.push({ type: p.type, nsp: p.nsp, data: p.data ?? null }));
  let keeper = null;
  if (o.openNs) {
    keeper = c.track(new Client("keeper", manager.socket(o.openNs, {}), o.timeout));
    const kept = await outcome(keeper);
    if (!kept.connected) throw new ScenarioError(`--open-ns ${o.openNs} refused: ${kept.error.message}`);
  }
  const refused = c.track(new Client("refused", manager.socket(o.ns, { auth: json(o.auth) }), o.timeout));
  const first = await outcome(refused);

  const message = `for members of ${o.room} only`;
  const chatAck = await member.emitWithAck("chat", [{ room: o.room, message }]);
  // A second try while the room is busy.
  const second = await outcome(refused);
  await member.waitUntil(() => member.payloads().includes(message), `"${message}"`);
  const late = `still for members of ${o.room} only`;
  member.socket.emit("chat", { room: o.room, message: late });
  await member.waitUntil(() => member.payloads().includes(late), `"${late}"`);
  await sleep(o.settle);
  const keeperConnected = keeper ? keeper.socket.connected : null;
  const engineOpen = manager.engine?.readyState === "open";
  // A forged EVENT packet for the namespace it was refused, written on the raw connection
  // (the client library would never send it): it must not reach the room.
  const sneaky = `sneaked into ${o.room}`;
  if (engineOpen) {
    manager.engine.write(`2${o.ns},${JSON.stringify(["chat", { room: o.room, message: sneaky }])}`);
    await sleep(o.settle);
  }
  return {
    member: { ...memberOutcome, chatAck, summary: member.summary() },
    refused: { first, second, connected: refused.socket.connected, summary: refused.summary() },
    keeperConnected,
    engineOpen,
    sneaky: engineOpen ? sneaky : null,
    keeperConnectedAfterSneak: keeper ? keeper.socket.connected : null,
    // Everything the refused client's connection decoded, for every namespace.
    packets,
  };
}

async function eventFlood(c, o) {
  if (!o.event) throw new ScenarioError("event-flood needs --event");
  const flooder = c.client("flooder", o.ns, handshakeOptions(o));
  const floodOutcome = await outcome(flooder);
  if (!floodOutcome.connected) throw new ScenarioError(`flooder refused: ${floodOutcome.error.message}`);
  let calm = null;
  if (o.calm > 0) {
    calm = c.client("calm", o.ns, handshakeOptions(o));
    const calmOutcome = await outcome(calm);
    if (!calmOutcome.connected) throw new ScenarioError(`calm client refused: ${calmOutcome.error.message}`);
  }
  const started = Date.now();
  const pending = [];
  for (let i = 0; i < o.flood; i++) {
    pending.push(flooder.emitWithAck(o.event, eventArgs(o)));
  }
  const calmPending = [];
  if (calm) {
    for (let i = 0; i < o.calm; i++) calmPending.push(calm.emitWithAck(o.event, eventArgs(o)));
  }
  const acks = await Promise.all(pending);
  const floodMs = Date.now() - started;
  const calmAcks = await Promise.all(calmPending);
  await sleep(o.settle);
  const codes = (list) => list.map((a) => (a.ackTimeout ? "no-ack" : a.ack?.error?.code ?? "ok"));
  return {
    floodMs,
    acks,
    codes: codes(acks),
    calmAcks,
    calmCodes: codes(calmAcks),
    flooder: { connected: flooder.socket.connected, lifecycle: flooder.lifecycle },
    calm: calm ? { connected: calm.socket.connected, lifecycle: calm.lifecycle } : null,
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
    const line = JSON.stringify({ scenario: name, baseUrl, ns: opts.ns, ...observed });
    clearTimeout(watchdog);
    clients.closeAll();
    process.stdout.write(line + "\n");
    process.exit(0);
  } catch (err) {
    fail(err, clients);
  }
}

function fail(err, clients) {
  const what = err instanceof ScenarioError ? err.message : err?.stack ?? String(err);
  process.stderr.write(`scenario failed: ${what}\n`);
  try {
    const seen = clients?.all.filter((cl) => cl.summary).map((cl) => cl.summary()) ?? [];
    if (seen.length > 0) process.stderr.write(`observed so far: ${JSON.stringify(seen)}\n`);
  } catch {
    // Reporting must not hide the original failure.
  }
  process.exit(1);
}

main().catch((err) => fail(err, null));

// Hostile and broken input, for integration-tests/tests/hostile.rs. Like the other drivers it
// only observes: it prints one JSON object on the last line of stdout and the Rust test asserts
// on it. Diagnostics go to stderr.
//
//   node hostile.mjs <scenario> <baseUrl> '<config as JSON>'
//
// Scenarios (config keys in brackets; `ns` is the namespace, `timeoutMs` every wait's deadline):
//   oversized       the official client (`transports`) connects to `ns` and emits `echo` with a
//                   string of `bytes` characters, with an ack. Reports the ack (or that none
//                   came), the disconnect reasons, and whether a fresh client then gets an echo.
//   raw-polling     for each of `frames`, a new engine.io session over HTTP long-polling (plain
//                   fetch): handshake, CONNECT to `ns`, POST the frame, then POST a well-formed
//                   `echo` with ack id 1 and poll for the answer. Reports every HTTP status and
//                   body; the poll right after the frame waits `replyMs` (500). A bystander
//                   (an official client on `ns`) echoes before the first frame and after each.
//   raw-websocket   the same over a raw websocket (the `ws` package): the frame is sent as one
//                   websocket message, the echo `settleMs` (200) later; reports the messages
//                   received and the close code.
//   binary          the official client emits each of `calls` ({event, args}) with an ack; an
//                   argument {"$bytes": n} is sent as a binary attachment of n bytes.
//   many-namespaces one Manager (one engine.io connection) opens `count` sockets on
//                   `prefix`0..count-1 and `invalid` sockets on `invalidPrefix`0..; each valid one
//                   acks `whoami`. Reports the tallies and the times.
//   many-rooms      a client on `ns` emits `join` with room names `room-0`..`room-(count-1)`,
//                   `batch` acks in flight at a time, then acks `rooms`. Reports the acks.
//   many-namespaces and many-rooms stay connected `holdMs` before closing, so that the Rust side
//   can look at the server meanwhile.
//
// A frame is a string, {"prefix", "fill", "suffix"} (prefix + "a" × fill + suffix), or, on the
// websocket, {"binary": base64} (a binary message). Exit code 0 means the scenario ran to its
// end; a refusal, a timeout or a closed connection is an observation, not a failure.
import { io, Manager } from "socket.io-client";
import WebSocket from "ws";

const [scenario, baseUrlArg, configJson] = process.argv.slice(2);
if (!scenario || !baseUrlArg || !configJson) {
  console.error("usage: hostile.mjs <scenario> <baseUrl> '<config JSON>'");
  process.exit(2);
}
const baseUrl = baseUrlArg.replace(/\/+$/, "");
const config = { ns: "/h", timeoutMs: 3000, ...JSON.parse(configJson) };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `promise`, or `fallback` after `ms`. */
function within(promise, ms, fallback) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(fallback), ms);
    }),
  ]);
}

function frameText(frame) {
  if (typeof frame === "string") return frame;
  if (frame.binary !== undefined) return Buffer.from(frame.binary, "base64");
  return (frame.prefix ?? "") + "a".repeat(frame.fill ?? 0) + (frame.suffix ?? "");
}

/** What a report may quote of a frame or message (long ones are cut). */
function quote(data) {
  const text = Buffer.isBuffer(data) ? `<binary ${data.length} bytes>` : String(data);
  return text.length > 120 ? `${text.slice(0, 120)}…(${text.length} chars)` : text;
}

/** An official client socket that does not reconnect; resolves once connected or refused. */
async function connectClient(ns, opts = {}) {
  const socket = io(baseUrl + ns, { reconnection: false, forceNew: true, timeout: config.timeoutMs, ...opts });
  const disconnects = [];
  socket.on("disconnect", (reason) => disconnects.push(reason));
  const outcome = await new Promise((resolve) => {
    socket.once("connect", () => resolve({ ok: true }));
    socket.once("connect_error", (err) => resolve({ ok: false, error: err.message }));
  });
  return { socket, disconnects, outcome };
}

/** emitWithAck that reports `{ack}` or `{ackTimeout: true}` instead of throwing. */
function ack(socket, event, args, ms = config.timeoutMs) {
  return socket
    .timeout(ms)
    .emitWithAck(event, ...args)
    .then(
      (value) => ({ ack: value ?? null }),
      () => ({ ackTimeout: true }),
    );
}

async function oversized() {
  const client = await connectClient(config.ns, { transports: [config.transports] });
  if (!client.outcome.ok) throw new Error(`could not connect: ${client.outcome.error}`);
  const result = await ack(client.socket, "echo", ["a".repeat(config.bytes)]);
  await sleep(200);
  const report = {
    ...(result.ack !== undefined ? { ackLength: typeof result.ack === "string" ? result.ack.length : null } : result),
    disconnects: [...client.disconnects],
    connectedAfter: client.socket.connected,
  };
  client.socket.close();
  const fresh = await connectClient(config.ns, { transports: [config.transports] });
  report.freshAck = fresh.outcome.ok ? await ack(fresh.socket, "echo", ["fresh"]) : fresh.outcome;
  fresh.socket.close();
  return report;
}

/** A bystander on `ns` that echoes on demand; its acks and disconnects go in the report. */
async function bystander() {
  const client = await connectClient(config.ns, { transports: ["websocket"] });
  if (!client.outcome.ok) throw new Error(`the bystander could not connect: ${client.outcome.error}`);
  const acks = [];
  return {
    async check(label) {
      const r = await ack(client.socket, "echo", [label]);
      acks.push(r.ack === label ? "ok" : JSON.stringify(r));
    },
    report() {
      const out = { acks, disconnects: [...client.disconnects], connected: client.socket.connected };
      client.socket.close();
      return out;
    },
  };
}

const eioUrl = (sid, transport = "polling") =>
  `${baseUrl}/socket.io/?EIO=4&transport=${transport}${sid ? `&sid=${sid}` : ""}`;

async function http(method, url, body, ms = config.timeoutMs) {
  try {
    const res = await fetch(url, {
      method,
      body,
      headers: body === undefined ? {} : { "content-type": "text/plain;charset=UTF-8" },
      signal: AbortSignal.timeout(ms),
    });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    return { error: err.name === "TimeoutError" ? "timeout" : err.message };
  }
}

/** An HTTP result as reported: the body quoted. */
const report = ({ text, ...rest }) => (text === undefined ? rest : { ...rest, body: quote(text) });

/**
 * Long-polls session `sid` for up to `ms`, answering the server's pings, until a packet
 * satisfies `until` (or, without `until`, until any packet other than a ping arrives).
 * Resolves to `{ packets }` (quoted, pings left out, `timedOut` if the time ran out) or, when
 * the server refuses the poll, `{ status, body }`.
 */
async function poll(sid, ms, until = () => true) {
  const deadline = Date.now() + ms;
  const packets = [];
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return { packets: packets.map(quote), timedOut: true };
    const r = await http("GET", eioUrl(sid), undefined, left);
    if (r.error) return { packets: packets.map(quote), timedOut: true };
    if (r.status !== 200) return { ...report(r), packets: packets.map(quote) };
    for (const packet of r.text.split("\x1e")) {
      if (packet === "2") await http("POST", eioUrl(sid), "3");
      else packets.push(packet);
    }
    if (packets.some(until)) return { packets: packets.map(quote) };
  }
}

async function rawPollingOne(frame) {
  const open = await http("GET", eioUrl());
  const sid = JSON.parse(open.text.slice(1)).sid;
  const connect = report(await http("POST", eioUrl(sid), `40${config.ns},`));
  const connected = await poll(sid, config.timeoutMs, (p) => p.startsWith(`40${config.ns},`));
  if (connected.timedOut || connected.status) {
    throw new Error(`CONNECT to ${config.ns} failed: ${JSON.stringify({ connect, connected })}`);
  }
  const post = report(await http("POST", eioUrl(sid), frameText(frame)));
  // Whatever the frame made the server send, if anything, within `replyMs`.
  const reply = await poll(sid, config.replyMs ?? 500);
  const echo = report(await http("POST", eioUrl(sid), `42${config.ns},1["echo","alive"]`));
  const answer =
    echo.status === 200
      ? await poll(sid, config.timeoutMs, (p) => p.startsWith(`43${config.ns},1`))
      : null;
  const alive = answer?.packets?.includes(`43${config.ns},1["alive"]`) ?? false;
  return { frame: quote(frameText(frame)), post, reply, echo, answer, alive };
}

function rawWebsocketOne(frame) {
  return new Promise((resolve) => {
    const ws = new WebSocket(eioUrl(null, "websocket").replace(/^http/, "ws"));
    const received = [];
    let stage = "open";
    let result = null;
    const finish = (extra) => {
      if (result) return;
      result = { frame: quote(frameText(frame)), received: received.map(quote), ...extra };
      clearTimeout(timer);
      ws.terminate();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ closed: false, alive: false }), config.timeoutMs);
    ws.on("message", (data, isBinary) => {
      const text = isBinary ? data : data.toString();
      if (!isBinary && text === "2") {
        ws.send("3");
        return;
      }
      if (stage === "open" && !isBinary && text.startsWith("0")) {
        stage = "connecting";
        ws.send(`40${config.ns},`);
        return;
      }
      if (stage === "connecting" && !isBinary && text.startsWith(`40${config.ns},`)) {
        stage = "sent";
        ws.send(frameText(frame));
        // Let the server act on the frame (close, answer) before asking whether it is alive.
        setTimeout(() => ws.readyState === WebSocket.OPEN && ws.send(`42${config.ns},1["echo","alive"]`), config.settleMs ?? 200);
        return;
      }
      received.push(text);
      if (!isBinary && text.startsWith(`43${config.ns},1["alive"]`)) finish({ closed: false, alive: true });
    });
    ws.on("close", (code) => finish({ closed: true, closeCode: code, alive: false }));
    ws.on("error", (err) => finish({ closed: true, error: err.message, alive: false }));
  });
}

async function raw(one) {
  const by = await bystander();
  await by.check("before");
  const results = [];
  for (const [i, frame] of config.frames.entries()) {
    results.push(await one(frame));
    await by.check(`after-${i}`);
  }
  return { results, bystander: by.report() };
}

async function binary() {
  const client = await connectClient(config.ns);
  if (!client.outcome.ok) throw new Error(`could not connect: ${client.outcome.error}`);
  const results = [];
  for (const call of config.calls) {
    const args = call.args.map((a) => (a && a.$bytes !== undefined ? Buffer.alloc(a.$bytes, 7) : a));
    results.push(await ack(client.socket, call.event, args));
  }
  const out = { results, disconnects: [...client.disconnects], connected: client.socket.connected };
  client.socket.close();
  return out;
}

async function manyNamespaces() {
  const manager = new Manager(baseUrl, { reconnection: false, timeout: config.timeoutMs, transports: ["websocket"] });
  const started = Date.now();
  const open = (ns) => {
    const socket = manager.socket(ns);
    return new Promise((resolve) => {
      socket.once("connect", () => resolve({ socket, ok: true }));
      socket.once("connect_error", (err) => resolve({ socket, ok: false, error: err.message }));
      socket.connect();
    });
  };
  const valid = [];
  for (let i = 0; i < config.count; i++) valid.push(open(`${config.prefix}${i}`));
  const invalid = [];
  for (let i = 0; i < config.invalid; i++) invalid.push(open(`${config.invalidPrefix}${i}`));
  const [v, inv] = await Promise.all([Promise.all(valid), Promise.all(invalid)]);
  const connectMs = Date.now() - started;
  const tally = (list) => {
    const t = {};
    for (const r of list) {
      const key = r.ok ? "connected" : r.error;
      t[key] = (t[key] ?? 0) + 1;
    }
    return t;
  };
  const ackStart = Date.now();
  const whoami = await Promise.all(v.filter((r) => r.ok).map((r) => ack(r.socket, "whoami", [])));
  const wrong = whoami.filter((r, i) => r.ack !== String(i)).length;
  const out = {
    valid: tally(v),
    invalid: tally(inv),
    whoamiOk: whoami.length - wrong,
    connectMs,
    ackMs: Date.now() - ackStart,
    engineOpen: manager.engine?.readyState === "open",
  };
  // The Rust side measures the server while everything is still connected.
  await sleep(config.holdMs ?? 0);
  for (const r of [...v, ...inv]) r.socket.close();
  manager.engine?.close();
  return out;
}

async function manyRooms() {
  const client = await connectClient(config.ns, { transports: ["websocket"] });
  if (!client.outcome.ok) throw new Error(`could not connect: ${client.outcome.error}`);
  const started = Date.now();
  let last = null;
  let failed = 0;
  for (let i = 0; i < config.count; i += config.batch) {
    const batch = [];
    for (let j = i; j < Math.min(i + config.batch, config.count); j++) {
      batch.push(ack(client.socket, "join", [`room-${j}`]));
    }
    for (const r of await Promise.all(batch)) {
      if (r.ack === undefined) failed++;
      else last = r.ack;
    }
  }
  const joinMs = Date.now() - started;
  const rooms = await ack(client.socket, "rooms", []);
  const out = { last, failed, joinMs, rooms, disconnects: [...client.disconnects], connected: client.socket.connected };
  await sleep(config.holdMs ?? 0);
  client.socket.close();
  return out;
}

const SCENARIOS = {
  oversized,
  "raw-polling": () => raw(rawPollingOne),
  "raw-websocket": () => raw(rawWebsocketOne),
  binary,
  "many-namespaces": manyNamespaces,
  "many-rooms": manyRooms,
};

const run = SCENARIOS[scenario];
if (!run) {
  console.error(`unknown scenario ${scenario}; known: ${Object.keys(SCENARIOS).join(", ")}`);
  process.exit(2);
}
try {
  const out = await run();
  console.log(JSON.stringify(out));
  process.exit(0);
} catch (err) {
  console.error(`hostile.mjs ${scenario} failed: ${err.stack ?? err}`);
  process.exit(1);
}

// Shared helpers for the end-to-end scenarios: argument parsing, a recording wrapper around
// a socket.io-client socket, and waits that always give up after a bounded time.
//
// Contract with the Rust side (integration-tests/src/lib.rs): a scenario prints exactly one
// JSON object as the last line of stdout and exits 0 when it ran to the end. Anything that
// keeps it from running to the end (a connection that never comes up, an expected event that
// never arrives) is a failure: a message on stderr and a non-zero exit code. Diagnostics go to
// stderr only, so stdout stays machine-readable.

import { io, Manager } from "socket.io-client";

/** Thrown when a scenario cannot go on; the message names what was awaited. */
export class ScenarioError extends Error {}

/**
 * Parses `<name> <baseUrl> [--flag value]...` into `{ name, baseUrl, opts }`.
 * Every flag takes exactly one value; unknown flags are rejected so typos fail loudly.
 */
export function parseArgs(argv, defaults) {
  const positional = [];
  const opts = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const key = arg.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in defaults)) {
      const known = Object.keys(defaults).map((k) => "--" + k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()));
      throw new ScenarioError(`unknown flag ${arg}; known: ${known.join(", ")}`);
    }
    if (i + 1 >= argv.length) throw new ScenarioError(`flag ${arg} needs a value`);
    const raw = argv[++i];
    opts[key] = typeof defaults[key] === "number" ? Number(raw) : raw;
    if (typeof defaults[key] === "number" && !Number.isFinite(opts[key])) {
      throw new ScenarioError(`flag ${arg} needs a number, got ${raw}`);
    }
  }
  if (positional.length !== 2) {
    throw new ScenarioError(
      `usage: scenario.mjs <name> <baseUrl> [--flag value]... (got ${JSON.stringify(positional)})`,
    );
  }
  return { name: positional[0], baseUrl: positional[1].replace(/\/+$/, ""), opts };
}

/** Maps `--transports polling|websocket|default` to the client's `transports` option. */
export function transportsOption(value) {
  switch (value) {
    case "polling":
      return ["polling"];
    case "websocket":
      return ["websocket"];
    case "default":
      return undefined;
    default:
      throw new ScenarioError(`--transports must be polling, websocket or default, got ${value}`);
  }
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A socket.io-client socket that records every event it receives, in order, and lets the
 * scenario wait for a condition on that record with a deadline.
 */
export class Client {
  /**
   * @param {string} label name used in the output and in error messages
   * @param {import("socket.io-client").Socket} socket a socket created with autoConnect: false
   * @param {number} timeoutMs default deadline of every wait
   */
  constructor(label, socket, timeoutMs) {
    this.label = label;
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    /** Every event received from the server: `{ event, args }`, in arrival order. */
    this.events = [];
    /** Lifecycle: connect / disconnect / connect_error, in order, with details. */
    this.lifecycle = [];
    this.socketIds = [];
    this.waiters = new Set();
    socket.onAny((event, ...args) => this.record({ event, args }));
    socket.on("connect", () => {
      this.socketIds.push(socket.id);
      this.lifecycle.push({ kind: "connect", id: socket.id, recovered: socket.recovered });
      this.notify();
    });
    socket.on("disconnect", (reason, details) => {
      this.lifecycle.push({ kind: "disconnect", reason, description: describe(details) });
      this.notify();
    });
    socket.on("connect_error", (err) => {
      this.lifecycle.push({
        kind: "connect_error",
        message: err?.message ?? String(err),
        data: err?.data ?? null,
      });
      this.notify();
    });
  }

  record(entry) {
    this.events.push(entry);
    this.notify();
  }

  notify() {
    for (const check of this.waiters) check();
  }

  /** The first argument of every `event` received, in order (default event: `message`). */
  payloads(event = "message") {
    return this.events.filter((e) => e.event === event).map((e) => e.args[0]);
  }

  /** How many lifecycle entries of `kind` were seen. */
  count(kind) {
    return this.lifecycle.filter((e) => e.kind === kind).length;
  }

  /**
   * Waits until `predicate()` holds, re-checking on every recorded event and every 50 ms.
   * Throws a ScenarioError naming `what` after `timeoutMs`.
   */
  waitUntil(predicate, what, timeoutMs = this.timeoutMs) {
    return waitFor(predicate, `${this.label}: ${what}`, timeoutMs, this.waiters);
  }

  /** Opens the socket and waits for its `connect` (throws on connect_error or timeout). */
  async connect() {
    const before = this.count("connect");
    const errorsBefore = this.count("connect_error");
    this.socket.connect();
    await this.waitUntil(() => {
      if (this.count("connect_error") > errorsBefore) {
        const last = this.lifecycle.filter((e) => e.kind === "connect_error").at(-1);
        throw new ScenarioError(`${this.label}: connect_error: ${last.message}`);
      }
      return this.count("connect") > before;
    }, `connect to ${this.socket.nsp}`);
  }

  /**
   * Emits `event` with `args` and waits for the ack. Resolves to `{ ack, ackArgs }`, or to
   * `{ ackTimeout: true }` if none came within the deadline (an ack that never comes is an
   * observation the Rust side asserts on, not a reason to abort).
   */
  emitWithAck(event, args, timeoutMs = this.timeoutMs) {
    return new Promise((resolve) => {
      this.socket.timeout(timeoutMs).emit(event, ...args, (err, ...ackArgs) => {
        if (err) resolve({ ackTimeout: true });
        else resolve({ ack: ackArgs[0] ?? null, ackArgs });
      });
    });
  }

  /** Engine.io transport in use right now (`polling` or `websocket`), if connected. */
  transport() {
    return this.socket.io.engine?.transport?.name ?? null;
  }

  /** What the output JSON says about this client. */
  summary() {
    return {
      label: this.label,
      namespace: this.socket.nsp,
      connected: this.socket.connected,
      socketIds: this.socketIds,
      transport: this.transport(),
      messages: this.payloads("message"),
      events: this.events,
      lifecycle: this.lifecycle,
    };
  }

  close() {
    this.socket.disconnect();
  }
}

/** Waits for `predicate()`; `waiters` is a Set the caller pokes when something happened. */
export function waitFor(predicate, what, timeoutMs, waiters = new Set()) {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (fn, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(poll);
      waiters.delete(check);
      fn(value);
    };
    const check = () => {
      try {
        if (predicate()) finish(resolve);
      } catch (err) {
        finish(reject, err);
      }
    };
    const timer = setTimeout(
      () => finish(reject, new ScenarioError(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
    const poll = setInterval(check, 50);
    waiters.add(check);
    check();
  });
}

function describe(details) {
  if (!details) return null;
  if (details instanceof Error) return details.message;
  if (typeof details === "object" && "description" in details) {
    const d = details.description;
    return d instanceof Error ? d.message : d?.message ?? String(d ?? "");
  }
  return String(details);
}

/**
 * Creates clients against one server. Sockets made through `client()` each get their own
 * engine.io connection (forceNew), sockets made through `multiplexed()` share one Manager.
 */
export class Clients {
  constructor(baseUrl, opts) {
    this.baseUrl = baseUrl;
    this.timeoutMs = opts.timeout;
    this.clientOptions = {
      path: opts.path,
      transports: transportsOption(opts.transports),
      auth: opts.auth ? JSON.parse(opts.auth) : undefined,
      reconnectionDelay: 100,
      reconnectionDelayMax: 500,
      timeout: opts.timeout,
      autoConnect: false,
    };
    this.all = [];
  }

  /** A socket on `namespace` with a connection of its own. */
  client(label, namespace, extra = {}) {
    const socket = io(this.baseUrl + namespace, { ...this.clientOptions, forceNew: true, ...extra });
    return this.track(new Client(label, socket, this.timeoutMs));
  }

  /** A Manager whose sockets share one engine.io connection. */
  manager(extra = {}) {
    return new Manager(this.baseUrl, { ...this.clientOptions, ...extra });
  }

  /** A socket on `namespace` riding on `manager`'s connection. */
  multiplexed(label, manager, namespace) {
    const socket = manager.socket(namespace, { auth: this.clientOptions.auth });
    return this.track(new Client(label, socket, this.timeoutMs));
  }

  track(client) {
    this.all.push(client);
    return client;
  }

  closeAll() {
    for (const c of this.all) c.close();
  }
}

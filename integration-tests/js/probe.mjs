// A small interpreter of test plans, for tests that build their own server in-process and
// need a client to do a handful of things in order.
//
//   node probe.mjs <baseUrl> '<plan as JSON>'
//
// plan = {
//   clients: { <label>: { ns: "/x", auth?: {...}, transports?: [...], extraHeaders?: {...} } },
//   steps: [
//     { op: "connect", client },                       // waits for connect or connect_error
//     { op: "ack", client, event, args: [...], as },    // emitWithAck; result stored under `as`
//     { op: "emit", client, event, args: [...] },       // fire and forget
//     { op: "ackLater", client, event, args: [...], as }, // emitWithAck without waiting: the
//                                                      // answer is recorded among the client's
//                                                      // events as { event: "ack:<as>", args }
//     { op: "emitMany", client, event, count, pauseMs? }, // emits event(0) … event(count - 1),
//                                                      // pausing pauseMs (or a turn of the
//                                                      // event loop) after every 50
//     { op: "pause", client },                          // stop reading the websocket (TCP)
//     { op: "resume", client },                         // read it again
//     { op: "wait", client, event, count?: 1 },          // until `count` such events arrived
//     { op: "waitDisconnect", client },                  // until the client is disconnected
//     { op: "sleep", ms },
//     { op: "close", client },
//   ],
//   timeoutMs?: 5000,
//   brief?: false,     // true: string arguments are recorded cut to 16 characters
// }
//
// Prints one JSON object: { connect: {label: {ok, error?, id?}}, results: {as: value},
// events: {label: [{event, args, at}]}, disconnects: {label: [reason]}, times: {as: ms} }.
// Exits non-zero with a message when a step does not complete in time.
import { io } from "socket.io-client";

const [baseUrl, planJson] = process.argv.slice(2);
if (!baseUrl || !planJson) {
  console.error("usage: probe.mjs <baseUrl> '<plan JSON>'");
  process.exit(2);
}
const plan = JSON.parse(planJson);
const timeoutMs = plan.timeoutMs ?? 5000;
const start = Date.now();
const out = { connect: {}, results: {}, events: {}, disconnects: {}, times: {} };
const sockets = {};
const waiters = new Set();
const notify = () => waiters.forEach((w) => w());

function within(what, predicate) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (predicate()) {
        waiters.delete(check);
        clearTimeout(timer);
        resolve();
      }
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    waiters.add(check);
    check();
  });
}

for (const [label, spec] of Object.entries(plan.clients ?? {})) {
  const { ns, ...opts } = spec;
  const socket = io(baseUrl + ns, { autoConnect: false, reconnection: false, forceNew: true, ...opts });
  sockets[label] = socket;
  out.events[label] = [];
  out.disconnects[label] = [];
  socket.onAny((event, ...args) => {
    if (plan.brief) args = args.map((a) => (typeof a === "string" ? a.slice(0, 16) : a));
    out.events[label].push({ event, args, at: Date.now() - start });
    notify();
  });
  socket.on("connect", () => {
    out.connect[label] = { ok: true, id: socket.id };
    notify();
  });
  socket.on("connect_error", (err) => {
    out.connect[label] = { ok: false, error: err.message };
    notify();
  });
  socket.on("disconnect", (reason) => {
    out.disconnects[label].push(reason);
    notify();
  });
}

function client(step) {
  const socket = sockets[step.client];
  if (!socket) throw new Error(`unknown client ${step.client}`);
  return socket;
}

try {
  for (const step of plan.steps ?? []) {
    const t0 = Date.now();
    switch (step.op) {
      case "connect": {
        const socket = client(step);
        delete out.connect[step.client];
        socket.connect();
        await within(`${step.client} to connect`, () => out.connect[step.client] !== undefined);
        break;
      }
      case "ack": {
        const value = await client(step).timeout(timeoutMs).emitWithAck(step.event, ...(step.args ?? []));
        out.results[step.as ?? step.event] = value;
        break;
      }
      case "emit":
        client(step).emit(step.event, ...(step.args ?? []));
        break;
      case "emitMany":
        for (let i = 0; i < step.count; i++) {
          client(step).emit(step.event, i);
          // Let the event loop read between chunks, as a client that also receives does.
          if (i % 50 === 49)
            await new Promise((r) => (step.pauseMs ? setTimeout(r, step.pauseMs) : setImmediate(r)));
        }
        break;
      case "ackLater": {
        const label = step.client;
        client(step)
          .timeout(timeoutMs)
          .emitWithAck(step.event, ...(step.args ?? []))
          .then(
            (value) => out.events[label].push({ event: `ack:${step.as}`, args: [value], at: Date.now() - start }),
            (err) => out.events[label].push({ event: `ack:${step.as}`, args: [{ failed: err.message }], at: Date.now() - start }),
          )
          .finally(notify);
        break;
      }
      case "pause":
      case "resume": {
        // The websocket transport's TCP socket (Node's `ws` keeps it as `_socket`): paused, the
        // kernel's buffers fill and the server sees a client that stopped reading.
        const tcp = client(step).io.engine?.transport?.ws?._socket;
        if (!tcp) throw new Error(`${step.client} has no websocket to ${step.op}`);
        if (step.op === "pause") tcp.pause();
        else tcp.resume();
        break;
      }
      case "wait": {
        const count = step.count ?? 1;
        await within(`${count} × ${step.event} on ${step.client}`, () =>
          out.events[step.client].filter((e) => e.event === step.event).length >= count,
        );
        break;
      }
      case "waitDisconnect":
        await within(`${step.client} to disconnect`, () => out.disconnects[step.client].length > 0);
        break;
      case "sleep":
        await new Promise((r) => setTimeout(r, step.ms));
        break;
      case "close":
        client(step).close();
        break;
      default:
        throw new Error(`unknown op ${step.op}`);
    }
    if (step.as) out.times[step.as] = Date.now() - t0;
  }
} catch (err) {
  if (process.env.PROBE_DUMP) (await import("node:fs")).writeFileSync(process.env.PROBE_DUMP, JSON.stringify(out));
  console.error(`probe failed: ${err.message}\nso far: ${JSON.stringify(out)}`);
  process.exit(1);
}
// Snapshot before closing, so the probe's own disconnects are not part of the observations.
const report = JSON.stringify(out);
for (const s of Object.values(sockets)) s.close();
// Exit only once the report is written: a pipe takes 64 KiB at a time, and process.exit does not
// wait for the rest.
process.stdout.write(`${report}\n`, () => process.exit(0));

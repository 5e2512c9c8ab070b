#!/usr/bin/env node
// Opens seed-chat's page in headless Chromium and prints what the page did.
//
//   node browser.mjs <baseUrl> <outputDir> [--timeout 10000] [--deadline 60000] [--settle 500]
//
// The page must load the Socket.IO client from the same server (`/socket.io/socket.io.js`),
// connect to `/sports` and `/movies`, show both greetings, and relay a chat typed into the
// `/sports` form to the `/sports` list only. The browser is Debian's Chromium
// (CHROMIUM_PATH, default /usr/bin/chromium) driven by playwright-core, which never downloads
// a browser of its own; every run gets a fresh profile directory.
//
// Flags (all optional):
//   --timeout 10000    deadline of each single wait, in ms
//   --deadline 60000   the whole run's deadline, in ms
//   --settle 500       quiet time after the chat arrived, in ms, so that a copy wrongly
//                      delivered to /movies would be seen
//
// Output: a screenshot `seed-chat.png` in <outputDir> (also on failure, when the page got
// that far), and the observations as one JSON object on the last line of stdout. Exit 0 means
// the run reached its end; the assertions live on the Rust side
// (integration-tests/tests/browser.rs). On failure the message goes to stderr, the partial
// observations still go to stdout, and the exit code is 1.

import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-quic",
  "--no-first-run",
  "--disable-sync",
];

const SCRIPT_PATH = "/socket.io/socket.io.js";
const SECTIONS = ["sports", "movies"];
const GREETINGS = { sports: "Hello soccer fans!", movies: "Hello comedy fans!" };

class BrowserError extends Error {}

function parseArgs(argv) {
  const opts = { timeout: 10000, deadline: 60000, settle: 500 };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const key = arg.slice(2);
    if (!(key in opts)) throw new BrowserError(`unknown flag ${arg}; known: --timeout, --deadline, --settle`);
    const value = Number(argv[++i]);
    if (!Number.isFinite(value) || value <= 0) throw new BrowserError(`flag ${arg} needs a positive number`);
    opts[key] = value;
  }
  if (positional.length !== 2) {
    throw new BrowserError(`usage: browser.mjs <baseUrl> <outputDir> [--flag value]... (got ${JSON.stringify(positional)})`);
  }
  return { baseUrl: positional[0].replace(/\/+$/, ""), outputDir: positional[1], opts };
}

/** Everything the run saw; printed as JSON whether it succeeds or not. */
const observed = {
  ok: false,
  chromium: null,
  browserVersion: null,
  url: null,
  title: null,
  ioGlobal: null,
  scriptResponses: [],
  sections: {},
  chat: null,
  screenshot: null,
  consoleErrors: [],
  pageErrors: [],
  failedRequests: [],
  error: null,
};

/** Reads what each section of the page shows: status line, list items, socket state. */
function readSections(page) {
  return page.evaluate((ids) => {
    const out = {};
    for (const id of ids) {
      const section = document.getElementById(id);
      if (!section) {
        out[id] = null;
        continue;
      }
      const socket = section.socket;
      out[id] = {
        status: section.querySelector(".status")?.textContent ?? null,
        items: [...section.querySelectorAll(".log li")].map((li) => li.textContent),
        errorItems: [...section.querySelectorAll(".log li.error")].map((li) => li.textContent),
        connected: socket?.connected ?? null,
        socketId: socket?.id ?? null,
        namespace: socket?.nsp ?? null,
        transport: socket?.io?.engine?.transport?.name ?? null,
      };
    }
    return out;
  }, SECTIONS);
}

/** Waits, at most `timeoutMs`, until `predicate(sections)` holds; throws naming `what`. */
async function waitForSections(page, predicate, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    observed.sections = await readSections(page);
    if (predicate(observed.sections)) return;
    if (Date.now() >= deadline) {
      throw new BrowserError(`timed out after ${timeoutMs} ms waiting for ${what}; the page shows ${JSON.stringify(observed.sections)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function run(baseUrl, outputDir, opts, state) {
  const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
  observed.chromium = executablePath;
  if (!existsSync(executablePath)) {
    throw new BrowserError(
      `chromium not found at ${executablePath}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`,
    );
  }
  await mkdir(outputDir, { recursive: true });
  // A fresh profile every run. playwright passes it as --user-data-dir (it refuses the flag in
  // `args`), which is why this is a persistent context rather than launch().
  state.profile = await mkdtemp(path.join(tmpdir(), "switchboard-chromium-"));
  state.context = await chromium.launchPersistentContext(state.profile, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1000, height: 640 },
    timeout: opts.timeout,
  });
  state.context.setDefaultTimeout(opts.timeout);
  observed.browserVersion = state.context.browser()?.version() ?? null;
  const page = state.context.pages()[0] ?? (await state.context.newPage());
  state.page = page;

  page.on("console", (msg) => {
    if (msg.type() === "error") observed.consoleErrors.push({ text: msg.text(), location: msg.location() });
  });
  page.on("pageerror", (err) => observed.pageErrors.push(err?.message ?? String(err)));
  page.on("requestfailed", (req) =>
    observed.failedRequests.push({ url: req.url(), error: req.failure()?.errorText ?? null }),
  );
  page.on("response", (res) => {
    const url = new URL(res.url());
    if (url.pathname !== SCRIPT_PATH) return;
    observed.scriptResponses.push({
      url: res.url(),
      sameOrigin: url.origin === new URL(baseUrl).origin,
      status: res.status(),
      headers: res.headers(),
    });
  });

  const response = await page.goto(baseUrl + "/", { waitUntil: "load", timeout: opts.timeout });
  observed.url = page.url();
  if (!response || !response.ok()) {
    throw new BrowserError(`GET ${baseUrl}/ answered ${response ? response.status() : "nothing"}`);
  }
  observed.title = await page.title();
  // `load` fires after the classic <script src> ran, so the global is there or never will be.
  observed.ioGlobal = await page.evaluate(() => typeof window.io);
  if (observed.ioGlobal !== "function") {
    throw new BrowserError(`the page has no io() global after loading ${SCRIPT_PATH} (typeof io = ${observed.ioGlobal})`);
  }

  await waitForSections(
    page,
    (s) => SECTIONS.every((id) => s[id]?.connected && s[id].status?.startsWith("connected")),
    "both sections to show `connected`",
    opts.timeout,
  );
  await waitForSections(
    page,
    (s) => SECTIONS.every((id) => s[id].items.includes(GREETINGS[id])),
    `the greetings ${JSON.stringify(Object.values(GREETINGS))}`,
    opts.timeout,
  );
  // Both sockets share one engine.io connection (same origin, so io() multiplexes); its upgrade
  // to websocket is what the page reports in the status line.
  await waitForSections(
    page,
    (s) => SECTIONS.every((id) => s[id].transport === "websocket" && s[id].status === "connected (websocket)"),
    "the transport to upgrade to websocket",
    opts.timeout,
  );

  const message = `hello from chromium ${Date.now().toString(36)}`;
  const form = page.locator("#sports form");
  await form.locator("input[name=message]").fill(message);
  await form.locator("button").click();
  const sentAt = Date.now();
  observed.chat = { message, room: await form.locator("input[name=room]").inputValue() };
  await waitForSections(
    page,
    (s) => s.sports.items.includes(message) || s.sports.errorItems.length > 0,
    `the chat "${message}" in the /sports list`,
    opts.timeout,
  );
  observed.chat.arrivedAfterMs = Date.now() - sentAt;
  // Give a wrongly routed copy time to show up in /movies before looking.
  await new Promise((resolve) => setTimeout(resolve, opts.settle));
  observed.sections = await readSections(page);
  observed.chat.inSports = observed.sections.sports.items.filter((t) => t === message).length;
  observed.chat.inMovies = observed.sections.movies.items.filter((t) => t === message).length;
  observed.chat.inputCleared = (await form.locator("input[name=message]").inputValue()) === "";
  if (observed.sections.sports.errorItems.length > 0) {
    throw new BrowserError(`the /sports section shows an error: ${JSON.stringify(observed.sections.sports.errorItems)}`);
  }
}

async function screenshot(state, outputDir) {
  if (!state.page) return;
  const file = path.join(outputDir, "seed-chat.png");
  try {
    await state.page.screenshot({ path: file, fullPage: true, timeout: 5000 });
    observed.screenshot = path.resolve(file);
  } catch (err) {
    process.stderr.write(`browser.mjs: screenshot failed: ${err?.message ?? err}\n`);
  }
}

async function main() {
  let exitCode = 0;
  const state = { context: null, page: null, profile: null };
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`browser.mjs: ${err.message}\n`);
    process.exit(2);
  }
  const { baseUrl, outputDir, opts } = args;
  const deadline = setTimeout(() => {
    // Whatever hangs, the run ends: report what was seen and leave (Chromium dies with its pipe).
    observed.error = `the whole run took longer than --deadline ${opts.deadline} ms`;
    process.stdout.write(JSON.stringify(observed) + "\n");
    process.stderr.write(`browser.mjs: ${observed.error}\n`);
    process.exit(1);
  }, opts.deadline);
  try {
    await run(baseUrl, outputDir, opts, state);
    observed.ok = true;
  } catch (err) {
    observed.error = err?.message ?? String(err);
    process.stderr.write(`browser.mjs: ${err instanceof BrowserError ? "" : "unexpected error: "}${observed.error}\n`);
    if (!(err instanceof BrowserError) && err?.stack) process.stderr.write(err.stack + "\n");
    exitCode = 1;
  }
  await screenshot(state, outputDir);
  await state.context?.close().catch(() => {});
  if (state.profile) await rm(state.profile, { recursive: true, force: true }).catch(() => {});
  clearTimeout(deadline);
  process.stdout.write(JSON.stringify(observed) + "\n");
  process.exitCode = exitCode;
}

await main();

// seed-chat's page when the server needs a token (CHAT_TOKEN): the page must show the token
// form when the namespaces are refused with a 401, and connect both once the token is given.
//
//   node browser-token.mjs <baseUrl> <outputDir> <token>
//
// Prints one JSON object with what it saw; exits 1 with a message when a step times out.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const [baseUrl, outputDir, token] = process.argv.slice(2);
if (!baseUrl || !outputDir || !token) {
  console.error("usage: browser-token.mjs <baseUrl> <outputDir> <token>");
  process.exit(2);
}
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-quic", "--no-first-run", "--disable-sync",
];
const observed = { refused: null, formShown: false, afterToken: null, screenshot: null, pageErrors: [] };

const sections = (page) =>
  page.evaluate(() =>
    Object.fromEntries(
      ["sports", "movies"].map((id) => {
        const s = document.getElementById(id);
        return [id, {
          status: s.querySelector(".status").textContent,
          items: [...s.querySelectorAll(".log li:not(.error)")].map((li) => li.textContent),
          connected: s.socket?.connected ?? false,
        }];
      }),
    ),
  );

async function until(page, what, predicate, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = await sections(page);
    const formShown = await page.evaluate(() => !document.getElementById("token").hidden);
    if (predicate(seen, formShown)) return { seen, formShown };
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify({ seen, formShown })}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const profile = await mkdtemp(path.join(tmpdir(), "switchboard-chromium-"));
let context;
try {
  await mkdir(outputDir, { recursive: true });
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    headless: true,
    args: ARGS,
    viewport: { width: 1000, height: 640 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => observed.pageErrors.push(String(e)));
  await page.goto(baseUrl + "/", { waitUntil: "load", timeout: 15000 });

  const refused = await until(page, "both namespaces refused and the token form shown", (seen, form) =>
    form && Object.values(seen).every((s) => s.status.startsWith("refused:")),
  );
  observed.refused = refused.seen;
  observed.formShown = refused.formShown;

  await page.fill("#token input[name=token]", token);
  await page.click("#token button");
  const after = await until(page, "both namespaces connected with the token", (seen, form) =>
    !form && Object.values(seen).every((s) => s.connected && s.items.length > 0),
  );
  observed.afterToken = after;
  observed.screenshot = path.join(outputDir, "token.png");
  await page.screenshot({ path: observed.screenshot });
} catch (err) {
  console.error(`browser-token failed: ${err.message}`);
  console.log(JSON.stringify(observed));
  process.exitCode = 1;
} finally {
  await context?.close();
  await rm(profile, { recursive: true, force: true });
}
if (!process.exitCode) console.log(JSON.stringify(observed));

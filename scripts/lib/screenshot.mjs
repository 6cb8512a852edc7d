// A screenshot of a live page: headless Chromium keeps URL open for WAIT_MS
// of real time (a page that polls draws its history meanwhile), then the
// page is captured as a PNG through the DevTools protocol. `chromium
// --screenshot` cannot do this: it shoots at load, or in virtual time.
// With SELECTOR, the shot is the box around every element it matches
// (beyond the viewport if need be); without, the viewport.
//
//   node --experimental-websocket scripts/lib/screenshot.mjs URL OUT.png WAIT_MS WIDTH HEIGHT [SELECTOR]
//
// Used by scripts/screenshots.sh. Needs CHROMIUM (default: chromium).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, out, waitMs, width, height, selector] = process.argv.slice(2);
if (!height) {
  console.error("usage: screenshot.mjs URL OUT.png WAIT_MS WIDTH HEIGHT [SELECTOR]");
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), "fusebox-shot-"));
const browser = spawn(process.env.CHROMIUM || "chromium", [
  "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
  "--remote-debugging-port=0", "--remote-allow-origins=*",
  `--user-data-dir=${profile}`, `--window-size=${width},${height}`, url,
], { stdio: ["ignore", "ignore", "pipe"] });

let finishing = false;
// Ends the browser, then removes its profile (once it has stopped writing).
function done(code, message) {
  if (message) console.error(`screenshot: ${message}`);
  finishing = true;
  const cleanup = () => {
    rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
    process.exit(code);
  };
  if (browser.exitCode !== null || browser.signalCode !== null) cleanup();
  browser.once("exit", cleanup);
  browser.kill();
  setTimeout(cleanup, 5000);
}
const timer = setTimeout(() => done(1, "gave up after 120 s"), 120_000 + Number(waitMs));

const port = await new Promise((resolve) => {
  let text = "";
  browser.stderr.on("data", (chunk) => {
    text += chunk;
    const m = text.match(/DevTools listening on ws:\/\/[^:]+:(\d+)\//);
    if (m) resolve(m[1]);
  });
  browser.on("exit", () => finishing || done(1, `chromium exited: ${text.slice(-500)}`));
});

let target;
for (let i = 0; i < 100 && !target; i++) {
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  target = list.find((t) => t.type === "page" && t.url.startsWith(url.split("?")[0]));
  if (!target) await new Promise((r) => setTimeout(r, 100));
}
if (!target) done(1, "no page target");

const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
let nextId = 0;
const pending = new Map();
ws.onmessage = (e) => {
  const msg = JSON.parse(e.data);
  if (pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
};
const send = (method, params = {}) => new Promise((resolve) => {
  const id = ++nextId;
  pending.set(id, resolve);
  ws.send(JSON.stringify({ id, method, params }));
});

// The viewport itself (--window-size alone leaves headless pages short).
await send("Emulation.setDeviceMetricsOverride", {
  width: Number(width), height: Number(height), deviceScaleFactor: 1, mobile: false,
});
await new Promise((r) => setTimeout(r, Number(waitMs)));
const capture = { format: "png" };
if (selector) {
  const box = await send("Runtime.evaluate", {
    returnByValue: true,
    expression: `(() => {
      const rs = [...document.querySelectorAll(${JSON.stringify(selector)})]
        .map((e) => e.getBoundingClientRect());
      if (!rs.length) return null;
      const top = Math.min(...rs.map((r) => r.top)) + scrollY;
      const bottom = Math.max(...rs.map((r) => r.bottom)) + scrollY;
      return { x: 0, y: Math.max(0, top - 8), width: innerWidth, height: bottom - top + 16, scale: 1 };
    })()`,
  });
  const clip = box.result && box.result.result && box.result.result.value;
  if (!clip) done(1, `nothing matches ${selector}`);
  Object.assign(capture, { clip, captureBeyondViewport: true });
}
const shot = await send("Page.captureScreenshot", capture);
if (!shot.result) done(1, `capture failed: ${JSON.stringify(shot.error)}`);
writeFileSync(out, Buffer.from(shot.result.data, "base64"));
console.log(`screenshot: ${out}`);
clearTimeout(timer);
ws.close();
done(0);

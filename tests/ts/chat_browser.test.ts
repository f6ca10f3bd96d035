// SPDX-License-Identifier: MIT
//
// The chat web page (examples/chat/web) in a real browser: Debian's chromium, headless, driven
// by puppeteer-core, the page served by `chat_server --web` itself. Two pages (alice, bob) and
// a C client (examples/chat/chat_client, carol) chat with each other; bob sees alice type; the
// pages join a channel and talk there; bob reads the history; then the server is stopped
// (SIGTERM: 1012) and started again on the same port and --db file, and later killed
// (SIGKILL) and started again, each time with a message typed while it was down: the pages
// resume by themselves and show every message a person expects, each once. A screenshot of
// alice's page is kept in VERANI_TS_ARTIFACTS.
//
// The environment names VERANI_CHAT_SERVER, VERANI_CHAT_CLIENT, VERANI_CHAT_WEB (the built
// page), VERANI_CHROMIUM, VERANI_TS_WORKDIR and VERANI_TS_ARTIFACTS. A missing chromium is a
// failure, not a skip. Every wait ends at a deadline derived from the timeouts the test sets
// (tests/common/deadline.h's idea, VERANI_TEST_TIME_SCALE too); no test asserts a duration.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";

import { generous, startServer as start, until as untilBy, type Server } from "./harness.js";

const env = process.env;
// The page's client reconnects with the C client's defaults: 1 s, then x1.5 with 20 %
// jitter; the longest gap this test can cause is a few attempts, so 10 s is the expected.
const WAIT_MS = generous(10000);
const READY = /web page is at http:\/\/127\.0\.0\.1:(\d+)\/app\//;
const startServer = (db: string, port: number): Promise<Server> =>
  start(db, port, ["--web", env.VERANI_CHAT_WEB!], READY, WAIT_MS);

const t0 = Date.now();
/** Say where the test is (stderr: ctest --output-on-failure shows it). */
function step(what: string): void {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}\n`);
}

/** Resolve when `cond()` holds (checked every 50 ms); reject at the deadline. */
function until(cond: () => Promise<boolean> | boolean, what: string): Promise<void> {
  step(`waiting for ${what}`);
  return untilBy(cond, what, WAIT_MS, 50);
}

/** The texts of the page's chat messages, as "#channel from: text". */
function messages(page: Page, list = "#messages"): Promise<string[]> {
  return page.evaluate((sel: string) => [...document.querySelectorAll(`${sel} li.msg`)].map((li) => {
    const q = (c: string): string => li.querySelector(`.${c}`)?.textContent ?? "";
    return `${q("ch")} ${q("from")}: ${q("text")}`;
  }), list);
}

/** The text of element `id`. */
const text = (page: Page, id: string): Promise<string> =>
  page.evaluate((i: string) => document.getElementById(i)?.textContent ?? "", id);

const state = (page: Page): Promise<string> =>
  page.evaluate(() => document.getElementById("status")?.dataset.state ?? "");

/** The channels the page lists. */
const channels = (page: Page): Promise<string[]> =>
  page.evaluate(() => [...document.querySelectorAll("#channels li")].map(
    (li) => (li as HTMLElement).dataset.channel ?? ""));

/** Set the value of input `id` at once (page.type would type 2001 keys). */
const setValue = (page: Page, id: string, v: string): Promise<void> =>
  page.evaluate((i: string, x: string) => {
    (document.getElementById(i) as HTMLInputElement).value = x;
  }, id, v);

async function say(page: Page, text: string): Promise<void> {
  await page.type("#text", text);
  await page.click("#send button");
}

async function sees(page: Page, who: string, line: string): Promise<void> {
  await until(async () => (await messages(page)).includes(line), `${who} to see "${line}"`);
}

test("the chat page in chromium: two pages and a C client, across a stop and a crash",
     async (t) => {
  const chromium = env.VERANI_CHROMIUM;
  assert.ok(chromium && existsSync(chromium),
            `chromium not found (${chromium}): scripts/deps.sh installs Debian's chromium`);
  const dir = mkdtempSync(join(env.VERANI_TS_WORKDIR!, "browser-"));
  const db = join(dir, "chat.db");
  let srv = await startServer(db, 0);
  const port = srv.port;
  let browser: Browser | undefined;
  let carol: ChildProcess | undefined;
  t.after(async () => {
    carol?.kill("SIGKILL");
    await browser?.close().catch(() => {});
    srv.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    userDataDir: join(dir, "profile"),
    timeout: WAIT_MS,
    protocolTimeout: WAIT_MS,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", "--disable-sync",
           "--disable-dev-shm-usage"],
  });
  // each person in a browser context (a window) of their own, as two people would be: a
  // page left in a background tab of one window stopped answering (chromium 156) once a
  // message came in while another tab was in front
  const open = async (name: string): Promise<Page> => {
    const page = await (await browser!.createBrowserContext()).newPage();
    page.setDefaultTimeout(WAIT_MS);
    await page.setViewport({ width: 1000, height: 640 });
    await page.goto(`http://127.0.0.1:${port}/app/?name=${name}&room=lobby`);
    await until(async () => (await state(page)) === "connected", `${name}'s page to connect`);
    return page;
  };
  const alice = await open("alice");
  const bob = await open("bob");

  // carol, the C client, reads lines from stdin and prints what she hears
  let carolOut = "";
  carol = spawn(env.VERANI_CHAT_CLIENT!, [`ws://127.0.0.1:${port}/chat/lobby`, "carol"],
                { stdio: ["pipe", "pipe", "ignore"] });
  carol.stdout!.on("data", (d: Buffer) => { carolOut += d.toString(); });
  await until(() => carolOut.includes("* connected"), "carol to connect");
  const carolHears = (line: string): Promise<void> =>
    until(() => carolOut.includes(line), `carol to hear "${line}"`);

  // the pages and the C client chat
  await until(async () => (await text(alice, "messages")).includes("carol joined"),
              "alice to see carol join");
  await say(alice, "hello from the browser");
  await sees(bob, "bob", "#default alice: hello from the browser");
  await sees(alice, "alice (her own)", "#default alice: hello from the browser");
  await carolHears("[#default] alice: hello from the browser");
  carol.stdin!.write("hello from C\n");
  await sees(alice, "alice", "#default carol: hello from C");
  await sees(bob, "bob", "#default carol: hello from C");

  // bob types: alice sees who
  await bob.type("#text", "hm");
  await until(async () => (await text(alice, "typing")).includes("bob is typing"),
              "alice to see bob typing");
  await bob.click("#send button");
  await sees(alice, "alice", "#default bob: hm");

  // a channel: both pages join it, a message there reaches them and not carol
  for (const p of [alice, bob]) {
    await p.type("#channel", "side");
    await p.click("#join button");
    await until(async () => (await channels(p)).includes("side"), "the join");
  }
  await say(alice, "just for the side");
  await sees(bob, "bob", "#side alice: just for the side");

  // bob reads the history
  await bob.click("#load-history");
  await until(async () => (await messages(bob, "#history"))
                .includes("#side alice: just for the side"), "bob's history");
  assert.ok((await messages(bob, "#history")).includes("#default carol: hello from C"));

  // the schema's limits are checked in the page before anything is sent
  await setValue(alice, "text", "x".repeat(2001));
  await alice.click("#send button");
  await until(async () => (await text(alice, "error")).includes("text: longer than 2000"),
              "the page to refuse 2001 characters");
  await setValue(alice, "text", "");
  for (const p of [alice, bob]) await p.click("#channels li[data-channel=default]");

  // a graceful stop: the pages reconnect and resume; what alice typed meanwhile arrives
  srv.child.kill("SIGTERM");
  await srv.exited;
  await until(async () => (await state(alice)) !== "connected", "alice to notice the stop");
  await say(alice, "typed while the server restarts");
  srv = await startServer(db, port);
  await sees(bob, "bob", "#default alice: typed while the server restarts");
  await until(async () => (await state(alice)) === "connected", "alice to resume");
  await say(bob, "back after the restart");
  await sees(alice, "alice", "#default bob: back after the restart");
  await carolHears("[#default] bob: back after the restart");

  // a crash: the same, in a new epoch; the page says some messages may be missing
  srv.child.kill("SIGKILL");
  await srv.exited;
  await until(async () => (await state(bob)) !== "connected", "bob to notice the crash");
  await say(bob, "typed while the server is down");
  srv = await startServer(db, port);
  await sees(alice, "alice", "#default bob: typed while the server is down");
  await carolHears("[#default] bob: typed while the server is down");
  await say(alice, "and we go on");
  await sees(bob, "bob", "#default alice: and we go on");

  // every message a person expects, each once
  const expected = ["#default alice: hello from the browser", "#default carol: hello from C",
                    "#default bob: hm", "#side alice: just for the side",
                    "#default alice: typed while the server restarts",
                    "#default bob: back after the restart",
                    "#default bob: typed while the server is down",
                    "#default alice: and we go on"];
  for (const [page, who] of [[alice, "alice"], [bob, "bob"]] as const) {
    const got = await messages(page);
    for (const line of expected)
      assert.equal(got.filter((x) => x === line).length, 1, `${who} shows "${line}" once`);
  }

  const shots = env.VERANI_TS_ARTIFACTS!;
  mkdirSync(shots, { recursive: true });
  await alice.screenshot({ path: join(shots, "chat_alice.png") });
  await bob.screenshot({ path: join(shots, "chat_bob.png") });
});

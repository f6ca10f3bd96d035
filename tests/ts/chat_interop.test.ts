// SPDX-License-Identifier: MIT
//
// The generated TypeScript client (veranic --ts, examples/chat's chat_ts/) on @verani/client
// (runtime/ts) in Node, against the example chat server (examples/chat/chat_server) run as a
// child process on 127.0.0.1, with the `ws` package's WebSocket passed in (Node 20 has no
// global one without a flag): typed events both ways, a typed request, join and a message to
// the joined channel, the typing indicator, validation before sending with the C validators'
// texts, a server refusal, and the server stopped (SIGTERM: 1012) and killed (SIGKILL) and
// started again on the same port and --db file, with messages sent while it was down: every
// message arrives once, none twice.
//
// Bundled by esbuild (tests/ts/CMakeLists.txt) and run by node's test runner; the environment
// names VERANI_CHAT_SERVER and VERANI_TS_WORKDIR. Every wait ends at a deadline derived from
// the timeouts the test sets (tests/common/deadline.h's idea, VERANI_TEST_TIME_SCALE too); no
// test asserts a duration.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import WebSocket from "ws";

import { RequestError, ValidationError, type WebSocketConstructor } from "@verani/client";
import { ChatRoom, CHAT_FINGERPRINT, validateChatMessage } from "@chat/chat_client.js";
import type { ChatBroadcast } from "@chat/chat_pb.js";

import { generous, startServer as start, until as untilBy, type Server } from "./harness.js";

// The clients' own timings: reconnect after 100 ms at first, at most 500 ms apart.
const RETRY = { initialDelayMs: 100, maxDelayMs: 500, maxAttempts: Infinity };
const WAIT_MS = generous(2500);
const READY = /ws:\/\/127\.0\.0\.1:(\d+)\//;
const until = (cond: () => boolean, what: string): Promise<void> =>
  untilBy(cond, what, WAIT_MS);
const startServer = (db: string, port: number): Promise<Server> =>
  start(db, port, [], READY, WAIT_MS);

/** A person in the chat: a ChatRoom and everything it heard. */
class Person {
  readonly room: ChatRoom;
  readonly heard: ChatBroadcast[] = [];
  readonly typing: string[] = [];
  readonly recovery: boolean[] = [];

  constructor(port: number, readonly name: string) {
    this.room = new ChatRoom(`ws://127.0.0.1:${port}/chat/lobby?userId=${name}&name=${name}`,
                             { WebSocket: WebSocket as unknown as WebSocketConstructor,
                               ...RETRY });
    this.room.on.chatMessage((m) => this.heard.push(m));
    this.room.on.typing((u) => this.typing.push(u.userId));
    this.room.client.onRecoveryFailed((resumed) => this.recovery.push(resumed));
  }

  texts(): string[] {
    return this.heard.map((m) => m.text);
  }

  hears(text: string): Promise<void> {
    return until(() => this.texts().includes(text), `${this.name} to hear "${text}"`);
  }
}

test("the generated TypeScript client talks to chat_server", async (t) => {
  const dir = mkdtempSync(join(process.env.VERANI_TS_WORKDIR!, "interop-"));
  const db = join(dir, "chat.db");
  let srv = await startServer(db, 0);
  const port = srv.port;
  const people: Person[] = [];
  t.after(() => {
    for (const p of people) p.room.client.close();
    srv.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  const alice = new Person(port, "alice");
  const bob = new Person(port, "bob");
  people.push(alice, bob);
  await alice.room.client.waitForConnection(WAIT_MS);
  await bob.room.client.waitForConnection(WAIT_MS);
  assert.equal(alice.room.client.info().userId, "alice");
  assert.ok(alice.room.client.inChannel("default"));
  assert.match(CHAT_FINGERPRINT, /^[0-9a-f]{16}$/);

  // typed events both ways, and the typing indicator
  alice.room.emit.chatMessage({ text: "hello" });
  await bob.hears("hello");
  assert.equal(bob.heard[0]!.from, "alice");
  assert.equal(bob.heard[0]!.channel, "default");
  bob.room.emit.chatTyping();
  await until(() => alice.typing.includes("bob"), "alice to see bob typing");

  // a typed request
  const page = await alice.room.request.history({ limit: 10 });
  assert.ok(page.messages.some((m) => m.text === "hello" && m.from === "alice"));

  // join, and a message to that channel reaches only its members
  await bob.room.client.join("side");
  await alice.room.client.join("side");
  bob.room.emit.chatMessage({ text: "on the side", channel: "side" });
  await alice.hears("on the side");
  assert.equal(alice.heard.at(-1)!.channel, "side");
  await assert.rejects(alice.room.client.join("Bad Name"),
                       (e) => e instanceof RequestError && e.status === "error");

  // validation before sending: the C validators' texts; nothing is sent
  assert.throws(() => alice.room.emit.chatMessage({ text: "x".repeat(2001) }),
                (e) => e instanceof ValidationError && e.message === "text: longer than 2000");
  assert.doesNotThrow(() => alice.room.emit.chatMessage({ text: "\u{1F600}".repeat(2000) }),
                      "max_len counts code points");
  await bob.hears("\u{1F600}".repeat(2000));
  assert.throws(() => alice.room.emit.chatMessage({ text: "" }), /^ValidationError: text: is required$|text: is required/);
  assert.throws(() => alice.room.emit.chatMessage({ text: "a", channel: "c".repeat(33) }),
                /channel: longer than 32/);
  assert.throws(() => alice.room.emit.chatMessage({ text: "a", tags: Array(9).fill("t") }),
                /tags: more than 8 items/);
  await assert.rejects(alice.room.request.history({ limit: 0 }), /limit: less than 1/);
  await assert.rejects(alice.room.request.history({ limit: 101 }), /limit: greater than 100/);
  assert.equal(validateChatMessage({ text: "a\ud800", tags: [], mood: 0, channel: "",
                                     replyTo: 0n } as never)?.reason,
               "is not valid UTF-8 (at byte 1)");
  // the server refuses a message to a channel the sender is not in (HANDLER_FAILED)
  const errors: string[] = [];
  alice.room.client.onError((_k, what) => errors.push(what));
  alice.room.emit.chatMessage({ text: "nope", channel: "elsewhere" });
  await until(() => errors.length > 0, "the server's refusal");

  // SIGTERM: 1012, the clients reconnect and resume; what bob says meanwhile is queued
  const before = alice.room.client.info();
  srv.child.kill("SIGTERM");
  await srv.exited;
  await until(() => bob.room.client.state === "reconnecting", "bob to notice the stop");
  bob.room.emit.chatMessage({ text: "while the server restarts" });
  srv = await startServer(db, port);
  await alice.hears("while the server restarts");
  const after = alice.room.client.info();
  assert.equal(after.clientId, before.clientId, "the session resumed");
  assert.equal(after.epoch, before.epoch, "a graceful restart keeps the epoch");
  assert.deepEqual(alice.recovery, [], "nothing was lost");

  // SIGKILL: frames in memory are lost, the sessions come back in a new epoch
  bob.room.emit.chatMessage({ text: "before the crash" });
  await alice.hears("before the crash");
  srv.child.kill("SIGKILL");
  await srv.exited;
  await until(() => bob.room.client.state === "reconnecting", "bob to notice the crash");
  bob.room.emit.chatMessage({ text: "while the server is down" });
  srv = await startServer(db, port);
  await alice.hears("while the server is down");
  await until(() => alice.room.client.state === "connected", "alice to resume");
  assert.equal(alice.room.client.info().clientId, before.clientId, "same session");
  assert.notEqual(alice.room.client.info().epoch, before.epoch, "a crash starts a new epoch");
  assert.deepEqual(alice.recovery, [true], "what the crash lost is reported once");

  // every message once, none twice
  const seen = alice.texts();
  for (const text of ["on the side", "while the server restarts", "before the crash",
                      "while the server is down"])
    assert.equal(seen.filter((x) => x === text).length, 1, `"${text}" exactly once`);
  const history = await bob.room.request.history({ limit: 100 });
  for (const text of ["hello", "while the server restarts", "while the server is down"])
    assert.ok(history.messages.some((m) => m.text === text), `history keeps "${text}"`);

  // goodbye: 1000 ends the session, no reconnect
  alice.room.client.disconnect();
  assert.equal(alice.room.client.state, "disconnected");
});

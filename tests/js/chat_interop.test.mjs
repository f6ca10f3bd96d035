// SPDX-License-Identifier: MIT
//
// A Verani-C client in JavaScript, written from runtime/PROTOCOL.md and the two .proto files
// alone (the installed envelope.proto and the chat.proto veranic emits), against the example
// chat server (examples/chat/chat_server) run as a child process on 127.0.0.1: the handshake
// (HELLO with the fingerprint read from chat.proto, WELCOME; for some connections the HELLO
// folded into the upgrade as ?hello=, base64url by Node's own encoder), a typed event (ids and payload
// types read from ChatOn/ChatEmit), a request (the reply type from ChatOn.Reply), a join,
// a resume across an abrupt drop with a frame sent meanwhile, and a resume across a SIGKILL
// restart of the server on the same --db file with frames sent in between (a new epoch: every
// frame since the restart arrives, recovery_failed says what the crash lost); and a client that
// floods past the protocol-error limit gets every answer and a 1008 close, not a reset.
//
// Run by CTest (tests/js/CMakeLists.txt) with node's test runner; the environment names the
// files: VERANI_ENVELOPE_PROTO, VERANI_CHAT_PROTO, VERANI_CHAT_SERVER, VERANI_JS_WORKDIR.
// Every wait ends at a deadline derived from the test's own timeouts (WAIT_MS), scaled by
// VERANI_TEST_TIME_SCALE like tests/common/deadline.h; no test asserts a duration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { startChatServer } from './chat_server.mjs';
import WebSocket from 'ws';

const env = process.env;
const SCALE = Math.max(1, parseInt(env.VERANI_TEST_TIME_SCALE || '1', 10) || 1);
// The server answers within its own turn; this bounds one wait the way DL_WAIT_MS does.
const WAIT_MS = (10 * 2500 + 5000) * SCALE;

const root = await new protobuf.Root().load([env.VERANI_ENVELOPE_PROTO, env.VERANI_CHAT_PROTO],
                                           { keepCase: true });
root.resolveAll();
const Envelope = root.lookupType('verani.wire.Envelope');
const Hello = root.lookupType('verani.wire.Hello');
const Kind = root.lookupEnum('verani.wire.Kind').values;
const ErrorCode = root.lookupEnum('verani.wire.ErrorCode').values;
const ChatOn = root.lookupType('chat.ChatOn');
const ChatEmit = root.lookupType('chat.ChatEmit');
const OnId = root.lookupEnum('chat.ChatOn.Id').values;
const EmitId = root.lookupEnum('chat.ChatEmit.Id').values;
const FINGERPRINT = root.lookupType('chat.VeraniSchema').fields.fingerprint.options.default;

const num = (v) => (v === undefined || v === null ? 0 : typeof v === 'number' ? v : v.toNumber());
// The payload type of an `on` event, its reply type, the payload type of an `emit` event.
const onType = (id) => ChatOn.fieldsById[id].resolvedType;
const replyType = (id) => root.lookupType('chat.ChatOn.Reply').fieldsById[id].resolvedType;
const emitType = (id) => ChatEmit.fieldsById[id].resolvedType;

// The example server on port 0 with its history in `db`.
const startServer = (db) => startChatServer(['--port', '0', '--db', db], WAIT_MS);

// The HELLO (with `resume`'s fields, when given) as PROTOCOL.md section 3 has it.
const helloOf = (resume) => Object.assign({ protocol: 1, fingerprint: FINGERPRINT }, resume);

// One connection: every server message decoded into `inbox`, in order. With `fold` (true, or
// the resume fields) its HELLO goes in the upgrade URL ("The folded HELLO"), not in a frame.
class Conn {
  constructor(port, user, fold) {
    this.inbox = [];
    this.wakers = new Set();
    this.closed = null;
    this.lastSeq = 0;
    let url = `ws://127.0.0.1:${port}/chat/lobby?userId=${user}&name=${user}`;
    if (fold) {
      this.folded = fold === true ? undefined : fold;
      const bytes = Hello.encode(Hello.fromObject(helloOf(this.folded))).finish();
      url += `&hello=${Buffer.from(bytes).toString('base64url')}`;
    }
    this.fold = Boolean(fold);
    this.ws = new WebSocket(url);
    this.ws.binaryType = 'nodebuffer';
    this.ws.on('message', (data, isBinary) => {
      assert.ok(isBinary, 'the server sends binary messages only');
      const e = Envelope.toObject(Envelope.decode(data), { defaults: false });
      if (e.kind === Kind.WELCOME) {
        // a resume in the same epoch replays after our last_seq; anything else counts anew
        const r = this.resumeFrom;
        this.lastSeq = !e.welcome.resumed ? num(e.welcome.seq)
          : r && r.epoch === e.welcome.epoch ? num(r.last_seq) : 0;
      }
      if (e.seq !== undefined) {
        assert.equal(num(e.seq), this.lastSeq + 1, 'seq is the previous + 1');
        this.lastSeq = num(e.seq);
      }
      this.inbox.push(e);
      this.wake();
    });
    this.ws.on('close', (code) => { this.closed = code; this.wake(); });
    this.ws.on('error', () => {});
  }

  wake() { for (const w of this.wakers) w(); }

  opened() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no upgrade')), WAIT_MS);
      this.ws.once('open', () => { clearTimeout(timer); resolve(); });
      this.ws.once('unexpected-response', (req, res) => {
        clearTimeout(timer);
        reject(new Error(`upgrade refused: ${res.statusCode}`));
      });
    });
  }

  send(fields) { this.ws.send(Envelope.encode(Envelope.fromObject(fields)).finish()); }

  // Take the first message that `pred` accepts, waiting for it until WAIT_MS pass.
  next(pred, what) {
    return new Promise((resolve, reject) => {
      const look = () => {
        const i = this.inbox.findIndex(pred);
        if (i >= 0) {
          done();
          resolve(this.inbox.splice(i, 1)[0]);
        } else if (this.closed !== null) {
          done();
          reject(new Error(`closed (${this.closed}) while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => { done(); reject(new Error(`no ${what}`)); }, WAIT_MS);
      const done = () => { clearTimeout(timer); this.wakers.delete(look); };
      this.wakers.add(look);
      look();
    });
  }

  // Say HELLO (resuming with `resume`), or, folded, only wait: the server read it already.
  async hello(resume) {
    await this.opened();
    if (this.fold) {
      this.resumeFrom = this.folded;
    } else {
      this.resumeFrom = resume;
      this.send({ kind: Kind.HELLO, hello: helloOf(resume) });
    }
    const w = await this.next((e) => e.kind === Kind.WELCOME, 'WELCOME');
    this.welcome = w.welcome;
    return w.welcome;
  }

  // What a later HELLO needs to resume this session.
  resumeInfo() {
    return { resume_token: this.welcome.resume_token, last_seq: this.lastSeq,
             epoch: this.welcome.epoch };
  }

  say(text) {
    const payload = onType(OnId.CHAT_MESSAGE).encode({ text, mood: 1 }).finish();
    this.send({ kind: Kind.EVENT, event: OnId.CHAT_MESSAGE, payload });
  }

  async history(requestId) {
    const payload = onType(OnId.HISTORY).encode({ limit: 50 }).finish();
    this.send({ kind: Kind.REQUEST, event: OnId.HISTORY, request_id: requestId, payload });
    const r = await this.next((e) => num(e.request_id) === requestId, `reply ${requestId}`);
    assert.equal(r.kind, Kind.REPLY, JSON.stringify(r.error));
    assert.equal(r.event, OnId.HISTORY);
    return replyType(OnId.HISTORY).decode(r.payload);
  }

  // The next chat.message broadcast; its ChatBroadcast decoded.
  async heard(what) {
    const e = await this.next((m) => m.kind === Kind.EVENT && m.event === EmitId.CHAT_MESSAGE,
                              what);
    return { env: e, msg: emitType(EmitId.CHAT_MESSAGE).decode(e.payload) };
  }

  close() { this.ws.close(1000); }
}

test('a client built from PROTOCOL.md and the .proto files talks to chat_server', async (t) => {
  const dir = mkdtempSync(join(env.VERANI_JS_WORKDIR, 'run-'));
  const db = join(dir, 'chat.db');
  let srv = startServer(db);
  t.after(() => {
    srv.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  let port = await srv.port;

  // handshake: the fingerprint from chat.proto matches, the schema's channel is joined
  assert.match(FINGERPRINT, /^[0-9a-f]{16}$/);
  const alice = new Conn(port, 'alice');
  const w = await alice.hello();
  assert.equal(w.protocol, 1);
  assert.equal(w.fingerprint, FINGERPRINT);
  assert.equal(w.user_id, 'alice');
  assert.deepEqual(w.channels, ['default']);
  assert.match(w.epoch, /^[0-9a-f]{16}$/);
  assert.ok(!w.resumed);
  const bob = new Conn(port, 'bob', true); // folded: the WELCOME needs no frame from bob
  const wb = await bob.hello();
  assert.equal(wb.fingerprint, FINGERPRINT);
  assert.ok(!wb.resumed);

  // a typed event: alice's ChatMessage reaches bob as the ChatBroadcast of chat.message
  alice.say('hello');
  const got = await bob.heard('the broadcast of hello');
  assert.equal(got.env.channel, 'default');
  assert.equal(got.msg.from, 'alice');
  assert.equal(got.msg.text, 'hello');

  // a request: history, answered with the reply type that ChatOn.Reply names
  const page = await alice.history(1);
  assert.ok(page.messages.some((m) => m.text === 'hello'));

  // a join: REPLY with the channel; a bad name is refused
  alice.send({ kind: Kind.JOIN, channel: 'side', request_id: 2 });
  const j = await alice.next((e) => num(e.request_id) === 2, 'the JOIN reply');
  assert.equal(j.kind, Kind.REPLY);
  assert.equal(j.channel, 'side');
  alice.send({ kind: Kind.JOIN, channel: 'Bad Name', request_id: 3 });
  const jd = await alice.next((e) => num(e.request_id) === 3, 'the refused JOIN');
  assert.equal(jd.error.code, ErrorCode.JOIN_DENIED);
  assert.equal(alice.inbox.filter((e) => e.kind === Kind.ERROR).length, 0,
               'no other error (no SCHEMA_MISMATCH)');

  // an abrupt drop (no close frame), a message sent meanwhile, a resume that replays it
  const before = alice.resumeInfo();
  alice.ws.terminate();
  bob.say('while you were away');
  await bob.history(10); // bob's message was handled before this reply
  const alice2 = new Conn(port, 'alice');
  const w2 = await alice2.hello(before);
  assert.ok(w2.resumed);
  assert.ok(!w2.recovery_failed);
  assert.equal(w2.client_id, w.client_id);
  assert.equal(w2.epoch, w.epoch);
  assert.deepEqual([...w2.channels].sort(), ['default', 'side']);
  const away = await alice2.heard('the replayed message');
  assert.equal(away.msg.text, 'while you were away');
  assert.equal(num(away.env.seq), before.last_seq + 1);

  // a SIGKILL, a restart on the same file, frames sent before alice comes back
  const info = alice2.resumeInfo();
  await alice2.history(4); // the resume's attachment is stored (a turn has passed)
  srv.child.kill('SIGKILL');
  await srv.exited;
  srv = startServer(db);
  port = await srv.port;
  const carol = new Conn(port, 'carol');
  await carol.hello();
  carol.say('after the restart');
  await carol.history(1);
  const alice3 = new Conn(port, 'alice', info); // the resume folded into the upgrade
  const w3 = await alice3.hello();
  assert.ok(w3.resumed);
  assert.equal(w3.client_id, w.client_id);
  assert.notEqual(w3.epoch, w.epoch, 'a crash starts a new epoch');
  assert.ok(w3.recovery_failed, 'what the crash lost is reported');
  assert.ok(num(w3.seq) >= 1);
  const after = await alice3.heard('the message sent after the restart');
  assert.equal(after.msg.text, 'after the restart');
  assert.ok(num(after.env.seq) >= 1 && num(after.env.seq) <= num(w3.seq));

  // 30 unknown events in a row: 10 UNKNOWN_EVENT errors, then 1008 (PROTOCOL.md section 5),
  // though the client goes on sending after the 10th
  const flooder = new Conn(port, 'dave');
  await flooder.hello();
  for (let i = 0; i < 30; i++) flooder.send({ kind: Kind.EVENT, event: 999 });
  const closeCode = await flooder.next(() => false, 'the close').catch(() => flooder.closed);
  assert.equal(closeCode, 1008);
  assert.equal(flooder.inbox.filter((e) => e.kind === Kind.ERROR &&
                                           e.error.code === ErrorCode.UNKNOWN_EVENT).length, 10);

  // a goodbye ends the session; the server stops with 1012
  alice3.close();
  await alice3.next(() => false, 'the close').catch(() => {});
  assert.equal(alice3.closed, 1000);
  srv.child.kill('SIGTERM');
  const code = await carol.next(() => false, 'the close').catch(() => carol.closed);
  assert.equal(code, 1012);
  bob.ws.terminate();
  await srv.exited;
});

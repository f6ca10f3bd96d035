// SPDX-License-Identifier: MIT
//
// Unit tests of the TypeScript client (runtime/ts), run with node's test runner on the
// built package (dist/): the backoff function, the offline queue, the resume state, and
// the client itself against a scripted in-memory WebSocket under node's mock timers (no
// socket, no wall clock: every timeout is stepped with mock.timers.tick, so nothing here
// depends on the machine's speed). The same behaviours as the C client's unit and e2e
// tests: states, close codes (PROTOCOL.md section 7), 4003 "moved", keepalive, request
// outcomes, the bounded offline queue, resume with last_seq and the epoch, exactly once,
// a fresh session's HELLO folded into the upgrade URL (a resume's sent as the first frame),
// and a tab that becomes visible again.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { create, toBinary, fromBinary, isFieldSet } from '@bufbuild/protobuf';

import {
  VeraniClient, RequestError, ValidationError, backoffDelay, backoffFromOptions, OfflineQueue,
  ResumeState, checkString, movedTarget, fail, base64url, withFoldedHello, hasHelloParam,
  FOLDED_HELLO_MAX, SendBufferFullError,
} from '../dist/index.js';
import {
  EnvelopeSchema, Kind, ErrorCode, ErrorSchema, HelloSchema,
} from '../dist/gen/envelope_pb.js';

// --- pure parts -------------------------------------------------------------------------

test('backoff: the C client defaults, 1000 ms x 1.5^(n-1) capped at 30000, jitter within bounds', () => {
  const b = backoffFromOptions({});
  assert.deepEqual(b, { initialMs: 1000, maxMs: 30000, multiplier: 1.5, jitterPercent: 20 });
  const none = backoffFromOptions({ jitterPercent: 0 });
  assert.deepEqual([1, 2, 3, 4].map((n) => backoffDelay(none, n, 0)), [1000, 1500, 2250, 3375]);
  assert.equal(backoffDelay(none, 50, 0), 30000);
  assert.equal(backoffDelay(none, 1e9, 0), 30000, 'no overflow for any attempt');
  for (let r = 0; r < 2000; r += 7) {
    const d = backoffDelay(b, 2, r * 2654435761 >>> 0);
    assert.ok(d >= 1200 && d <= 1800, `${d} within 1500 +- 20 %`);
  }
  assert.ok(backoffDelay(b, 40, 0xffffffff) <= 30000, 'jitter never passes the cap');
  assert.deepEqual(backoffFromOptions({ backoffMultiplier: 0.5, maxDelayMs: 10, initialDelayMs: 50,
                                         jitterPercent: 500 }),
                   { initialMs: 50, maxMs: 50, multiplier: 1, jitterPercent: 100 });
});

test('queue: bounded while offline, the oldest dropped and counted, requests removable', () => {
  const q = new OfflineQueue(3);
  const f = (n, id = 0n) => ({ bytes: new Uint8Array([n]), requestId: id });
  for (let i = 1; i <= 3; i++) assert.deepEqual(q.push(f(i), true), []);
  const dropped = q.push(f(4), true);
  assert.deepEqual(dropped.map((x) => x.bytes[0]), [1]);
  assert.equal(q.dropped, 1);
  q.push(f(5, 9n), false);
  assert.equal(q.length, 4, 'unbounded when asked (connected)');
  assert.equal(q.removeRequest(9n).bytes[0], 5);
  assert.equal(q.removeRequest(9n), undefined);
  assert.deepEqual([q.shift(), q.shift(), q.shift()].map((x) => x.bytes[0]), [2, 3, 4]);
});

test('resume: fresh, resumed, new epoch, recovery failed, exactly once', () => {
  const r = new ResumeState();
  assert.equal(r.hello(), undefined);
  assert.deepEqual(r.welcome({ resumeToken: 't1', seq: 0n, epoch: 'e1' }),
                   { resumed: false, recoveryFailed: false, lost: false });
  assert.ok(r.accept(1n) && r.accept(2n) && r.accept(3n));
  assert.equal(r.accept(2n), false, 'a seq already processed is not delivered again');
  assert.deepEqual(r.hello(), { resumeToken: 't1', lastSeq: 3n, epoch: 'e1' });
  // same epoch: the replay follows last_seq
  assert.deepEqual(r.welcome({ resumeToken: 't2', resumed: true, seq: 5n, epoch: 'e1' }),
                   { resumed: true, recoveryFailed: false, lost: false });
  assert.equal(r.lastSeq, 3n);
  assert.ok(r.accept(4n) && r.accept(5n));
  // a crash: new epoch, the replay starts again at 1
  assert.deepEqual(r.welcome({ resumeToken: 't3', resumed: true, recoveryFailed: true, seq: 2n,
                               epoch: 'e2' }),
                   { resumed: true, recoveryFailed: true, lost: true });
  assert.equal(r.lastSeq, 0n);
  assert.equal(r.replayOver(), false);
  assert.ok(r.accept(1n));
  assert.equal(r.replayOver(), false);
  assert.ok(r.accept(2n));
  assert.equal(r.replayOver(), true, 'the replay is over at the welcome seq');
  assert.equal(r.replayOver(), false, 'once');
  // the resume was refused: a fresh session, what was missed is lost
  assert.deepEqual(r.welcome({ resumeToken: 't4', resumed: false, seq: 0n, epoch: 'e3' }),
                   { resumed: false, recoveryFailed: false, lost: true });
  assert.equal(r.lastSeq, 0n);
});

test('validation helpers: the C validators texts, code points, lone surrogates', () => {
  assert.equal(checkString('t', 'abc', 0, 3), null);
  assert.deepEqual(checkString('t', 'abcd', 0, 3), { path: 't', reason: 'longer than 3' });
  assert.equal(checkString('t', '\u{1F600}\u{1F600}\u{1F600}', 0, 3), null, 'code points, not units');
  assert.deepEqual(checkString('t', 'ab', 3), { path: 't', reason: 'shorter than 3' });
  assert.deepEqual(checkString('t', 'a\u00e9\ud800x', 0), { path: 't', reason: 'is not valid UTF-8 (at byte 3)' });
  const e = new ValidationError('text', 'is required');
  assert.equal(e.message, 'text: is required');
  assert.deepEqual(fail(null, 'x'), { path: '', reason: 'x' });
});

test('4003: the URL the close reason names', () => {
  const cur = 'ws://a:1/chat/lobby?userId=u';
  assert.equal(movedTarget(cur, 'moved ws://b:2/chat/lobby?userId=u'), 'ws://b:2/chat/lobby?userId=u');
  assert.equal(movedTarget(cur, 'moved ws://b:2'), 'ws://b:2/chat/lobby?userId=u');
  assert.equal(movedTarget(cur, 'moved https://b:2/'), 'wss://b:2/chat/lobby?userId=u');
  assert.equal(movedTarget(cur, 'moved'), undefined);
});

// --- the client against a scripted socket ---------------------------------------------

const room = {
  name: 'T', path: '/t/{room}', fingerprint: '0123456789abcdef', maxFrame: 65536,
  // payload types borrowed from the envelope: only their descriptors matter here
  on: [
    { id: 1, name: 'say', payload: ErrorSchema,
      validate: (m) => (m.message.length > 5 ? { path: 'message', reason: 'longer than 5' } : null) },
    { id: 2, name: 'poke' },
    { id: 3, name: 'ask', payload: ErrorSchema, reply: HelloSchema },
  ],
  emit: [{ id: 1, name: 'said', payload: ErrorSchema }],
};

function scripted() {
  const sockets = [];
  class FakeWS {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.binaryType = 'blob';
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      sockets.push(this);
    }
    send(b) { this.sent.push(fromBinary(EnvelopeSchema, b)); }
    close(code, reason) { this.closedWith = { code, reason }; this.readyState = 3; }
    // the server's side
    open() { this.readyState = 1; this.onopen?.({}); }
    deliver(init) {
      const b = toBinary(EnvelopeSchema, create(EnvelopeSchema, init));
      this.onmessage?.({ data: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) });
    }
    welcome(w = {}) {
      this.deliver({ kind: Kind.WELCOME, welcome: { protocol: 1, clientId: 'c1', userId: 'u',
        resumeToken: `tok${sockets.length}`, channels: ['default'], epoch: 'e1', seq: 0n,
        maxFrame: 65536, ...w } });
    }
    drop(code = 1006, reason = '') { this.readyState = 3; this.onclose?.({ code, reason }); }
    kinds() { return this.sent.map((e) => e.kind); }
  }
  return { sockets, FakeWS, last: () => sockets[sockets.length - 1] };
}

function client(opts = {}) {
  const s = scripted();
  const states = [];
  const c = new VeraniClient({ url: 'ws://x:1/t/r?userId=u', room, WebSocket: s.FakeWS,
                               visibility: null, random: () => 0.5, ...opts });
  c.onStateChange((_from, to) => states.push(to));
  return { c, s, states };
}

/** The Hello a URL's `hello` parameter holds, checked: one parameter, base64url without
 *  padding (RFC 4648 section 5), at most 512 characters, decoded with Node's own decoder. */
function foldedHello(url) {
  const q = url.slice(url.indexOf('?') + 1).split('&').filter((p) => p.startsWith('hello='));
  assert.equal(q.length, 1, `one hello parameter in ${url}`);
  const v = q[0].slice('hello='.length);
  assert.match(v, /^[A-Za-z0-9_-]+$/, 'base64url, no padding');
  assert.ok(v.length <= 512);
  const h = fromBinary(HelloSchema, new Uint8Array(Buffer.from(v, 'base64url')));
  assert.equal(h.protocol, 1);
  return h;
}

const flush = () => new Promise((r) => setImmediate(r));
const settle = async (p) => { let out; p.then((v) => { out = { v }; }, (e) => { out = { e }; }); await flush(); return out; };

test('client: hello, welcome, typed sends, an offline queue flushed in order', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const { c, s, states } = client();
  assert.equal(c.state, 'connecting');
  c.emit(1, { message: 'one' });
  c.emit(2);
  assert.throws(() => c.emit(1, { message: 'too long' }), (e) => e instanceof ValidationError &&
                e.message === 'message: longer than 5');
  assert.throws(() => c.emit(3, { message: 'x' }), /a reply: send it with a request/);
  assert.throws(() => c.emit(9), /not an `on` event/);
  const ws = s.last();
  const h = foldedHello(ws.url);
  assert.equal(h.fingerprint, room.fingerprint);
  assert.equal(h.resumeToken, '', 'no token on a first connection');
  ws.open();
  assert.deepEqual(ws.kinds(), [], 'the HELLO went in the upgrade URL: no frame before WELCOME');
  ws.welcome();
  assert.equal(c.state, 'connected');
  assert.deepEqual(states, ['connected']);
  assert.deepEqual(ws.kinds(), [Kind.EVENT, Kind.EVENT]);
  assert.equal(fromBinary(ErrorSchema, ws.sent[0].payload).message, 'one');
  assert.equal(ws.sent[1].event, 2);
  assert.ok(c.inChannel('default'));
  assert.equal(c.info().clientId, 'c1');
  // a server event reaches its handler with channel and seq
  const got = [];
  c.on(1, (m, info) => got.push([m.message, info.channel, info.seq]));
  ws.deliver({ kind: Kind.EVENT, event: 1, channel: 'default', seq: 1n,
               payload: toBinary(ErrorSchema, create(ErrorSchema, { message: 'hi' })) });
  assert.deepEqual(got, [['hi', 'default', 1n]]);
  c.close();
  assert.equal(ws.closedWith.code, 1000);
});

test('client: the offline queue is bounded; a dropped request ends disconnected', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const { c } = client({ maxQueue: 2 });
  const req = settle(c.request(3, { message: 'q' }));
  c.emit(2);
  c.emit(2);
  const r = await req;
  assert.ok(r.e instanceof RequestError && r.e.status === 'disconnected');
  assert.equal(c.info().dropped, 1);
  assert.equal(c.info().queued, 2);
  c.close();
});

test('client: close codes of PROTOCOL.md section 7', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const cases = [[1000, 'disconnected'], [1001, 'disconnected'], [1008, 'error'],
                 [1009, 'reconnecting'], [1011, 'reconnecting'], [1012, 'reconnecting'],
                 [4000, 'reconnecting'], [4001, 'reconnecting'], [4002, 'reconnecting'],
                 [3000, 'reconnecting'], [1006, 'reconnecting']];
  for (const [code, want] of cases) {
    const { c, s } = client();
    s.last().open();
    s.last().welcome();
    const closes = [];
    const errors = [];
    c.onClose((cc) => closes.push(cc));
    c.onError((kind, what) => errors.push([kind, what]));
    s.last().drop(code, 'why');
    assert.equal(c.state, want, `after ${code}`);
    assert.deepEqual(closes, [code]);
    // the one close that ends in error says why, as a refused upgrade does
    if (code === 1008) {
      assert.equal(errors.length, 1);
      assert.equal(errors[0][0], 'denied');
      assert.match(errors[0][1], /1008 \(why\)/);
    } else {
      assert.deepEqual(errors, [], `after ${code}`);
    }
    c.close();
  }
});

test('client: while connected, sends past maxSendBytes of socket buffer are refused', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const { c, s } = client({ maxSendBytes: 100 });
  s.last().open();
  s.last().welcome();
  const ws = s.last();
  ws.bufferedAmount = 0;
  c.emit(2); // an empty buffer takes any frame
  ws.bufferedAmount = 98;
  assert.throws(() => c.emit(2), (e) => e instanceof SendBufferFullError &&
                /maxSendBytes \(100\)/.test(e.message));
  const r = await settle(c.request(3, { message: 'q' }));
  assert.ok(r.e instanceof SendBufferFullError);
  const j = await settle(c.join('red'));
  assert.ok(j.e instanceof SendBufferFullError);
  assert.equal(c.info().pendingRequests, 0, 'nothing was queued');
  assert.deepEqual(ws.kinds(), [Kind.EVENT]);
  ws.bufferedAmount = 0; // drained
  c.emit(2);
  assert.deepEqual(ws.kinds(), [Kind.EVENT, Kind.EVENT]);
  c.close();
});

test('client: a gap in the seqs of a connection is told once, as "missed", and counted', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const { c, s } = client();
  const errors = [];
  const said = [];
  c.onError((kind, what) => errors.push([kind, what]));
  c.on(1, (m, info) => said.push(info.seq));
  s.last().open();
  s.last().welcome();
  const ev = (seq) => s.last().deliver({ kind: Kind.EVENT, event: 1, seq,
                                         payload: toBinary(ErrorSchema, create(ErrorSchema, {})) });
  ev(1n);
  ev(2n);
  assert.deepEqual(errors, []);
  ev(5n); // the server dropped 3 and 4 (its drop policy)
  assert.equal(errors.length, 1);
  assert.equal(errors[0][0], 'missed');
  assert.match(errors[0][1], /^2 frame\(s\) from the server lost: seq 5 came after 2/);
  assert.equal(c.info().missed, 2);
  ev(6n);
  assert.equal(errors.length, 1, 'no gap before 6');
  assert.deepEqual(said, [1n, 2n, 5n, 6n], 'every frame that came is delivered, in order');
  assert.equal(c.info().lastSeq, 6n);
  c.close();
});

test('client: backoff, resume with token, last_seq and epoch; 4003 moves at once', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const { c, s } = client({ jitterPercent: 0 });
  s.last().open();
  s.last().welcome({ resumeToken: 'A', epoch: 'E' });
  s.last().deliver({ kind: Kind.EVENT, event: 1, seq: 1n, payload: new Uint8Array() });
  s.last().deliver({ kind: Kind.EVENT, event: 1, seq: 2n, payload: new Uint8Array() });
  s.last().drop(1012, 'server restarting');
  assert.equal(c.state, 'reconnecting');
  assert.equal(s.sockets.length, 1);
  mock.timers.tick(999);
  assert.equal(s.sockets.length, 1, 'waits out the first delay (1000 ms)');
  mock.timers.tick(1);
  assert.equal(s.sockets.length, 2);
  s.last().open();
  const h = s.last().sent[0].hello;
  assert.deepEqual([h.resumeToken, h.lastSeq, h.epoch], ['A', 2n, 'E']);
  // a failed attempt: the next delay is 1500 ms
  s.last().drop(1006);
  mock.timers.tick(1499);
  assert.equal(s.sockets.length, 2);
  mock.timers.tick(1);
  assert.equal(s.sockets.length, 3);
  // 4003 "moved": straight to the URL it names, the resume fields unchanged
  s.last().open();
  s.last().drop(4003, 'moved ws://other:2');
  mock.timers.tick(0);
  assert.equal(s.sockets.length, 4);
  assert.equal(s.last().url, 'ws://other:2/t/r?userId=u');
  // a second 4003 in a row waits out the backoff; the attempt after a move goes to the
  // client's own URL again; a move from wss: to ws: is not followed
  s.last().open();
  s.last().drop(4003, 'moved ws://third:3');
  mock.timers.tick(0);
  assert.equal(s.sockets.length, 4, 'a second move in a row is not at once');
  mock.timers.tick(3375);
  assert.equal(s.sockets.length, 5);
  assert.equal(s.last().url, 'ws://third:3/t/r?userId=u');
  s.last().open();
  s.last().drop(1006);
  mock.timers.tick(5063);
  assert.equal(s.sockets.length, 6);
  assert.equal(s.last().url, 'ws://x:1/t/r?userId=u', 'back to its own URL');
  s.last().open();
  assert.equal(s.last().sent[0].hello.resumeToken, 'A');
  const recov = [];
  c.onRecoveryFailed((resumed) => recov.push(resumed));
  s.last().welcome({ resumeToken: 'B', epoch: 'E', resumed: true, seq: 3n });
  assert.equal(c.info().attempts, 0, 'a welcome resets the attempts');
  assert.deepEqual(recov, []);
  const seen = [];
  c.on(1, (_m, i) => seen.push(i.seq));
  for (const seq of [2n, 3n, 3n, 4n]) // a frame processed already is never delivered twice
    s.last().deliver({ kind: Kind.EVENT, event: 1, seq, payload: new Uint8Array() });
  assert.deepEqual(seen, [3n, 4n]);
  c.close();
});

test('client: attempts run out -> error; reconnect: false -> disconnected', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const { c, s } = client({ maxAttempts: 2, initialDelayMs: 10 });
  for (let i = 0; i < 3; i++) {
    s.last().drop(1006);
    mock.timers.tick(100);
  }
  assert.equal(c.state, 'error');
  assert.equal(s.sockets.length, 3);
  const w = client({ reconnect: false });
  w.s.last().open();
  w.s.last().welcome();
  w.s.last().drop(1012);
  assert.equal(w.c.state, 'disconnected');
  await assert.rejects(w.c.waitForConnection(), /disconnected|closed/);
  c.close();
  w.c.close();
});

test('client: keepalive pings; no pong in time drops the connection and resumes', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const { c, s } = client({ pingIntervalMs: 100, pongTimeoutMs: 50, initialDelayMs: 10 });
  const ws = s.last();
  ws.open();
  ws.welcome();
  mock.timers.tick(100);
  assert.equal(ws.sent.at(-1).kind, Kind.PING);
  ws.deliver({ kind: Kind.PONG });
  mock.timers.tick(100);
  assert.equal(ws.sent.filter((e) => e.kind === Kind.PING).length, 2);
  mock.timers.tick(50); // no pong
  assert.equal(ws.closedWith.code, 4100, 'not 1000: the session stays resumable');
  assert.equal(c.state, 'reconnecting');
  c.close();
});

test('client: request outcomes ok, error, timeout, disconnected, cancelled', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const { c, s } = client({ requestTimeoutMs: 1000, initialDelayMs: 10, jitterPercent: 0 });
  s.last().open();
  s.last().welcome();
  const ok = settle(c.request(3, { message: 'a' }));
  const err = settle(c.request(3, { message: 'b' }));
  const slow = settle(c.request(3, { message: 'c' }));
  const [r1, r2] = s.last().sent.filter((e) => e.kind === Kind.REQUEST).map((e) => e.requestId);
  s.last().deliver({ kind: Kind.REPLY, event: 3, requestId: r1, seq: 1n,
                     payload: toBinary(HelloSchema, create(HelloSchema, { fingerprint: 'f' })) });
  s.last().deliver({ kind: Kind.ERROR, requestId: r2,
                     error: { code: ErrorCode.HANDLER_FAILED, message: 'nope' } });
  mock.timers.tick(1000);
  assert.equal((await ok).v.fingerprint, 'f');
  assert.equal((await err).e.status, 'error');
  assert.equal((await err).e.code, ErrorCode.HANDLER_FAILED);
  assert.equal((await slow).e.status, 'timeout');
  // written, then the connection drops and the server starts a fresh session
  const lost = settle(c.request(3, { message: 'd' }));
  s.last().drop(1006);
  mock.timers.tick(10);
  s.last().open();
  s.last().welcome({ resumed: false });
  assert.equal((await lost).e.status, 'disconnected');
  // written, dropped, resumed: the replayed REPLY completes it
  const kept = settle(c.request(3, { message: 'e' }));
  const rid = s.last().sent.at(-1).requestId;
  s.last().drop(1006);
  mock.timers.tick(10);
  s.last().open();
  s.last().welcome({ resumed: true, seq: 1n });
  s.last().deliver({ kind: Kind.REPLY, event: 3, requestId: rid, seq: 1n,
                     payload: toBinary(HelloSchema, create(HelloSchema, { fingerprint: 'g' })) });
  assert.equal((await kept).v.fingerprint, 'g');
  const join = settle(c.join('side'));
  s.last().deliver({ kind: Kind.REPLY, requestId: s.last().sent.at(-1).requestId, channel: 'side',
                     seq: 2n });
  assert.deepEqual(await join, { v: undefined });
  assert.ok(c.inChannel('side'));
  const cancelled = settle(c.request(3, { message: 'f' }));
  c.close();
  assert.equal((await cancelled).e.status, 'cancelled');
});

test('client: a tab that becomes visible reconnects at once', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const doc = { visibilityState: 'hidden', fns: new Set(),
                addEventListener(_t, f) { this.fns.add(f); },
                removeEventListener(_t, f) { this.fns.delete(f); } };
  const { c, s } = client({ visibility: doc });
  s.last().open();
  s.last().welcome();
  s.last().drop(1006);
  assert.equal(c.state, 'reconnecting');
  assert.equal(s.sockets.length, 1);
  doc.visibilityState = 'visible';
  for (const f of doc.fns) f();
  assert.equal(s.sockets.length, 2, 'no backoff wait');
  assert.equal(c.state, 'connecting');
  s.last().open();
  s.last().welcome();
  for (const f of doc.fns) f();
  assert.equal(s.last().sent.at(-1).kind, Kind.PING, 'connected: a ping at once');
  c.close();
  assert.equal(doc.fns.size, 0);
});

// --- the folded HELLO (PROTOCOL.md section 3) ---------------------------------------------

test('fold: base64url as RFC 4648 section 5 without padding; the hello parameter in a URL', () => {
  let seed = 7;
  for (let n = 0; n <= 70; n++) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    assert.equal(base64url(b), Buffer.from(b).toString('base64url'), `${n} bytes`);
  }
  assert.equal(base64url(new Uint8Array([0xfb, 0xff, 0xbf])), '-_-_', "'-' and '_', not '+' and '/'");
  assert.equal(base64url(new Uint8Array([0xff])), '_w', 'no padding');
  assert.equal(FOLDED_HELLO_MAX, 512);
  const h = new Uint8Array([8, 1]); // protocol 1
  assert.equal(withFoldedHello('ws://h/p', h), 'ws://h/p?hello=CAE');
  assert.equal(withFoldedHello('ws://h/p?', h), 'ws://h/p?hello=CAE');
  assert.equal(withFoldedHello('ws://h/p?userId=u', h), 'ws://h/p?userId=u&hello=CAE');
  assert.equal(withFoldedHello('ws://h/p?userId=u&', h), 'ws://h/p?userId=u&hello=CAE');
  assert.equal(withFoldedHello('ws://h/p?userId=a%20b&channels=red,%20blue+x', h),
               'ws://h/p?userId=a%20b&channels=red,%20blue+x&hello=CAE', 'the others as written');
  assert.equal(withFoldedHello('ws://h/p?a=1#f', h), 'ws://h/p?a=1&hello=CAE#f');
  // a stale one goes, whatever else is done
  assert.equal(withFoldedHello('ws://h/p?hello=AAAA&a=1&h%65llo=B', h), 'ws://h/p?a=1&hello=CAE');
  assert.equal(withFoldedHello('ws://h/p?a=1&hello=AAAA'), 'ws://h/p?a=1');
  assert.equal(withFoldedHello('ws://h/p?hello=AAAA'), 'ws://h/p');
  assert.equal(withFoldedHello('ws://h/p?a=1'), 'ws://h/p?a=1');
  assert.ok(hasHelloParam('ws://h/p?a=1&hello=x') && hasHelloParam('ws://h/p?hello'));
  assert.ok(!hasHelloParam('ws://h/p?a=1&xhello=x&hellox=1') && !hasHelloParam('ws://h/hello'));
});

test('client: a fresh connect folds its HELLO into the URL, protocol 1 and the fingerprint', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  for (const [url, prefix] of [['ws://x:1/t/r?userId=u', 'ws://x:1/t/r?userId=u&hello='],
                               ['ws://x:1/t/r', 'ws://x:1/t/r?hello='],
                               ['wss://x:1/t/r?userId=u&channels=red,blue',
                                'wss://x:1/t/r?userId=u&channels=red,blue&hello=']]) {
    const { c, s } = client({ url });
    const ws = s.last();
    assert.ok(ws.url.startsWith(prefix), `${ws.url} starts with ${prefix}`);
    assert.equal(ws.url.indexOf('&', prefix.length), -1, 'hello is the last parameter');
    const h = foldedHello(ws.url);
    assert.equal(h.fingerprint, room.fingerprint);
    for (const f of ['resumeToken', 'lastSeq', 'epoch'])
      assert.ok(!isFieldSet(h, HelloSchema.field[f]), `no ${f}: a fresh session`);
    assert.ok(isFieldSet(h, HelloSchema.field.protocol) && isFieldSet(h, HelloSchema.field.fingerprint));
    assert.deepEqual(h, create(HelloSchema, { protocol: 1, fingerprint: room.fingerprint }),
                     'exactly the fresh HELLO');
    assert.equal(c.info().url, url, "the client's own URL stays without it");
    ws.open();
    assert.deepEqual(ws.kinds(), []);
    ws.welcome();
    assert.equal(c.state, 'connected');
    assert.deepEqual(ws.kinds(), [], 'no HELLO after the WELCOME either');
    c.close();
  }
  // the connect timeout still covers the wait for the WELCOME
  const { c, s } = client({ connectTimeoutMs: 500, initialDelayMs: 10 });
  s.last().open();
  mock.timers.tick(499);
  assert.equal(c.state, 'connecting');
  mock.timers.tick(1);
  assert.equal(s.sockets[0].closedWith.code, 4100);
  assert.equal(c.state, 'reconnecting');
  mock.timers.tick(20);
  assert.equal(s.sockets.length, 2);
  foldedHello(s.last().url); // still no token: folded again
  c.close();
  assert.throws(() => client({ url: 'ws://x:1/t/r?userId=u&hello=CAE' }),
                /query parameter "hello" is the client's own/);
});

test('client: a resume sends its HELLO as a frame, never a hello parameter; each attempt anew', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const { c, s } = client({ initialDelayMs: 10, jitterPercent: 0 });
  foldedHello(s.last().url);
  s.last().open();
  s.last().welcome({ resumeToken: 'A', epoch: 'E' });
  s.last().deliver({ kind: Kind.EVENT, event: 1, seq: 1n, payload: new Uint8Array() });
  s.last().drop(1006);
  mock.timers.tick(10);
  assert.equal(s.sockets.length, 2);
  assert.equal(s.last().url, 'ws://x:1/t/r?userId=u', 'no hello: the token never goes in a URL');
  s.last().open();
  assert.deepEqual(s.last().kinds(), [Kind.HELLO]);
  const h = s.last().sent[0].hello;
  assert.deepEqual([h.protocol, h.fingerprint, h.resumeToken, h.lastSeq, h.epoch],
                   [1, room.fingerprint, 'A', 1n, 'E']);
  // moved by a 4003 to a URL that carries a stale hello: the resume drops it
  s.last().drop(4003, 'moved ws://other:2/t/r?userId=u&hello=CAE');
  mock.timers.tick(0);
  assert.equal(s.sockets.length, 3);
  assert.equal(s.last().url, 'ws://other:2/t/r?userId=u');
  s.last().open();
  assert.deepEqual(s.last().kinds(), [Kind.HELLO]);
  c.close();
  // a server that gives no token (resume off): every attempt is a fresh session, folded anew
  const w = client({ initialDelayMs: 10, jitterPercent: 0 });
  w.s.last().open();
  w.s.last().welcome({ resumeToken: '' });
  w.s.last().drop(1006);
  mock.timers.tick(10);
  assert.equal(w.s.sockets.length, 2);
  foldedHello(w.s.last().url);
  w.s.last().open();
  assert.deepEqual(w.s.last().kinds(), []);
  // moved with a stale hello in the URL: one hello, this attempt's
  w.s.last().drop(4003, 'moved ws://other:2/t/r?userId=u&hello=AAAA');
  mock.timers.tick(0);
  assert.ok(w.s.last().url.startsWith('ws://other:2/t/r?userId=u&hello='));
  assert.equal(foldedHello(w.s.last().url).fingerprint, room.fingerprint);
  w.c.close();
});

test('client: a HELLO too long for the URL (a fingerprint of 400 bytes) goes as a frame', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const { c, s } = client({ room: { ...room, fingerprint: 'f'.repeat(400) } });
  assert.equal(s.last().url, 'ws://x:1/t/r?userId=u');
  s.last().open();
  assert.deepEqual(s.last().kinds(), [Kind.HELLO]);
  assert.equal(s.last().sent[0].hello.fingerprint.length, 400);
  c.close();
});

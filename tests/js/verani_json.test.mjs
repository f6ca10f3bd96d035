// SPDX-License-Identifier: MIT
//
// Verani's own client format against the example chat server (PROTOCOL.md section 8, "The JSON
// wire"; the chat room serves it at /verani/chat/{room} beside the binary /chat/{room}).
// `VeraniLikeClient` below behaves as Verani's `VeraniClient` does, as written down from its
// source: text frames of {type, data}, no hello, {"type":"ping"} every pingInterval (first at
// +pingInterval) with a pong deadline, messages queued while away and flushed on open, a
// reconnect after every close but 1000 and 1001 (and after a refused upgrade), its attempt
// counter reset on open, given up after maxAttempts; dispatch of
// {"type":"event","data":{"type":T,...}} to the listeners of T with the data object.
//
// Run by CTest (tests/js/CMakeLists.txt) with node's test runner; VERANI_CHAT_SERVER and
// VERANI_CHAT_CLIENT name the example's programs. Every wait ends at a deadline derived from
// the timeouts the test configures, scaled by VERANI_TEST_TIME_SCALE (tests/common/deadline.h);
// no test asserts a duration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import { startChatServer } from './chat_server.mjs';

const env = process.env;
const SCALE = Math.max(1, parseInt(env.VERANI_TEST_TIME_SCALE || '1', 10) || 1);
// One wait: what the server answers within a turn, with room for a loaded machine.
const WAIT_MS = 30000 * SCALE;
const TOKEN = 'json-wire-test-token';

// --- the server -----------------------------------------------------------------------------

// chat_server on `port` (0: any), its HTTP API on; `ready` resolves with its port.
function startServer(port = 0) {
  const srv = startChatServer(['--port', String(port)], WAIT_MS, { VERANI_API_TOKEN: TOKEN });
  return { child: srv.child, exited: srv.exited, ready: srv.port };
}

async function withServer(t, port = 0) {
  const srv = startServer(port);
  t.after(() => srv.child.kill('SIGKILL'));
  srv.port = await srv.ready;
  return srv;
}

// The HTTP API of the server (README.md, "HTTP API").
async function api(port, method, path) {
  const r = await fetch(`http://127.0.0.1:${port}/_verani${path}`,
                        { method, headers: { authorization: `Bearer ${TOKEN}` } });
  const body = await r.text();
  assert.equal(r.status, 200, `${method} ${path}: ${r.status} ${body}`);
  return JSON.parse(body);
}

// --- a client that behaves as Verani's does ---------------------------------------------------

class VeraniLikeClient {
  constructor(url, opts = {}) {
    this.url = url;
    this.pingInterval = opts.pingInterval ?? 5000;
    this.pongTimeout = opts.pongTimeout ?? 5000;
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.initialDelay = opts.initialDelay ?? 1000;
    this.multiplier = 1.5;
    this.listeners = new Map();
    this.queue = [];
    this.attempts = 0;
    this.opens = 0;        // every 'open' (the first connect and each reconnect)
    this.connects = 0;     // every new WebSocket made
    this.closes = [];      // every close code, in order
    this.refusals = [];    // HTTP status of every refused upgrade
    this.pongs = 0;
    this.state = 'connecting';
    this.inbox = [];
    this.wakers = new Set();
    this.connect();
  }

  connect() {
    this.connects++;
    this.state = 'connecting';
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.on('open', () => {
      this.opens++;
      this.attempts = 0;
      this.state = 'connected';
      for (const f of this.queue.splice(0)) ws.send(f);
      this.startKeepalive();
      this.wake();
    });
    ws.on('message', (data, isBinary) => {
      assert.ok(!isBinary, 'the JSON wire sends text frames only');
      const msg = JSON.parse(data.toString());
      assert.equal(typeof msg.type, 'string');
      if (msg.type === 'pong') {
        this.pongs++;
        this.lastPong = Date.now();
        this.wake();
        return;
      }
      let type = msg.type;
      const dataObj = msg.data;
      if (msg.type === 'event' && dataObj && typeof dataObj === 'object' && 'type' in dataObj) {
        type = dataObj.type;
      }
      this.inbox.push({ type, data: dataObj, frame: msg });
      for (const fn of this.listeners.get(type) || []) fn(dataObj);
      this.wake();
    });
    ws.on('unexpected-response', (req, res) => {
      this.refusals.push(res.statusCode);
      // what a browser reports: an error, then a close 1006; the error path schedules too
      this.onDrop(1006);
      req.destroy();
    });
    ws.on('close', (code) => {
      if (this.ws === ws) this.onDrop(code);
    });
    ws.on('error', () => {});
  }

  onDrop(code) {
    if (this.ws && this.ws.dropped) return;
    if (this.ws) this.ws.dropped = true;
    this.stopKeepalive();
    this.closes.push(code);
    if (code === 1000 || code === 1001 || this.stopped) {
      this.state = 'disconnected';
    } else if (this.attempts >= this.maxAttempts) {
      this.state = 'error';
    } else {
      this.state = 'reconnecting';
      const delay = this.initialDelay * this.multiplier ** this.attempts;
      this.attempts++;
      this.timer = setTimeout(() => this.connect(), delay);
    }
    this.wake();
  }

  startKeepalive() {
    if (!this.pingInterval) return;
    this.lastPong = Date.now();
    this.pinger = setInterval(() => {
      if (Date.now() - this.lastPong > this.pingInterval + this.pongTimeout) {
        this.ws.terminate(); // no pong in time: the connection is dead
        return;
      }
      this.ws.send('{"type":"ping"}');
    }, this.pingInterval);
  }

  stopKeepalive() { clearInterval(this.pinger); }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }

  emit(type, data) {
    const frame = JSON.stringify({ type, data });
    if (this.state === 'connected') this.ws.send(frame);
    else this.queue.push(frame);
  }

  sendRaw(text) { this.ws.send(text); }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stopKeepalive();
    this.ws.close(1000);
  }

  wake() { for (const w of this.wakers) w(); }

  // Resolve once `cond()` holds; reject with `what` after `ms`.
  until(cond, what, ms = WAIT_MS) {
    return new Promise((resolve, reject) => {
      const look = () => {
        let v;
        try { v = cond(); } catch (e) { done(); reject(e); return; }
        if (v) { done(); resolve(v); }
      };
      const timer = setTimeout(() => { done(); reject(new Error(`no ${what}`)); }, ms);
      const done = () => { clearTimeout(timer); this.wakers.delete(look); };
      this.wakers.add(look);
      look();
    });
  }

  // Take the first received event of `type` that `pred` accepts.
  next(type, what, pred = () => true) {
    return this.until(() => {
      const i = this.inbox.findIndex((m) => m.type === type && pred(m.data));
      return i >= 0 ? this.inbox.splice(i, 1)[0] : null;
    }, what);
  }
}

const jsonUrl = (port, user, room = 'lobby') =>
  `ws://127.0.0.1:${port}/verani/chat/${room}?userId=${user}`;

async function connected(t, port, user, opts) {
  const c = new VeraniLikeClient(jsonUrl(port, user, opts?.room), opts);
  t.after(() => c.close());
  await c.until(() => c.opens >= 1, `${user} open`);
  return c;
}

// --- the tests --------------------------------------------------------------------------------

test('events both ways, requests, channels and errors on the JSON wire', async (t) => {
  const srv = await withServer(t);
  const alice = await connected(t, srv.port, 'alice');
  const bob = await connected(t, srv.port, 'bob');

  // on_connect ran at the open: alice hears bob join, in Verani's envelope
  const joined = await alice.next('user.joined', 'bob joined', (d) => d.userId === 'bob');
  assert.deepEqual(joined.frame, { type: 'event', channel: 'default',
                                   data: { type: 'user.joined', userId: 'bob' } });
  assert.equal(JSON.stringify(joined.frame).indexOf('"type":"event"'), 1, 'type comes first');

  // a typed event: alice's chat.message reaches bob as the ChatBroadcast, camelCase, enum names
  alice.emit('chat.message', { text: 'hello', mood: 'HAPPY', extra: 'ignored' });
  const m = await bob.next('chat.message', 'the broadcast of hello');
  assert.equal(m.frame.channel, 'default');
  assert.deepEqual(Object.keys(m.data), ['type', 'from', 'text', 'at', 'mood', 'channel']);
  assert.equal(m.data.from, 'alice');
  assert.equal(m.data.text, 'hello');
  assert.equal(m.data.mood, 'HAPPY');
  assert.equal(typeof m.data.at, 'number', 'an int64 that fits 2^53 is a number');
  assert.ok(Math.abs(m.data.at - Date.now()) < 3600e3, 'at is the server time in ms');

  // a request: the reply comes as the event with the request's name
  const h = (async () => { alice.emit('history', { limit: 10 }); return alice.next('history', 'the history reply'); })();
  const page = await h;
  assert.ok(Array.isArray(page.data.messages));
  assert.equal(page.data.messages[0].text, 'hello');

  // validation: an "error" event with code and field; the connection stays
  alice.emit('chat.message', { text: 'x'.repeat(2001) });
  const e1 = await alice.next('error', 'the invalid_payload error');
  assert.equal(e1.data.code, 'invalid_payload');
  assert.equal(e1.data.field, 'text');
  assert.match(e1.data.message, /longer than 2000/);
  alice.emit('chat.message', { text: 5 });
  const e2 = await alice.next('error', 'the type error');
  assert.equal(e2.data.code, 'invalid_payload');
  assert.equal(e2.data.field, 'text');
  alice.emit('no.such.event', {});
  assert.equal((await alice.next('error', 'the unknown_event error')).data.code, 'unknown_event');
  alice.sendRaw('not json');
  assert.equal((await alice.next('error', 'the bad_frame error')).data.code, 'bad_frame');
  alice.sendRaw(Buffer.from('{"type":"ping"}')); // a text frame from a Buffer is still text
  await alice.until(() => alice.pongs >= 1, 'a pong');

  // channels: channel.join goes through on_join; a message to the channel reaches its members
  bob.emit('channel.join', { channel: 'BAD NAME' });
  assert.equal((await bob.next('error', 'join_denied')).data.code, 'join_denied');
  bob.emit('channel.join', { channel: 'red' });
  alice.emit('channel.join', { channel: 'red' });
  // joins are not acknowledged: a history request after the join is answered after it
  bob.emit('history', { limit: 1 });
  await bob.next('history', 'the reply after the join');
  alice.emit('history', { limit: 1 });
  await alice.next('history', 'the reply after the join');
  alice.emit('chat.message', { text: 'in red', channel: 'red' });
  const red = await bob.next('chat.message', 'the message to red', (d) => d.text === 'in red');
  assert.equal(red.frame.channel, 'red');
  assert.equal(red.data.channel, 'red');
  bob.emit('channel.leave', { channel: 'blue' });
  assert.equal((await bob.next('error', 'not_joined')).data.code, 'not_joined');

  // no ghost session: an abrupt drop ends the session at once (on_disconnect: user.left now,
  // not after a resume grace period)
  bob.stopped = true;
  bob.ws.terminate();
  await alice.next('user.left', 'bob left at once', (d) => d.userId === 'bob');
  assert.deepEqual(alice.closes, []);
});

test('ping and pong keep a quiet JSON session open past the handshake timeout', async (t) => {
  const srv = await withServer(t);
  const c = await connected(t, srv.port, 'quiet', { pingInterval: 1000, pongTimeout: 5000 });
  // the handshake timeout (10 s) would close a binary session without HELLO with 4002
  await c.until(() => c.pongs >= 12, '12 pongs', WAIT_MS + 12000 * SCALE);
  assert.deepEqual(c.closes, []);
  assert.equal(c.opens, 1);
  const users = await api(srv.port, 'GET', '/rooms/Chat/lobby/users');
  assert.deepEqual(users.users, ['quiet']);
});

test('a kick without a code sticks: 1000, no reconnect', async (t) => {
  const srv = await withServer(t);
  const c = await connected(t, srv.port, 'kicked', { initialDelay: 50 });
  const sessions = await api(srv.port, 'GET', '/rooms/Chat/lobby/users/kicked/sessions');
  assert.equal(sessions.sessions.length, 1);
  const k = await api(srv.port, 'POST',
                      `/rooms/Chat/lobby/kick?client=${sessions.sessions[0].client_id}`);
  assert.equal(k.kicked, 1);
  await c.until(() => c.state === 'disconnected', 'the 1000 close');
  assert.deepEqual(c.closes, [1000]);
  // a reconnect would come initialDelay (50 ms) later; the server's list is the check that none
  // came: a new connection would have a session by the time its own users call is answered
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(c.connects, 1);
  assert.deepEqual((await api(srv.port, 'GET', '/rooms/Chat/lobby/users')).users, []);
});

test('a graceful stop closes with 1012 and the client reconnects to the next server', async (t) => {
  const first = startServer(0);
  t.after(() => first.child.kill('SIGKILL'));
  const port = await first.ready;
  const c = await connected(t, port, 'stays', { initialDelay: 200, maxAttempts: 50 });
  first.child.kill('SIGTERM');
  await c.until(() => c.closes.length === 1, 'the close of the stop');
  assert.deepEqual(c.closes, [1012]);
  assert.equal((await first.exited).code, 0);
  const second = await withServer(t, port);
  await c.until(() => c.opens === 2, 'the reconnect');
  c.emit('chat.message', { text: 'after the restart' });
  const peer = await connected(t, second.port, 'peer');
  c.emit('chat.message', { text: 'to the peer' });
  await peer.next('chat.message', 'a message after the reconnect', (d) => d.text === 'to the peer');
});

test('a refused upgrade (401) is retried a bounded number of times, then the client stops', async (t) => {
  const srv = await withServer(t);
  const c = new VeraniLikeClient(`ws://127.0.0.1:${srv.port}/verani/chat/lobby`,
                                 { initialDelay: 20, maxAttempts: 5 });
  t.after(() => c.close());
  await c.until(() => c.state === 'error', 'the client giving up');
  assert.deepEqual(c.refusals, [401, 401, 401, 401, 401, 401]);
  assert.equal(c.opens, 0);
});

test('a JSON client and the C client in one room hear each other', async (t) => {
  const srv = await withServer(t);
  const js = await connected(t, srv.port, 'jsuser');
  const cc = spawn(env.VERANI_CHAT_CLIENT, [`ws://127.0.0.1:${srv.port}/chat/lobby`, 'cuser'],
                   { stdio: ['pipe', 'pipe', 'ignore'] });
  t.after(() => cc.kill('SIGKILL'));
  let out = '';
  const wakers = new Set();
  cc.stdout.on('data', (d) => { out += d; for (const w of wakers) w(); });
  const printed = (re, what) => new Promise((resolve, reject) => {
    const look = () => { if (re.test(out)) { done(); resolve(); } };
    const timer = setTimeout(() => { done(); reject(new Error(`chat_client printed no ${what}: ${out}`)); }, WAIT_MS);
    const done = () => { clearTimeout(timer); wakers.delete(look); };
    wakers.add(look);
    look();
  });
  // the C client's session is in the room once the JSON client hears it join
  await js.next('user.joined', 'the C client joined', (d) => d.userId === 'cuser');
  cc.stdin.write('from C\n');
  const m = await js.next('chat.message', 'the C client\'s message', (d) => d.text === 'from C');
  assert.equal(m.data.from, 'cuser');
  js.emit('chat.message', { text: 'from JSON' });
  await printed(/jsuser: from JSON/, 'message of the JSON client');
  cc.stdin.end('/quit\n');
});

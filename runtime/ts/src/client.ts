// SPDX-License-Identifier: MIT
//
// client.ts: the Verani-C client for browsers and Node 20+, the C client's behaviour
// (runtime/include/verani/client.h) with the same defaults: it connects to one room
// instance, says HELLO and waits for WELCOME (a fresh session's HELLO folded into the
// upgrade URL, a resume's sent as the first frame), reconnects by itself with backoff and
// jitter, queues frames while it is away (bounded, oldest dropped) and flushes them in
// order, keeps the connection alive with envelope PINGs, matches REPLYs and ERRORs to
// requests (each ends exactly once: ok, error, timeout, disconnected or cancelled),
// joins and leaves channels, and resumes its session with the last resume token, seq
// and epoch so that no event is lost or delivered twice across a drop or a restart.
// Which server close codes it reconnects after is PROTOCOL.md section 7's table; a 4003
// "moved <url>" close sends it to that URL at once. In a browser, a tab that becomes
// visible again reconnects at once (or pings at once when connected).
//
// It does not know the schema's messages: the generated room code (veranic --ts) gives it
// a RoomSchema (event ids, protobuf-es schemas, validators) and wraps it in typed calls.

import { create, fromBinary, toBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";

import { backoffDelay, backoffFromOptions, type Backoff, type BackoffOptions } from "./backoff.js";
import {
  EnvelopeSchema, ErrorCode, HelloSchema, Kind, type Envelope, type Hello, type Welcome,
} from "./gen/envelope_pb.js";
import { FOLDED_HELLO_MAX, hasHelloParam, withFoldedHello } from "./fold.js";
import { OfflineQueue, type Frame } from "./queue.js";
import { ResumeState } from "./resume.js";
import { validationError, type Failure } from "./validate.js";

export type State = "connecting" | "connected" | "disconnected" | "reconnecting" | "error";

/** One event of a room, as the generated code describes it. */
export interface EventDef {
  id: number;
  name: string;                                  // as in the schema: "chat.message"
  payload?: DescMessage;                         // absent: the event has no payload
  reply?: DescMessage;                           // `on ... returns (R)`: a request
  validate?: (m: any) => Failure | null;         // the payload's validator
  validateReply?: (m: any) => Failure | null;
}

/** What the generated code gives the client about its room. */
export interface RoomSchema {
  name: string;
  path: string;
  fingerprint: string;
  maxFrame: number;
  on: readonly EventDef[];   // client -> server
  emit: readonly EventDef[]; // server -> client
}

/** The part of the WebSocket API the client uses (browsers, Node's global, `ws`). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  readonly bufferedAmount?: number; // bytes sent but not yet written out (browsers, ws)
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** The slice of `document` used to reconnect when a tab becomes visible. */
export interface VisibilitySource {
  readonly visibilityState: string;
  addEventListener(type: "visibilitychange", fn: () => void): void;
  removeEventListener(type: "visibilitychange", fn: () => void): void;
}

export interface ClientOptions extends BackoffOptions {
  url: string;                     // ws://host:port/path?query or wss://...; no `hello` param
  room: RoomSchema;
  WebSocket?: WebSocketConstructor; // default: the global WebSocket
  reconnect?: boolean;             // default true; false: never reconnect
  maxAttempts?: number;            // default 10; Infinity: no limit
  maxQueue?: number;               // offline queue bound in frames; default 100
  connectTimeoutMs?: number;       // upgrade (+ hello) + welcome; default 10000
  pingIntervalMs?: number;         // default 5000; 0: no pings
  pongTimeoutMs?: number;          // default 5000
  requestTimeoutMs?: number;       // default 10000; requests, joins and leaves
  maxRxFrame?: number;             // largest frame accepted from the server; default 16 MiB
  maxSendBytes?: number;           // while connected: the most bytes the socket may buffer;
                                   // past it sends fail (SendBufferFullError); default 16 MiB
  visibility?: VisibilitySource | null; // default: the global document, when there is one
  random?: () => number;           // [0, 1) for the jitter; default Math.random
}

export type ReplyStatus = "ok" | "error" | "timeout" | "disconnected" | "cancelled";

/** How a request, join or leave ended when it did not end "ok". */
export class RequestError extends Error {
  constructor(readonly status: Exclude<ReplyStatus, "ok">, message: string,
              readonly code?: ErrorCode) {
    super(message);
    this.name = "RequestError";
  }
}

/** Thrown by a send whose frame is over the room's max_frame. */
export class FrameTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameTooLargeError";
  }
}

/** Thrown by emit (a request, join or leave rejects with it) while connected when the socket
 *  already buffers `maxSendBytes` with the frame: the application sends faster than the
 *  connection takes (the C client's VERANI_EFULL). Nothing was queued: send again later. */
export class SendBufferFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SendBufferFullError";
  }
}

/** The error callback's kinds (the C client's verani_err values). */
export type ClientErrorKind =
  | "io" | "timeout" | "denied" | "protocol" | "invalid" | "rate_limited" | "unknown_event"
  | "handler"
  // a gap in the seqs of a connection: the server dropped frames for this client (its queue
  // there was full: the drop policy); resync, as after onRecoveryFailed (C: VERANI_EFULL)
  | "missed";

export interface EventInfo {
  channel: string | undefined; // the channel the event was sent to
  seq: bigint;                 // its sequence number (0n: none)
}

export interface ClientInfo {
  state: State;
  attempts: number;          // failed attempts since the last welcome
  connectionId: number;      // 1 for the first connection attempt, +1 for each next one
  clientId: string;          // from the last welcome; "" before one
  userId: string;
  lastSeq: bigint;           // the last sequence number processed
  epoch: string;
  resumed: boolean;          // the last welcome resumed the previous session
  recoveryFailed: boolean;   // ... but missed frames could not be replayed: resync
  queued: number;            // frames waiting for a connection
  dropped: number;           // frames dropped from the full offline queue, in all
  missed: number;            // frames from the server lost in gaps of seq, in all ("missed")
  pendingRequests: number;   // requests, joins and leaves awaiting an answer
  url: string;               // where the next connection goes (a 4003 may change it)
}

interface Pending {
  id: bigint;
  kind: "request" | "join" | "leave";
  ev?: EventDef;
  channel?: string;
  resolve: (v: any) => void;
  reject: (e: RequestError) => void;
  timer: ReturnType<typeof setTimeout>;
  sent: boolean;   // its frame left the queue
  conn: number;    // the connection it was written on
}

type Listener<A extends unknown[]> = (...args: A) => void;

const CLOSE_NORMAL = 1000;
const CLOSE_GOING_AWAY = 1001;
const CLOSE_POLICY = 1008;
const CLOSE_ABNORMAL = 1006;
const CLOSE_MOVED = 4003;
// What this client sends when it gives up on a connection it cannot trust (pong or connect
// timeout): any code but 1000 and 1001 leaves the session detached, so it can resume.
const CLOSE_CLIENT_LOST = 4100;
const PROTOCOL_VERSION = 1;

function globalWebSocket(): WebSocketConstructor | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}

function globalDocument(): VisibilitySource | null {
  const d = (globalThis as { document?: VisibilitySource }).document;
  return d && typeof d.addEventListener === "function" ? d : null;
}

/** The URL a 4003 close names ("moved <url>"), resolved against the current one. */
export function movedTarget(current: string, reason: string | undefined): string | undefined {
  const m = /^\s*(?:moved\s+)?((?:wss?|https?):\/\/\S+)\s*$/i.exec(reason ?? "");
  if (!m) return undefined;
  try {
    const next = new URL(m[1]!);
    const cur = new URL(current);
    // a node's base URL: keep the room path and query of the current one
    if ((next.pathname === "/" || next.pathname === "") && !next.search) {
      next.pathname = cur.pathname;
      next.search = cur.search;
    }
    if (next.protocol === "http:") next.protocol = "ws:";
    if (next.protocol === "https:") next.protocol = "wss:";
    return next.toString();
  } catch {
    return undefined;
  }
}

export class VeraniClient {
  readonly room: RoomSchema;
  private url: string;
  private readonly WS: WebSocketConstructor;
  private readonly bo: Backoff;
  private readonly reconnectEnabled: boolean;
  private readonly maxAttempts: number;
  private readonly connectTimeoutMs: number;
  private readonly pingIntervalMs: number;
  private readonly pongTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly maxRxFrame: number;
  private readonly maxSendBytes: number;
  private readonly random: () => number;
  private readonly visibility: VisibilitySource | null;
  private readonly onEmit = new Map<number, EventDef>();
  private readonly onSend = new Map<number, EventDef>();

  private st: State = "connecting";
  private ws: WebSocketLike | null = null;
  private established = false;
  private welcomed = false;
  private userClosed = false;
  private destroyed = false;
  private attempts = 0;
  // where a 4003 "moved <url>" sent the next attempt (that one only), and 4003s in a row
  private movedUrl: string | undefined;
  private moves = 0;
  private connId = 0;
  private nextRequestId = 1n;
  private clientId = "";
  private userId = "";
  private maxFrame = 0;
  private resumedFlag = false;
  // this connection's HELLO went in its upgrade URL (`?hello=`): none to send on open
  private helloFolded = false;
  private missedCount = 0;
  private recoveryFailedFlag = false;
  private awaitingPong = false;
  private rxSincePing = false;
  private readonly resume = new ResumeState();
  private readonly queue: OfflineQueue;
  private readonly pending = new Map<bigint, Pending>();
  private readonly chans = new Set<string>();
  private readonly handlers = new Map<number, { fn: (m: any, i: EventInfo) => void;
                                                once: boolean }[]>();
  private readonly lifecycle = {
    open: new Set<Listener<[]>>(),
    close: new Set<Listener<[number, string]>>(),
    error: new Set<Listener<[ClientErrorKind, string]>>(),
    state: new Set<Listener<[State, State]>>(),
    recovery: new Set<Listener<[boolean]>>(),
  };
  private tRetry: ReturnType<typeof setTimeout> | undefined;
  private tConnect: ReturnType<typeof setTimeout> | undefined;
  private tPing: ReturnType<typeof setTimeout> | undefined;
  private tPong: ReturnType<typeof setTimeout> | undefined;
  private readonly onVisible = (): void => this.visibilityChanged();

  constructor(o: ClientOptions) {
    const WS = o.WebSocket ?? globalWebSocket();
    if (!WS) throw new Error("no WebSocket: pass the constructor as options.WebSocket");
    if (!o.url || !/^wss?:\/\//i.test(o.url)) throw new Error(`bad URL "${o.url}"`);
    if (hasHelloParam(o.url))
      throw new Error(`bad URL "${o.url}": the query parameter "hello" is the client's own ` +
                      "(the folded HELLO, PROTOCOL.md section 3); leave it out");
    this.room = o.room;
    this.url = o.url;
    this.WS = WS;
    this.bo = backoffFromOptions(o);
    this.reconnectEnabled = o.reconnect ?? true;
    this.maxAttempts = o.maxAttempts && o.maxAttempts > 0 ? o.maxAttempts : 10;
    this.connectTimeoutMs = o.connectTimeoutMs || 10000;
    this.pingIntervalMs = o.pingIntervalMs ?? 5000;
    this.pongTimeoutMs = o.pongTimeoutMs || 5000;
    this.requestTimeoutMs = o.requestTimeoutMs || 10000;
    this.maxRxFrame = o.maxRxFrame || 16 * 1024 * 1024;
    this.maxSendBytes = o.maxSendBytes || 16 * 1024 * 1024;
    this.random = o.random ?? Math.random;
    this.queue = new OfflineQueue(o.maxQueue && o.maxQueue > 0 ? o.maxQueue : 100);
    for (const e of o.room.emit) this.onEmit.set(e.id, e);
    for (const e of o.room.on) this.onSend.set(e.id, e);
    this.visibility = o.visibility === undefined ? globalDocument() : o.visibility;
    this.visibility?.addEventListener("visibilitychange", this.onVisible);
    this.connect();
  }

  // --- state and information ---------------------------------------------------------

  get state(): State {
    return this.st;
  }

  info(): ClientInfo {
    return {
      state: this.st, attempts: this.attempts, connectionId: this.connId,
      clientId: this.clientId, userId: this.userId, lastSeq: this.resume.lastSeq,
      epoch: this.resume.epoch, resumed: this.resumedFlag,
      recoveryFailed: this.recoveryFailedFlag, queued: this.queue.length,
      dropped: this.queue.dropped, missed: this.missedCount, pendingRequests: this.pending.size,
      url: this.url,
    };
  }

  /** Whether the session is in `channel`, per the welcome and the joins and leaves since. */
  inChannel(channel: string): boolean {
    return this.chans.has(channel);
  }

  get channels(): string[] {
    return [...this.chans];
  }

  // --- lifecycle callbacks: any number, at any time; each returns its remover ----------

  onOpen(fn: () => void): () => void {
    return this.add(this.lifecycle.open, fn);
  }
  /** `code` is the close code (1006 when the connection dropped or the pong timed out). */
  onClose(fn: (code: number, reason: string) => void): () => void {
    return this.add(this.lifecycle.close, fn);
  }
  onError(fn: (kind: ClientErrorKind, what: string) => void): () => void {
    return this.add(this.lifecycle.error, fn);
  }
  onStateChange(fn: (from: State, to: State) => void): () => void {
    return this.add(this.lifecycle.state, fn);
  }
  /** After a reconnect, right after onOpen, when frames sent while away are lost. */
  onRecoveryFailed(fn: (resumed: boolean) => void): () => void {
    return this.add(this.lifecycle.recovery, fn);
  }

  private add<F>(set: Set<F>, fn: F): () => void {
    const f = fn;
    set.add(f);
    return () => set.delete(f);
  }

  private fire<A extends unknown[]>(set: Set<Listener<A>>, ...args: A): void {
    for (const fn of [...set]) {
      if (this.destroyed) return;
      try {
        fn(...args);
      } catch (e) {
        // a throwing callback must not break the client's own bookkeeping
        queueMicrotask(() => { throw e; });
      }
    }
  }

  private error(kind: ClientErrorKind, what: string): void {
    this.fire(this.lifecycle.error, kind, what);
  }

  private setState(s: State): void {
    if (s === this.st) return;
    const old = this.st;
    this.st = s;
    this.fire(this.lifecycle.state, old, s);
  }

  /** Resolves when connected; rejects after `timeoutMs` (default 2 x the connect timeout)
   *  or when the client reaches "error" or "disconnected" or is closed first. */
  waitForConnection(timeoutMs?: number): Promise<void> {
    if (this.st === "connected") return Promise.resolve();
    if (this.destroyed) return Promise.reject(new Error("the client is closed"));
    if (this.st === "error" || this.st === "disconnected")
      return Promise.reject(new Error(`the client is ${this.st}`));
    return new Promise((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(t);
        offState();
        if (err) reject(err);
        else resolve();
      };
      const t = setTimeout(() => done(new Error("timed out waiting for the connection")),
                           timeoutMs ?? 2 * this.connectTimeoutMs);
      const offState = this.onStateChange((_f, to) => {
        if (to === "connected") done();
        else if (to === "error" || to === "disconnected") done(new Error(`the client is ${to}`));
      });
    });
  }

  // --- typed events --------------------------------------------------------------------

  /** Register `fn` for server event `id`; returns its remover. */
  on(id: number, fn: (msg: any, info: EventInfo) => void, once = false): () => void {
    if (!this.onEmit.has(id)) throw new Error(`event ${id} is not an \`emit\` event of room ${this.room.name}`);
    let list = this.handlers.get(id);
    if (!list) this.handlers.set(id, (list = []));
    const h = { fn, once };
    list.push(h);
    return () => {
      const l = this.handlers.get(id);
      const i = l ? l.indexOf(h) : -1;
      if (i >= 0) l!.splice(i, 1);
    };
  }

  /**
   * Send `on` event `id` (no reply) with `payload` (validated first; throws when invalid, and
   * SendBufferFullError when connected with `maxSendBytes` already waiting in the socket).
   */
  emit(id: number, payload?: object): void {
    const ev = this.checkSend(id, false);
    const f = this.packEvent(Kind.EVENT, ev, payload, 0n);
    this.checkRoom(f);
    this.enqueue(f);
  }

  /**
   * Send request `id` and resolve with its reply; reject with a RequestError for every other
   * end, or with what `emit` would throw when the request cannot be sent at all.
   */
  request<R = unknown>(id: number, payload?: object, timeoutMs?: number): Promise<R> {
    let ev: EventDef;
    let frame: Frame;
    const rid = this.nextRequestId;
    try {
      ev = this.checkSend(id, true);
      frame = this.packEvent(Kind.REQUEST, ev, payload, rid);
      this.checkRoom(frame);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.track({ kind: "request", ev }, frame, timeoutMs);
  }

  /** Join `channel`; resolves once the server agreed. */
  join(channel: string, timeoutMs?: number): Promise<void> {
    return this.channelOp("join", channel, timeoutMs);
  }

  /** Leave `channel`; resolves once the server agreed. */
  leave(channel: string, timeoutMs?: number): Promise<void> {
    return this.channelOp("leave", channel, timeoutMs);
  }

  private channelOp(kind: "join" | "leave", channel: string, timeoutMs?: number): Promise<void> {
    if (!channel) return Promise.reject(new Error("no channel name"));
    if (this.destroyed) return Promise.reject(new RequestError("cancelled", "the client is closed"));
    const env = create(EnvelopeSchema, {
      kind: kind === "join" ? Kind.JOIN : Kind.LEAVE, channel, requestId: this.nextRequestId,
    });
    const frame = { bytes: toBinary(EnvelopeSchema, env), requestId: this.nextRequestId };
    try {
      this.checkRoom(frame);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.track({ kind, channel }, frame, timeoutMs);
  }

  /** While connected, throw SendBufferFullError when the socket buffers maxSendBytes with
   *  `f` (an empty buffer takes any frame). */
  private checkRoom(f: Frame): void {
    const buffered = this.welcomed && this.ws ? this.ws.bufferedAmount ?? 0 : 0;
    if (buffered > 0 && buffered + f.bytes.length > this.maxSendBytes)
      throw new SendBufferFullError(`${buffered} bytes wait to be written, the most ` +
        `maxSendBytes (${this.maxSendBytes}) allows: the application sends faster than the ` +
        "connection takes; send again once it has drained");
  }

  private track<R>(p: Pick<Pending, "kind" | "ev" | "channel">, frame: Frame,
                   timeoutMs?: number): Promise<R> {
    if (this.destroyed) return Promise.reject(new RequestError("cancelled", "the client is closed"));
    const id = this.nextRequestId++;
    return new Promise<R>((resolve, reject) => {
      const r: Pending = {
        ...p, id, resolve, reject, sent: false, conn: 0,
        timer: setTimeout(() => this.finish(r, "timeout", "no reply in time"),
                          timeoutMs ?? this.requestTimeoutMs),
      };
      this.pending.set(id, r);
      this.enqueue(frame);
    });
  }

  private checkSend(id: number, wantReply: boolean): EventDef {
    if (this.destroyed) throw new Error("the client is closed");
    const ev = this.onSend.get(id);
    if (!ev) throw new Error(`event ${id} is not an \`on\` event of room ${this.room.name}`);
    if (!ev.reply !== !wantReply)
      throw new Error(`event ${ev.name} has ${wantReply ? "no reply: send it with emit"
                                                        : "a reply: send it with a request"}`);
    return ev;
  }

  private packEvent(kind: Kind, ev: EventDef, payload: object | undefined, rid: bigint): Frame {
    let bytes: Uint8Array | undefined;
    if (ev.payload) {
      const msg = create(ev.payload, payload as never) as Message;
      fillRequired(reflect(ev.payload, msg));
      const f = ev.validate?.(msg);
      if (f) throw validationError(f);
      bytes = toBinary(ev.payload, msg);
    } else if (payload !== undefined) {
      throw new Error(`event ${ev.name} takes no payload`);
    }
    const env = create(EnvelopeSchema, { kind, event: ev.id });
    if (bytes) env.payload = bytes;
    if (rid) env.requestId = rid;
    const out = toBinary(EnvelopeSchema, env);
    const limit = this.maxFrame || this.room.maxFrame;
    if (limit && out.length > limit)
      throw new FrameTooLargeError(`event ${ev.name}: the frame is ${out.length} bytes, over the room's max_frame ${limit}`);
    return { bytes: out, requestId: rid };
  }

  // --- sending -------------------------------------------------------------------------

  private enqueue(f: Frame): void {
    if (this.welcomed && this.ws) {
      this.write(f);
      return;
    }
    for (const d of this.queue.push(f, true)) {
      const r = d.requestId ? this.pending.get(d.requestId) : undefined;
      if (r) this.finish(r, "disconnected", "dropped from the full offline queue");
    }
  }

  private write(f: Frame): void {
    const r = f.requestId ? this.pending.get(f.requestId) : undefined;
    // The frame leaves the queue: its request now belongs to this connection, and its
    // fate to the session's (welcome below).
    if (r) {
      r.sent = true;
      r.conn = this.connId;
    }
    try {
      this.ws!.send(f.bytes);
    } catch {
      // the socket is closing: its close event decides what happens next
    }
  }

  private sendControl(env: Envelope): void {
    try {
      this.ws?.send(toBinary(EnvelopeSchema, env));
    } catch {
      // as in write()
    }
  }

  // --- requests ------------------------------------------------------------------------

  private finish(r: Pending, status: ReplyStatus, text: string, value?: unknown,
                 code?: ErrorCode): void {
    if (this.pending.get(r.id) !== r) return;
    this.pending.delete(r.id);
    clearTimeout(r.timer);
    if (!r.sent) this.queue.removeRequest(r.id);
    if (status === "ok") r.resolve(value);
    else r.reject(new RequestError(status, text, code));
  }

  /** Fail the requests written on connections before `beforeConn` (their reply is lost). */
  private failSent(beforeConn: number): void {
    for (const r of [...this.pending.values()])
      if (r.sent && r.conn < beforeConn) this.finish(r, "disconnected", "the connection dropped before the reply");
  }

  private failAll(status: "disconnected" | "cancelled", text: string): void {
    for (const r of [...this.pending.values()]) this.finish(r, status, text);
  }

  // --- connecting ----------------------------------------------------------------------

  private connect(): void {
    clearTimeout(this.tRetry);
    this.userClosed = false;
    this.connId++;
    this.setState("connecting");
    if (this.destroyed || this.st !== "connecting" || this.ws) return;
    let ws: WebSocketLike;
    const url = this.attemptUrl(this.movedUrl ?? this.url);
    this.movedUrl = undefined;
    try {
      ws = new this.WS(url);
    } catch (e) {
      this.lost("io", `cannot start the connection: ${String(e)}`, CLOSE_ABNORMAL, "");
      return;
    }
    const conn = this.connId;
    this.ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => this.guard(conn, () => this.opened());
    ws.onmessage = (ev) => this.guard(conn, () => this.received(ev.data));
    ws.onerror = (ev) => this.guard(conn, () => this.failed(ev));
    ws.onclose = (ev) => this.guard(conn, () => this.closed(ev.code, ev.reason));
    this.tConnect = setTimeout(() => this.guard(conn, () => {
      if (!this.welcomed) this.timedOut("connection timed out", "connect timeout");
    }), this.connectTimeoutMs);
  }

  /** The HELLO this connection says: a fresh session's, or a resume's with the last resume
   *  token, last seq and epoch. */
  private helloMessage(): Hello {
    const hello = create(HelloSchema, { protocol: PROTOCOL_VERSION,
                                        fingerprint: this.room.fingerprint });
    const r = this.resume.hello();
    if (r) {
      hello.resumeToken = r.resumeToken;
      hello.lastSeq = r.lastSeq;
      hello.epoch = r.epoch;
    }
    return hello;
  }

  /**
   * The URL of this attempt, computed anew each time from `base` (the client's URL, or where
   * a 4003 sent it) and the resume state now: a fresh session's HELLO folded in as
   * `hello=<base64url>` (PROTOCOL.md section 3), a resume's never (a resume token is never
   * written into a URL: it goes as the first frame). Any `hello` already in `base` (a moved
   * URL's) is dropped first, so no attempt carries a stale one.
   */
  private attemptUrl(base: string): string {
    this.helloFolded = false;
    if (this.resume.hello()) return withFoldedHello(base);
    const bytes = toBinary(HelloSchema, this.helloMessage());
    if (Math.ceil(bytes.length * 4 / 3) > FOLDED_HELLO_MAX) return withFoldedHello(base);
    this.helloFolded = true;
    return withFoldedHello(base, bytes);
  }

  /** Run `fn` only for events of the current connection (a stale socket's are ignored). */
  private guard(conn: number, fn: () => void): void {
    if (!this.destroyed && conn === this.connId && this.ws) fn();
  }

  private opened(): void {
    this.established = true;
    // folded: the server read the HELLO from the upgrade and answers WELCOME on its own
    if (this.helloFolded) return;
    this.sendControl(create(EnvelopeSchema, { kind: Kind.HELLO, hello: this.helloMessage() }));
  }

  private refusedStatus = 0;

  private failed(ev: unknown): void {
    // Browsers say nothing about a refused upgrade; the `ws` package names the status.
    const m = /Unexpected server response: (\d+)/.exec(String((ev as { message?: string })?.message ?? ""));
    if (m) this.refusedStatus = Number(m[1]);
  }

  private closed(code: number | undefined, reason: string | undefined): void {
    const status = this.refusedStatus;
    this.refusedStatus = 0;
    this.detach(0, "");
    if (!this.established && status >= 400 && status < 500 && status !== 408 && status !== 429) {
      this.lost("denied", `refused by the server (HTTP ${status})`, CLOSE_ABNORMAL, "", true);
      return;
    }
    if (!this.established) {
      this.lost("io", status ? `connection failed (HTTP ${status})` : "connection failed",
                CLOSE_ABNORMAL, "connection failed");
      return;
    }
    this.lost(undefined, "", code || CLOSE_ABNORMAL, reason ?? "");
  }

  /** A timer gave up on the current connection: drop it and go on as for a lost one. */
  private timedOut(what: string, reason: string): void {
    this.detach(CLOSE_CLIENT_LOST, reason);
    this.lost("timeout", what, CLOSE_ABNORMAL, reason);
  }

  /** Forget the current socket (its events are ignored from now on) and close it. */
  private detach(code: number, reason: string): void {
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    if (code) {
      try {
        ws.close(code, reason);
      } catch {
        // already closed
      }
    }
  }

  /**
   * The current connection has ended (already detached): forget its state, fail the
   * requests written on it unless the session may resume, report to onError and (when
   * the upgrade had succeeded) onClose.
   */
  private connEnd(err: ClientErrorKind | undefined, what: string, code: number,
                  reason: string): void {
    const wasEstablished = this.established;
    clearTimeout(this.tConnect);
    clearTimeout(this.tPing);
    clearTimeout(this.tPong);
    this.established = this.welcomed = false;
    this.awaitingPong = false;
    this.resume.replayPending = false;
    if (this.resume.token === undefined || this.userClosed) this.failSent(this.connId + 1);
    if (err && !this.destroyed) this.error(err, what);
    if (wasEstablished && !this.destroyed) this.fire(this.lifecycle.close, code, reason);
  }

  /** Section 7 of PROTOCOL.md: reconnect with backoff, or stop. */
  private lost(err: ClientErrorKind | undefined, what: string, code: number, reason: string,
               refused = false): void {
    this.connEnd(err, what, code, reason);
    if (this.destroyed || this.ws || this.userClosed) return; // a callback acted
    if (this.st === "disconnected" || this.st === "error") return;
    if (code === CLOSE_POLICY || refused) {
      // a refused upgrade told onError in connEnd; a 1008 says why here
      if (!refused) this.error("denied", `closed by the server with 1008 (${reason})`);
      if (this.destroyed || this.ws || this.userClosed) return; // onError acted
      this.terminal("error");
      return;
    }
    if (code === CLOSE_NORMAL || code === CLOSE_GOING_AWAY) {
      this.terminal("disconnected");
      return;
    }
    if (!this.reconnectEnabled) {
      this.terminal("disconnected");
      return;
    }
    if (this.attempts >= this.maxAttempts) {
      this.terminal("error");
      return;
    }
    this.attempts++;
    // 4003: the next attempt goes where the room instance moved (never from wss: to ws:), at
    // once the first time in a row; later attempts go to this client's own URL again
    let moved = code === CLOSE_MOVED ? movedTarget(this.url, reason) : undefined;
    if (moved && this.url.startsWith("wss:") && !moved.startsWith("wss:")) moved = undefined;
    this.movedUrl = moved;
    const ms = moved && this.moves++ === 0
      ? 0 : backoffDelay(this.bo, this.attempts, Math.floor(this.random() * 4294967296));
    this.setState("reconnecting");
    if (this.destroyed || this.st !== "reconnecting") return;
    this.tRetry = setTimeout(() => {
      if (this.st === "reconnecting") this.connect();
    }, ms);
  }

  private terminal(s: "disconnected" | "error"): void {
    clearTimeout(this.tRetry);
    this.failAll("disconnected", s === "error" ? "the client gave up" : "the client is disconnected");
    this.setState(s);
  }

  private visibilityChanged(): void {
    if (this.destroyed || this.visibility?.visibilityState !== "visible") return;
    if (this.st === "reconnecting") {
      // back in view: try now instead of waiting out the backoff delay
      this.connect();
    } else if (this.st === "connected" && this.pingIntervalMs > 0) {
      // a sleeping tab's connection may be dead: find out now
      clearTimeout(this.tPing);
      this.ping();
    }
  }

  // --- keepalive -------------------------------------------------------------------------

  private armPing(): void {
    clearTimeout(this.tPing);
    if (this.pingIntervalMs > 0) this.tPing = setTimeout(() => this.ping(), this.pingIntervalMs);
  }

  private ping(): void {
    if (!this.welcomed || !this.ws) return;
    this.awaitingPong = true;
    this.rxSincePing = false;
    this.sendControl(create(EnvelopeSchema, { kind: Kind.PING }));
    clearTimeout(this.tPong);
    const conn = this.connId;
    this.tPong = setTimeout(() => this.guard(conn, () => {
      this.awaitingPong = false;
      if (this.rxSincePing) this.armPing(); // late, but the peer is talking: alive
      else this.timedOut("no pong from the server in time", "pong timeout");
    }), this.pongTimeoutMs);
  }

  // --- receiving ---------------------------------------------------------------------------

  private received(data: unknown): void {
    this.rxSincePing = true;
    if (!(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) {
      this.error("protocol", "a text frame from the server: dropped");
      return;
    }
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.length > this.maxRxFrame) {
      this.error("protocol", `a frame from the server is over ${this.maxRxFrame} bytes: dropped`);
      return;
    }
    let env: Envelope;
    try {
      env = fromBinary(EnvelopeSchema, bytes);
    } catch {
      this.error("protocol", "a frame from the server does not decode: dropped");
      return;
    }
    const seq = env.seq;
    if ((env.kind === Kind.EVENT || env.kind === Kind.REPLY) && this.welcomed &&
        !this.resume.replayPending && seq > this.resume.lastSeq + 1n) {
      // a gap the server made on purpose (its drop policy); a resume's known loss is
      // onRecoveryFailed's to tell
      const n = seq - this.resume.lastSeq - 1n;
      this.missedCount += Number(n);
      this.error("missed", `${n} frame(s) from the server lost: seq ${seq} came after ` +
                 `${this.resume.lastSeq} (the server dropped them, its queue for this client ` +
                 "being full): resync");
      if (this.destroyed) return;
    }
    switch (env.kind) {
      case Kind.WELCOME:
        if (env.welcome) this.welcome(env.welcome);
        else this.error("protocol", "a welcome without its body");
        break;
      case Kind.EVENT:
        if (this.welcomed && this.resume.accept(env.seq || undefined)) this.event(env);
        break;
      case Kind.REPLY:
        if (this.resume.accept(env.seq || undefined)) this.reply(env);
        break;
      case Kind.ERROR:
        this.serverError(env);
        break;
      case Kind.PONG:
        if (this.awaitingPong) {
          this.awaitingPong = false;
          clearTimeout(this.tPong);
          this.armPing();
        }
        break;
      default:
        this.error("protocol", `a frame of kind ${env.kind} from the server: dropped`);
    }
    if (this.resume.replayPending && !this.destroyed && this.welcomed && this.resume.replayOver())
      this.failSent(this.connId);
  }

  /**
   * The WELCOME: requests written on earlier connections learn their fate here. Resumed,
   * they stay pending and get their REPLY from the replay (or their timeout); resumed with
   * recovery_failed, those without a REPLY when the replay is over end "disconnected"; a
   * fresh session never answers them: "disconnected" right after onOpen and onRecoveryFailed.
   */
  private welcome(w: Welcome): void {
    if (this.welcomed) {
      this.error("protocol", "a second welcome from the server: ignored");
      return;
    }
    const out = this.resume.welcome({
      resumeToken: w.resumeToken || undefined, resumed: w.resumed,
      recoveryFailed: w.recoveryFailed, seq: w.seq, epoch: w.epoch,
    });
    this.clientId = w.clientId;
    this.userId = w.userId;
    this.maxFrame = w.maxFrame;
    this.resumedFlag = out.resumed;
    this.recoveryFailedFlag = out.recoveryFailed;
    this.chans.clear();
    for (const c of w.channels) this.chans.add(c);
    this.welcomed = true;
    this.attempts = 0;
    this.moves = 0;
    clearTimeout(this.tConnect);
    this.armPing();
    for (let f = this.queue.shift(); f && this.ws; f = this.queue.shift()) this.write(f);
    this.setState("connected");
    if (!this.destroyed && this.st === "connected") this.fire(this.lifecycle.open);
    if (out.lost && !this.destroyed && this.st === "connected")
      this.fire(this.lifecycle.recovery, out.resumed);
    if (this.destroyed || !this.welcomed) return; // a callback ended this connection
    if (!out.resumed) this.failSent(this.connId);
    else if (this.resume.replayOver()) this.failSent(this.connId);
  }

  private event(env: Envelope): void {
    const ev = this.onEmit.get(env.event);
    if (!ev) {
      this.error("protocol", `event ${env.event} from the server is not in room ${this.room.name}: dropped`);
      return;
    }
    let msg: Message | undefined;
    if (ev.payload) {
      const r = decode(ev.payload, ev.validate, env.payload);
      if (typeof r === "string") {
        this.error(r.startsWith("the payload") ? "protocol" : "invalid",
                   `event ${ev.name}: ${r}: dropped`);
        return;
      }
      msg = r;
    }
    const list = this.handlers.get(ev.id);
    if (!list || list.length === 0) return;
    const info: EventInfo = { channel: env.channel || undefined, seq: env.seq };
    for (const h of [...list]) {
      if (this.destroyed) return;
      if (h.once) {
        const i = list.indexOf(h);
        if (i < 0) continue;
        list.splice(i, 1);
      }
      try {
        h.fn(msg, info);
      } catch (e) {
        queueMicrotask(() => { throw e; });
      }
    }
  }

  private reply(env: Envelope): void {
    const r = this.pending.get(env.requestId);
    if (!r) return; // timed out already
    if (r.kind !== "request") {
      if (r.kind === "join") this.chans.add(r.channel!);
      else this.chans.delete(r.channel!);
      this.finish(r, "ok", "");
      return;
    }
    const ev = r.ev!;
    const out = decode(ev.reply!, ev.validateReply, env.payload);
    if (typeof out === "string") {
      this.finish(r, "error", out.startsWith("the payload") ? "the reply does not decode"
                                                            : `invalid reply: ${out}`);
      return;
    }
    this.finish(r, "ok", "", out);
  }

  private serverError(env: Envelope): void {
    const e = env.error;
    const code = e?.code ?? ErrorCode.PROTOCOL;
    const text0 = e?.message || "error";
    const text = e?.field ? `${text0} (${e.field})` : text0;
    const r = env.requestId ? this.pending.get(env.requestId) : undefined;
    if (r) this.finish(r, "error", text, undefined, code);
    else this.error(errorKind(code), `server: ${text}`);
  }

  // --- the user's calls ------------------------------------------------------------------

  /** Close with 1000 (the server ends the session) and stay "disconnected". Pending
   *  requests end "disconnected"; queued events stay queued for a later connect. */
  disconnect(): void {
    if (this.destroyed) return;
    clearTimeout(this.tRetry);
    this.userClose("client disconnect");
    this.terminal("disconnected");
  }

  /** Connect again now, from any state: attempts back to 0, a new session (close 1000). */
  reconnect(): void {
    if (this.destroyed) return;
    if (this.ws) this.userClose("client reconnect");
    this.attempts = 0;
    this.connect();
  }

  /** Close with 1000 and free everything: pending requests end "cancelled", no callback
   *  runs afterwards. */
  close(): void {
    if (this.destroyed) return;
    this.failAll("cancelled", "the client was closed");
    this.destroyed = true;
    this.visibility?.removeEventListener("visibilitychange", this.onVisible);
    clearTimeout(this.tRetry);
    this.detach(CLOSE_NORMAL, "client closed");
    clearTimeout(this.tConnect);
    clearTimeout(this.tPing);
    clearTimeout(this.tPong);
    this.queue.clear();
    this.handlers.clear();
  }

  private userClose(why: string): void {
    this.userClosed = true;
    const had = this.ws !== null;
    // A 1000 ends the session on the server: the next HELLO still offers the token, is
    // answered with a fresh session, and onRecoveryFailed(false) says so (as in C).
    this.detach(CLOSE_NORMAL, why);
    if (had || this.established) this.connEnd(undefined, "", CLOSE_NORMAL, why);
  }
}

/** Set every proto2 `required` scalar or enum left unset to its zero value, recursively:
 *  the schema's plain fields are always on the wire (a NULL string is sent as "" in C). */
export function fillRequired(r: ReflectMessage): void {
  for (const f of r.fields) {
    if (f.fieldKind === "scalar" || f.fieldKind === "enum") {
      if (f.presence === 3 /* LEGACY_REQUIRED */ && !r.isSet(f)) r.set(f, r.get(f));
    } else if (f.fieldKind === "message") {
      if (r.isSet(f)) fillRequired(r.get(f));
    } else if (f.fieldKind === "list") {
      if (f.listKind === "message") for (const m of r.get(f)) fillRequired(m as ReflectMessage);
    } else if (f.fieldKind === "map") {
      if (f.mapKind === "message") for (const [, m] of r.get(f)) fillRequired(m as ReflectMessage);
    }
  }
}

/** Decode and validate a payload; the message, or a text saying why not. */
function decode(schema: DescMessage, validate: ((m: any) => Failure | null) | undefined,
                bytes: Uint8Array | undefined): Message | string {
  let msg: Message;
  try {
    msg = fromBinary(schema, bytes ?? new Uint8Array(0));
  } catch {
    return "the payload does not decode";
  }
  const f = validate?.(msg);
  return f ? `${f.path}: ${f.reason}` : msg;
}

function errorKind(code: ErrorCode): ClientErrorKind {
  switch (code) {
    case ErrorCode.INVALID_PAYLOAD: return "invalid";
    case ErrorCode.RATE_LIMITED: return "rate_limited";
    case ErrorCode.UNKNOWN_EVENT: return "unknown_event";
    case ErrorCode.HANDLER_FAILED: return "handler";
    case ErrorCode.JOIN_DENIED: return "denied";
    default: return "protocol";
  }
}

/** The options of a generated room class: the client's, less the URL and the room. */
export type RoomOptions = Omit<ClientOptions, "url" | "room">;

// SPDX-License-Identifier: MIT
//
// decode_ts.ts: what the TypeScript client (runtime/ts) does per event it receives, decode
// and dispatch, timed without a socket: frames are handed to the client's own message
// handler through a stand-in WebSocket, so the measured path is the real one (envelope
// fromBinary, seq check, event lookup, payload fromBinary, the generated validator, the
// typed callback of the generated ChatRoom). The frames are the chat.message events of
// decode_c.c, the C client's counterpart; run.sh runs both.
//
//   node bench_decode_ts.mjs [EVENTS [RUNS]]    prints "ts <ns per event, median of RUNS>"
import { create, toBinary } from "@bufbuild/protobuf";
import { EnvelopeSchema, Kind, type WebSocketLike } from "@verani/client";
import { ChatEvents, ChatRoom } from "@chat/chat_client.js";
import { ChatBroadcastSchema } from "@chat/chat_pb.js";

const n = Number(process.argv[2] ?? 100000);
const runs = Number(process.argv[3] ?? 5);

let socket: WebSocketLike | undefined;
class StandIn implements WebSocketLike {
  binaryType = "arraybuffer";
  readyState = 1;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor() {
    socket = this; // eslint-disable-line @typescript-eslint/no-this-alias
  }
  send(): void {}
  close(): void {}
}

function frame(init: Parameters<typeof create<typeof EnvelopeSchema>>[1]): ArrayBuffer {
  const b = toBinary(EnvelopeSchema, create(EnvelopeSchema, init));
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

const frames: ArrayBuffer[] = [];
for (let i = 0; i < n; i++) {
  const payload = toBinary(ChatBroadcastSchema, create(ChatBroadcastSchema, {
    from: "alice", text: `message ${i}: the quick brown fox jumps over the lazy dog`,
    at: 1764000000000n + BigInt(i), mood: 0, channel: "default",
  }));
  frames.push(frame({ kind: Kind.EVENT, event: ChatEvents.emit.chatMessage, channel: "default",
                      payload, seq: BigInt(i + 1) }));
}

let heard = 0;
const ns: number[] = [];
for (let r = 0; r < runs; r++) {
  // a fresh client per run (seqs start again), connected through the stand-in
  const room = new ChatRoom("ws://bench/chat/lobby", { WebSocket: StandIn, pingIntervalMs: 0,
                                                       visibility: null });
  room.on.chatMessage((m) => { heard += m.text.length > 0 ? 1 : 0; });
  const ws = socket!;
  ws.onopen!({});
  ws.onmessage!({ data: frame({ kind: Kind.WELCOME, welcome: { clientId: "c", resumeToken: "t",
                                                               epoch: "e", channels: ["default"] } }) });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) ws.onmessage!({ data: frames[i] });
  ns.push(Number(process.hrtime.bigint() - t0) / n);
  room.client.close();
}
ns.sort((a, b) => a - b);
console.log(`ts ${ns[Math.floor(runs / 2)]!.toFixed(0)} ns/event (median of ${runs} runs of ${n} events; ${heard} heard)`);
process.exitCode = heard === runs * n ? 0 : 3;

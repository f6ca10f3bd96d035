// SPDX-License-Identifier: MIT
//
// queue.ts: the client's offline queue, as the C client's (client_queue.c): a FIFO of
// encoded frames that, while the client is not connected, holds at most `max` of them and
// drops the oldest to make room, counting what it dropped. It knows nothing of sockets or
// states beyond the request id a frame carries (so a dropped request can be failed).

export interface Frame {
  bytes: Uint8Array;
  requestId: bigint; // 0n: not a request, join or leave
}

export class OfflineQueue {
  private items: Frame[] = [];
  /** Frames dropped from the full queue, in all. */
  dropped = 0;

  constructor(readonly max: number) {}

  get length(): number {
    return this.items.length;
  }

  /** Append `f`; with `bounded`, first drop the oldest frames past `max`, returned in order. */
  push(f: Frame, bounded: boolean): Frame[] {
    const out: Frame[] = [];
    if (bounded) {
      while (this.items.length > 0 && this.items.length >= this.max) {
        out.push(this.items.shift()!);
        this.dropped++;
      }
    }
    this.items.push(f);
    return out;
  }

  shift(): Frame | undefined {
    return this.items.shift();
  }

  /** Take out the frame of request `id`, if it is still queued. */
  removeRequest(id: bigint): Frame | undefined {
    const i = this.items.findIndex((f) => f.requestId === id);
    return i < 0 ? undefined : this.items.splice(i, 1)[0];
  }

  clear(): void {
    this.items = [];
  }
}

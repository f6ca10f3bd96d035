// SPDX-License-Identifier: MIT
//
// resume.ts: what the client keeps to resume its session (runtime/PROTOCOL.md section 3,
// "Resume" and "Epochs"), as pure state so it is unit-tested without sockets: the last
// resume token, the epoch of the last WELCOME and the last seq processed; what the next
// HELLO carries; what a WELCOME means (resumed, lost frames, a replay to wait for); and
// which incoming seq is new. The C client's c_on_welcome and c_replay_check, in TypeScript.

export interface HelloResume {
  resumeToken: string;
  lastSeq: bigint;
  epoch: string;
}

export interface WelcomeFacts {
  resumeToken?: string;
  resumed?: boolean;
  recoveryFailed?: boolean;
  seq?: bigint;      // undefined: the field was absent
  epoch?: string;
}

export interface WelcomeOutcome {
  resumed: boolean;
  recoveryFailed: boolean;
  /** Frames sent while away are lost: tell the application to resync. */
  lost: boolean;
}

export class ResumeState {
  token: string | undefined;
  epoch = "";
  lastSeq = 0n;
  /** Resumed with recovery_failed: the replay runs until lastSeq reaches replayEnd. */
  replayPending = false;
  replayEnd = 0n;

  /** The resume fields of the next HELLO, or undefined for a fresh session. */
  hello(): HelloResume | undefined {
    return this.token === undefined
      ? undefined
      : { resumeToken: this.token, lastSeq: this.lastSeq, epoch: this.epoch };
  }

  welcome(w: WelcomeFacts): WelcomeOutcome {
    const asked = this.token !== undefined; // this connection's HELLO asked to resume
    const resumed = !!w.resumed;
    const recoveryFailed = !!w.recoveryFailed;
    if (w.resumeToken) this.token = w.resumeToken;
    // another epoch (the server crashed): its seqs start again, and so does the replay
    if (resumed && w.epoch !== undefined && w.epoch !== this.epoch) this.lastSeq = 0n;
    this.epoch = w.epoch ?? "";
    if (!resumed && w.seq !== undefined) this.lastSeq = w.seq;
    // resumed, but the server's seq is behind ours (it lost frames): go on from its seq
    if (resumed && recoveryFailed && w.seq !== undefined && w.seq < this.lastSeq)
      this.lastSeq = w.seq;
    this.replayPending = resumed && recoveryFailed;
    this.replayEnd = w.seq ?? 0n;
    return { resumed, recoveryFailed, lost: recoveryFailed || (asked && !resumed) };
  }

  /**
   * An EVENT or REPLY with `seq` arrived: true when it is new (and it is now the last
   * processed), false for one already processed (never delivered twice).
   */
  accept(seq: bigint | undefined): boolean {
    if (seq === undefined || seq === 0n) return true;
    if (seq <= this.lastSeq) return false;
    this.lastSeq = seq;
    return true;
  }

  /** After each frame: true once, when a replay with recovery_failed has ended. */
  replayOver(): boolean {
    if (!this.replayPending || this.lastSeq < this.replayEnd) return false;
    this.replayPending = false;
    return true;
  }
}

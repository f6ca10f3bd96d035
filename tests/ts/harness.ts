// SPDX-License-Identifier: MIT
//
// harness.ts: what the TypeScript tests that run chat_server share (bundled into each by
// esbuild): the wall-clock bound of a wait (tests/common/deadline.h's DL_GENEROUS, scaled by
// VERANI_TEST_TIME_SCALE), a polling wait that ends at it, and chat_server started as a
// child process on a port (0: any) and a --db file, resolved once it printed `ready`.
import { spawn, type ChildProcess } from "node:child_process";

const SCALE = Math.max(1, parseInt(process.env.VERANI_TEST_TIME_SCALE || "1", 10) || 1);

/** The bound for a wait whose event the test's settings put at most `ms` away. */
export const generous = (ms: number): number => (10 * ms + 5000) * SCALE;

/** Resolve when `cond()` holds (checked every `every` ms); reject once `ms` have passed. */
export async function until(cond: () => Promise<boolean> | boolean, what: string,
                            ms: number, every = 20): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() >= deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export interface Server {
  child: ChildProcess;
  port: number;
  exited: Promise<void>;
}

/** chat_server (VERANI_CHAT_SERVER) with `args` beside --port and --db; resolves with its
 *  port once its output matched `ready` (group 1: the port), within `ms`. */
export function startServer(db: string, port: number, args: string[], ready: RegExp,
                            ms: number): Promise<Server> {
  const child = spawn(process.env.VERANI_CHAT_SERVER!,
                      ["--port", String(port), "--db", db, ...args],
                      { stdio: ["ignore", "pipe", "ignore"] });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`chat_server printed no ${ready}`)), ms);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), exited });
      }
    });
    child.on("exit", () => reject(new Error(`chat_server exited: ${out}`)));
  });
}

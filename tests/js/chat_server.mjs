// SPDX-License-Identifier: MIT
//
// The example chat server (examples/chat/chat_server, named by VERANI_CHAT_SERVER) as a child
// process of a JavaScript test, on 127.0.0.1: `port` resolves with its port once it prints
// its URL (within `waitMs`), `exited` with its exit code and signal.
import { spawn } from 'node:child_process';

export function startChatServer(args, waitMs, extraEnv = {}) {
  const child = spawn(process.env.VERANI_CHAT_SERVER, args,
                      { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, ...extraEnv } });
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  const port = new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the server printed no URL')), waitMs);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /ws:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(parseInt(m[1], 10));
      }
    });
    child.on('exit', () => reject(new Error(`the server exited: ${out}`)));
  });
  return { child, exited, port };
}

// SPDX-License-Identifier: MIT
//
// ws_server.js: the `ws` peer of bench/: a plain ws 8 server on 127.0.0.1 (port 0 unless
// --port) for the load generator's ws driver. Binary messages only: 'P' + n (8 bytes) + 64
// bytes is sent to every other client (the fan-out scenario, one send per recipient as a
// ws user writes it); 'E' + ... is sent back to its sender (echo, churn). It prints
// "PID <pid> PORT <port>" once it listens and exits on SIGINT or SIGTERM. permessage-deflate
// is off, as in Verani-C. It measures nothing: the load generator reads /proc.
'use strict';
const { WebSocketServer } = require('ws');

let port = 0;
const i = process.argv.indexOf('--port');
if (i > 0) port = Number(process.argv[i + 1]);

const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false,
                                  clientTracking: true });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (!isBinary || data.length < 1) return;
    if (data[0] === 0x50) {          // 'P': fan out to everyone else
      for (const c of wss.clients) {
        if (c !== ws && c.readyState === 1) c.send(data, { binary: true });
      }
    } else if (data[0] === 0x45) {   // 'E': echo
      ws.send(data, { binary: true });
    }
  });
  ws.on('error', () => {});
});
wss.on('listening', () => {
  process.stdout.write(`PID ${process.pid} PORT ${wss.address().port}\n`);
});
const stop = () => { wss.close(); for (const c of wss.clients) c.terminate(); process.exit(0); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

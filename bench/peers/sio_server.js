// SPDX-License-Identifier: MIT
//
// sio_server.js: the socket.io peer of bench/: a socket.io 4 server on 127.0.0.1 (port 0
// unless --port), websocket transport only, for the load generator's sio driver. Every
// socket joins room "bench" on connect; "publish" is sent to the room except the sender
// as "fanout" (socket.to(room).emit, one encoding for all, as socket.io users write it);
// "echo" is acknowledged with its own data (echo, churn). It prints "PID <pid> PORT <port>"
// once it listens and exits on SIGINT or SIGTERM. Compression is off. It measures nothing.
'use strict';
const http = require('http');
const { Server } = require('socket.io');

let port = 0;
const i = process.argv.indexOf('--port');
if (i > 0) port = Number(process.argv[i + 1]);

const httpServer = http.createServer();
const io = new Server(httpServer, { transports: ['websocket'], perMessageDeflate: false,
                                    httpCompression: false, serveClient: false });
io.on('connection', (socket) => {
  socket.join('bench');
  socket.on('publish', (data) => { socket.to('bench').emit('fanout', data); });
  socket.on('echo', (data, ack) => { if (typeof ack === 'function') ack(data); });
});
httpServer.listen(port, '127.0.0.1', () => {
  process.stdout.write(`PID ${process.pid} PORT ${httpServer.address().port}\n`);
});
const stop = () => { io.close(); process.exit(0); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

#!/usr/bin/env node
// Runs the official socket.io server (the pinned 4.8.x) on loopback, as
// aiOla's streaming service is laid out (path /api/voice-streaming/socket.io,
// namespace /events, WebSocket transport), for go test ./transport/interop.
//
//   node socketio-server.js [--ping-interval ms] [--ping-timeout ms]
//
// It prints JSON lines on stdout:
//   {"kind":"listening","port":N,"versions":{…}}  first, once listening
//   {"kind":"disconnect","sid":…,"reason":…}       when a client leaves
//   {"kind":"report",…}                            on the end of stdin or SIGTERM, then it exits
//
// What each client gets: binary_data → transcript {"transcript":"got N bytes","chunk":k};
// please_binary {"size":n} → binary_reply({"size":n}, <n bytes>, {"nested":<3 bytes>});
// please_ack → ask("question", callback), the answer recorded; please_kick →
// the server disconnects the namespace; every pong the server receives →
// heartbeat {"pongs":n}. A CONNECT whose auth is {"token":"bad"} is refused
// with the error "not authorized" and data {"code":401}.
'use strict';

const http = require('http');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { Server } = require('socket.io');

const args = process.argv.slice(2);
function flag(name, def) {
  const i = args.indexOf('--' + name);
  return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : def;
}
const pingInterval = flag('ping-interval', 500);
const pingTimeout = flag('ping-timeout', 5000);

function line(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// pattern returns n bytes: byte i is (i * 31 + seed) mod 251.
function pattern(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) % 251;
  return b;
}

// describe turns an event argument into JSON: a binary one as its size and
// SHA-256, nested binaries too.
function describe(v) {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    const b = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer || v);
    return { binary: true, size: b.length, sha256: crypto.createHash('sha256').update(b).digest('hex') };
  }
  if (Array.isArray(v)) return v.map(describe);
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = describe(x);
    return o;
  }
  return v;
}

const report = { kind: 'report', pingInterval, pingTimeout, connections: [], refused: [], engineErrors: [] };

const httpServer = http.createServer((req, res) => {
  res.writeHead(404).end();
});
const io = new Server(httpServer, {
  path: '/api/voice-streaming/socket.io',
  transports: ['websocket'],
  pingInterval,
  pingTimeout,
  serveClient: false,
});
io.engine.on('connection_error', (err) => {
  report.engineErrors.push({ code: err.code, message: err.message });
});

// A client whose auth payload holds {"token":"bad"} is refused (CONNECT_ERROR).
io.of('/events').use((socket, next) => {
  if (socket.handshake.auth && socket.handshake.auth.token === 'bad') {
    report.refused.push({ auth: socket.handshake.auth });
    const err = new Error('not authorized');
    err.data = { code: 401 };
    return next(err);
  }
  next();
});

io.of('/events').on('connection', (socket) => {
  const rec = {
    sid: socket.id,
    url: socket.request.url,
    query: socket.handshake.query,
    authorization: socket.handshake.headers.authorization ?? null,
    userAgent: socket.handshake.headers['user-agent'] ?? null,
    auth: socket.handshake.auth,
    protocol: socket.conn.protocol,
    transport: socket.conn.transport.name,
    events: [],
    acks: [],
    pings: [], // ms since the connection, one per ping sent
    pongs: 0,
    transcripts: 0,
    disconnectReason: null,
  };
  report.connections.push(rec);
  const start = Date.now();
  socket.conn.on('packetCreate', (p) => {
    if (p.type === 'ping') rec.pings.push(Date.now() - start);
  });
  socket.conn.on('packet', (p) => {
    if (p.type === 'pong') {
      rec.pongs++;
      socket.emit('heartbeat', { pongs: rec.pongs });
    }
  });
  socket.onAny((name, ...eventArgs) => {
    rec.events.push({ name, args: eventArgs.map(describe) });
    switch (name) {
      case 'binary_data': {
        const b = eventArgs[0];
        rec.transcripts++;
        socket.emit('transcript', { transcript: `got ${b && b.length} bytes`, chunk: rec.transcripts });
        break;
      }
      case 'please_binary': {
        const size = (eventArgs[0] && eventArgs[0].size) || 0;
        socket.emit('binary_reply', { size }, pattern(size, 7), { nested: Buffer.from([1, 2, 3]) });
        break;
      }
      case 'please_kick':
        socket.disconnect(); // the namespace only: the Engine.IO session stays open
        break;
      case 'please_ack':
        socket.emit('ask', 'question', (...answer) => rec.acks.push(answer.map(describe)));
        break;
    }
  });
  socket.on('disconnect', (reason) => {
    rec.disconnectReason = reason;
    line({ kind: 'disconnect', sid: socket.id, reason });
  });
});

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  line(report);
  io.close();
  process.exit(0);
}
process.stdin.on('end', finish);
process.stdin.on('error', finish);
process.stdin.resume();
process.on('SIGTERM', finish);
// A bound of its own, in case nobody ends it.
setTimeout(finish, 120000).unref();

httpServer.listen(0, '127.0.0.1', () => {
  const versions = {};
  for (const p of ['socket.io', 'engine.io', 'socket.io-parser']) {
    try {
      versions[p] = JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules', p, 'package.json'), 'utf8')).version;
    } catch (e) {
      versions[p] = null;
    }
  }
  line({ kind: 'listening', port: httpServer.address().port, versions });
});

#!/usr/bin/env node
// Runs aiOla's streaming speech-to-text as its official SDKs see it, on
// loopback, for go test ./transport/interop: the token flow on plain Node
// http and the official socket.io server (the pinned 4.8.x) on the same
// port, at aiOla's path /api/voice-streaming/socket.io, namespace /events.
//
//   node aiola-server.js [--every N] [--max-sessions N]
//                        [--ping-interval ms] [--ping-timeout ms]
//
// Token flow, as the SDKs call it:
//   POST   /voip-auth/apiKey2Token  Authorization: Bearer <key>
//          → {"context":{"token":…}}; a key other than "interop-key" → 401
//   POST   /voip-auth/session       Authorization: Bearer <token>, JSON {"workflow_id":…}
//          → {"jwt":…,"sessionId":…} (the jwt's exp an hour away); 409
//          {"code":"MAX_CONCURRENCY_REACHED",…} when the key already holds
//          --max-sessions (default 1) live sessions
//   DELETE /voip-auth/session       Authorization: Bearer <jwt> → 200
//          {"status":"deleted","deletedAt":…}, 404 for a session not live
//
// Socket.IO: a CONNECT to /events is refused ("unauthorized", data
// {"code":401}) unless the upgrade's Authorization is "Bearer <jwt>" of a
// live session and the query's x-aiola-api-token is that jwt; the other
// query parameters are checked (execution_id 4–24 letters and digits,
// flow_id the session's workflow, lang_code and time_zone set, keywords
// JSON when present) and their problems reported. A session gets:
//   binary_data (a Buffer)  counted, hashed; each N-th (--every, default 8)
//                           answered with transcript {"transcript":"chunk k"};
//                           the first with translation {"translation":"hola"}
//                           and structured {"results":{"chunks":1}} too
//   set_keywords            recorded (the JS SDK sends JSON as a binary attachment)
//
// It prints JSON lines on stdout:
//   {"kind":"listening","port":N,"versions":{…}}  first, once listening
//   {"kind":"auth",…}                             each request of the token flow
//   {"kind":"disconnect","sid":…,"reason":…}      when a client leaves
//   {"kind":"report",…}                           on the end of stdin or SIGTERM, then it exits
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
const every = flag('every', 8);
const maxSessions = flag('max-sessions', 1);
const pingInterval = flag('ping-interval', 25000);
const pingTimeout = flag('ping-timeout', 20000);
const KEY = 'interop-key';

function line(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const b64url = (s) => Buffer.from(s).toString('base64url');

const tokens = new Map(); // temporary token → key
const sessions = new Map(); // jwt → {id, key, workflow}
const report = {
  kind: 'report',
  every,
  maxSessions,
  auth: [], // every request of the token flow: method, path, problems
  tokens: 0,
  sessionsCreated: 0,
  sessionsDeleted: 0,
  concurrencyRefusals: 0,
  live: 0,
  connections: [],
  refused: [],
  engineErrors: [],
};

function bearer(req) {
  const h = req.headers.authorization || '';
  return h.startsWith('Bearer ') ? h.slice(7) : null;
}

function answer(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

function liveFor(key) {
  let n = 0;
  for (const s of sessions.values()) if (s.key === key) n++;
  return n;
}

// The token flow. socket.io's engine takes the requests under its path
// before this handler sees them.
function auth(req, res, body) {
  const rec = { method: req.method, path: req.url, contentType: req.headers['content-type'] ?? null, userAgent: req.headers['user-agent'] ?? null, problems: [] };
  report.auth.push(rec);
  const done = (status, obj) => {
    rec.status = status;
    line({ kind: 'auth', method: rec.method, path: rec.path, status, problems: rec.problems });
    answer(res, status, obj);
  };
  const cred = bearer(req);
  if (req.method === 'POST' && req.url === '/voip-auth/apiKey2Token') {
    if (body.length !== 0) rec.problems.push('apiKey2Token carries a body');
    if (cred !== KEY) return done(401, { code: 'INVALID_API_KEY', message: 'Invalid API key' });
    const token = 'tmp-' + crypto.randomBytes(8).toString('hex');
    tokens.set(token, cred);
    report.tokens++;
    return done(200, { context: { token } });
  }
  if (req.method === 'POST' && req.url === '/voip-auth/session') {
    const key = tokens.get(cred);
    if (!key) return done(401, { code: 'INVALID_TOKEN', message: 'unknown token' });
    if (!/^application\/json/.test(rec.contentType || '')) rec.problems.push('session POST without Content-Type application/json');
    let workflow;
    try {
      workflow = JSON.parse(body.toString('utf8')).workflow_id;
    } catch (e) {
      rec.problems.push('session body is not JSON: ' + e.message);
    }
    if (typeof workflow !== 'string' || workflow === '') {
      return done(400, { code: 'VALIDATION_ERROR', message: 'workflow_id is required' });
    }
    if (liveFor(key) >= maxSessions) {
      report.concurrencyRefusals++;
      return done(409, { code: 'MAX_CONCURRENCY_REACHED', message: 'Max concurrency limit reached for API key' });
    }
    tokens.delete(cred); // a temporary token makes one session
    const id = 'sess-' + crypto.randomBytes(6).toString('hex');
    const now = Math.floor(Date.now() / 1000);
    const jwt = [b64url('{"alg":"HS256","typ":"JWT"}'), b64url(JSON.stringify({ sub: id, iat: now, exp: now + 3600 })),
      crypto.randomBytes(16).toString('base64url')].join('.');
    sessions.set(jwt, { id, key, workflow });
    report.sessionsCreated++;
    return done(200, { jwt, sessionId: id });
  }
  if (req.method === 'DELETE' && req.url === '/voip-auth/session') {
    if (body.length !== 0) rec.problems.push('DELETE carries a body');
    const s = sessions.get(cred);
    if (!s) return done(404, { code: 'SESSION_NOT_FOUND', message: 'no such session' });
    sessions.delete(cred);
    report.sessionsDeleted++;
    return done(200, { status: 'deleted', deletedAt: new Date().toISOString() });
  }
  return done(404, { code: 'NOT_FOUND', message: 'no such endpoint' });
}

const httpServer = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => auth(req, res, Buffer.concat(chunks)));
});
const io = new Server(httpServer, {
  path: '/api/voice-streaming/socket.io',
  pingInterval,
  pingTimeout,
  serveClient: false,
});
io.engine.on('connection_error', (err) => {
  report.engineErrors.push({ code: err.code, message: err.message });
});

const events = io.of('/events');
events.use((socket, next) => {
  const q = socket.handshake.query;
  const jwt = bearer(socket.request);
  const s = jwt && sessions.get(jwt);
  if (!s || q['x-aiola-api-token'] !== jwt) {
    report.refused.push({ authorization: jwt ? 'Bearer <' + jwt.length + ' chars>' : null, liveSession: !!s, tokenMatches: q['x-aiola-api-token'] === jwt });
    const err = new Error('unauthorized');
    err.data = { code: 401 };
    return next(err);
  }
  socket.data.session = s;
  next();
});

events.on('connection', (socket) => {
  const q = socket.handshake.query;
  const s = socket.data.session;
  const problems = [];
  if (!/^[A-Za-z0-9]{4,24}$/.test(q.execution_id || '')) problems.push(`execution_id ${JSON.stringify(q.execution_id)} is not 4-24 letters and digits`);
  if (q.flow_id !== s.workflow) problems.push(`flow_id ${JSON.stringify(q.flow_id)} is not the session's workflow ${s.workflow}`);
  if (!q.lang_code) problems.push('lang_code missing');
  if (!q.time_zone) problems.push('time_zone missing');
  if (q.keywords !== undefined) {
    try {
      const k = JSON.parse(q.keywords);
      if (!k || typeof k !== 'object' || Array.isArray(k)) problems.push('keywords is not a JSON object');
    } catch (e) {
      problems.push('keywords is not JSON: ' + e.message);
    }
  }
  const hash = crypto.createHash('sha256');
  const rec = {
    sid: socket.id,
    session: s.id,
    url: socket.request.url,
    query: Object.fromEntries(Object.entries(q).filter(([k]) => k !== 'x-aiola-api-token')),
    tokenInQuery: q['x-aiola-api-token'] === bearer(socket.request),
    userAgent: socket.handshake.headers['user-agent'] ?? null,
    protocol: socket.conn.protocol,
    transport: socket.conn.transport.name,
    problems,
    chunks: 0,
    bytes: 0,
    sizes: {}, // chunk size → count
    sha256: null,
    keywords: [],
    others: [],
    transcripts: 0,
    pongs: 0,
    disconnectReason: null,
  };
  report.connections.push(rec);
  socket.conn.on('packet', (p) => {
    if (p.type === 'pong') rec.pongs++;
  });
  socket.onAny((name, ...eventArgs) => {
    switch (name) {
      case 'binary_data': {
        const b = eventArgs[0];
        if (!Buffer.isBuffer(b) || eventArgs.length !== 1) {
          problems.push(`binary_data ${rec.chunks + 1} is not one Buffer`);
          return;
        }
        rec.chunks++;
        rec.bytes += b.length;
        rec.sizes[b.length] = (rec.sizes[b.length] || 0) + 1;
        hash.update(b);
        if (rec.chunks === 1) {
          socket.emit('translation', { translation: 'hola' });
          socket.emit('structured', { results: { chunks: 1 } });
        }
        if (rec.chunks % every === 0) {
          rec.transcripts++;
          socket.emit('transcript', { transcript: `chunk ${rec.chunks}` });
        }
        return;
      }
      case 'set_keywords': {
        const k = eventArgs[0];
        if (Buffer.isBuffer(k)) {
          try {
            rec.keywords.push({ binary: true, value: JSON.parse(k.toString('utf8')) });
          } catch (e) {
            problems.push('set_keywords carries a Buffer that is not JSON');
          }
        } else {
          rec.keywords.push({ binary: false, value: k });
        }
        return;
      }
      default:
        rec.others.push(name);
    }
  });
  socket.on('disconnect', (reason) => {
    rec.disconnectReason = reason;
    rec.sha256 = hash.digest('hex');
    line({ kind: 'disconnect', sid: socket.id, reason });
  });
});

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  report.live = sessions.size;
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

#!/usr/bin/env node
// aiola-client.js drives the official socket.io-client (4.8.4, pinned in
// package.json) exactly as the official aiOla JS SDK (@aiola/sdk 2.4,
// src/clients/auth/Client.ts, src/clients/stt/Client.ts and streaming.ts)
// configures it, against a server on this machine: the reference server's
// aiOla mode (transport/refserver). It is run by go test ./transport/interop;
// see doc.go there.
//
// Usage:
//
//   node aiola-client.js --base http://127.0.0.1:PORT --key KEY --audio FILE [options]
//
// --base is both the SDK's authBaseUrl and its baseUrl. FILE holds raw s16le
// mono audio at 16 kHz; it is sent as it is, in binary_data chunks, with no
// silence added (put trailing silence in the file). Options:
//
//   --workflow ID        the workflow (default: the SDKs' default workflow)
//   --lang CODE          stream({langCode}) (default en; "" leaves it out)
//   --keywords JSON      stream({keywords}): the keywords query parameter
//   --set-keywords JSON  setKeywords(JSON) once connected, before the audio
//   --chunk-samples N    samples per binary_data (default 4096, as the SDK's
//                        microphone examples)
//   --speed X            pace at X times real time (default 1); each chunk
//                        leaves at its own absolute time, start + i·chunk/X
//   --quiet-ms N         after the audio, wait until no transcript came for N
//                        ms (default 1500), then disconnect()
//   --timeout-ms N       bound on the whole run (default 30000)
//
// Output: one JSON line per item on standard output, each with a "kind":
//
//   token        the token flow succeeded: sessionId, the JWT's iat and exp,
//                and whether the SDK's own check (exp more than 5 min ahead)
//                accepts it
//   query        the query and headers passed to io() (tokens redacted)
//   connect      the namespace was joined: the socket id
//   transcript   one transcript event's payload
//   violation    a transcript that does not match the SDK's TranscriptEvent
//   event        any other event from the server: its name and arguments
//   error        an error: connect_error, an error event, a failed request
//   disconnect   the socket's disconnect reason
//   deleted      DELETE /voip-auth/session: status and body
//   summary      last line: counts, why the wait ended, exit status
//
// Exit status: 0 ok; 1 violations, error events or a wait that timed out;
// 2 the token flow or the connection failed; 64 bad usage.
"use strict";

const fs = require("fs");
const crypto = require("crypto");
const { io } = require("socket.io-client");

// The SDKs' constants (src/lib/constants.ts).
const DEFAULT_WORKFLOW_ID = "2c78fcf1-9265-408f-b8c3-d9d7e7ebc1bc";
const SOCKET_PATH = "/api/voice-streaming/socket.io"; // Stt.path
const NAMESPACE = "/events"; // Stt.namespace
const SAMPLE_RATE = 16000;

function line(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function usage(msg) {
  process.stderr.write("aiola-client.js: " + msg + "\n");
  process.exit(64);
}

const args = process.argv.slice(2);
function flag(name, def) {
  const i = args.indexOf("--" + name);
  if (i < 0) return def;
  if (i + 1 >= args.length) usage("--" + name + " needs a value");
  return args[i + 1];
}

const base = flag("base");
const apiKey = flag("key");
const audioPath = flag("audio");
if (!base || !apiKey || !audioPath) usage("--base, --key and --audio are required");
const workflowId = flag("workflow", DEFAULT_WORKFLOW_ID);
const langCode = flag("lang", "en");
const keywordsQuery = flag("keywords");
const setKeywords = flag("set-keywords");
const chunkSamples = Number(flag("chunk-samples", "4096"));
const speed = Number(flag("speed", "1"));
const quietMs = Number(flag("quiet-ms", "1500"));
const timeoutMs = Number(flag("timeout-ms", "30000"));
if (!(chunkSamples > 0) || !(speed > 0) || !(quietMs >= 0) || !(timeoutMs > 0)) usage("bad number");

const summary = {
  kind: "summary",
  chunks: 0,
  bytes: 0,
  transcripts: 0,
  violations: 0,
  errors: 0,
  events: 0,
  connected: false,
  disconnect_reason: "",
  delete_status: 0,
  reason: "",
  exit: 0,
};

function finish(exit, reason) {
  summary.exit = summary.exit || exit;
  if (reason && !summary.reason) summary.reason = reason;
  line(summary);
  process.exit(summary.exit);
}

const deadline = setTimeout(() => finish(1, "timeout"), timeoutMs);

// nanoid(): 21 characters of nanoid's URL alphabet, as the JS SDK makes its
// execution_id (the nanoid package is not installed here).
const NANOID_ALPHABET = "useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict";
function nanoid(size = 21) {
  const bytes = crypto.randomBytes(size);
  let id = "";
  for (let i = 0; i < size; i++) id += NANOID_ALPHABET[bytes[i] & 63];
  return id;
}

// parseJWTPayload as Auth.parseJWTPayload.
function parseJWTPayload(token) {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("Invalid JWT format");
  const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
  const padded = b64.padEnd(b64.length + ((4 - (b64.length % 4)) % 4), "=");
  return JSON.parse(Buffer.from(padded, "base64").toString("utf-8"));
}

// grantToken as Auth.grantToken: apiKey2Token, then session.
async function grantToken() {
  const tokenResponse = await fetch(`${base}/voip-auth/apiKey2Token`, {
    method: "POST",
    headers: { Authorization: `Bearer ${apiKey}` },
  });
  if (!tokenResponse.ok) {
    throw new Error(`Token generation failed: ${tokenResponse.status} ${await tokenResponse.text()}`);
  }
  const tokenData = await tokenResponse.json();
  if (!tokenData.context?.token) throw new Error("Invalid token response - no token found in data.context.token");
  const sessionResponse = await fetch(`${base}/voip-auth/session`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${tokenData.context.token}` },
    body: JSON.stringify({ workflow_id: workflowId }),
  });
  if (!sessionResponse.ok) {
    throw new Error(`Session creation failed: ${sessionResponse.status} ${await sessionResponse.text()}`);
  }
  const sessionData = await sessionResponse.json();
  if (!sessionData.jwt) throw new Error("Invalid session response - no jwt found");
  return { accessToken: sessionData.jwt, sessionId: sessionData.sessionId };
}

// closeSession as Auth.closeSession.
async function closeSession(accessToken) {
  const response = await fetch(`${base}/voip-auth/session`, {
    method: "DELETE",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${accessToken}` },
  });
  const text = await response.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, body };
}

// checkTranscript reports how a transcript payload differs from the SDK's
// TranscriptEvent, {transcript: string}; "" when it does not.
function checkTranscript(data) {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return "not an object";
  if (typeof data.transcript !== "string") return "transcript is not a string";
  const extra = Object.keys(data).filter((k) => k !== "transcript");
  if (extra.length) return "fields the SDK does not declare: " + extra.join(", ");
  return "";
}

async function main() {
  const audio = fs.readFileSync(audioPath);

  let grant;
  try {
    grant = await grantToken();
  } catch (e) {
    summary.errors++;
    line({ kind: "error", where: "grantToken", error: String(e.message || e) });
    return finish(2, "token");
  }
  const payload = parseJWTPayload(grant.accessToken);
  line({
    kind: "token",
    sessionId: grant.sessionId,
    iat: payload.iat,
    exp: payload.exp,
    sdk_valid: payload.exp > Math.floor(Date.now() / 1000) + 5 * 60, // Auth.isTokenValid
  });
  const accessToken = grant.accessToken;

  // Stt.buildQueryAndHeaders.
  const query = {
    execution_id: nanoid(),
    flow_id: workflowId,
    time_zone: "UTC",
    "x-aiola-api-token": accessToken,
  };
  if (langCode) query.lang_code = langCode;
  if (keywordsQuery) query.keywords = JSON.stringify(JSON.parse(keywordsQuery));
  const headers = { Authorization: `Bearer ${accessToken}` };
  line({ kind: "query", query: { ...query, "x-aiola-api-token": "…" }, headers: { Authorization: "Bearer …" } });

  // StreamingClient's io() call, url = baseUrl + namespace. One change:
  // transports is ["websocket"] instead of the SDK's ["polling",
  // "websocket"], because the reference server serves no long polling (it
  // answers a polling request with 400); with the WebSocket first and only,
  // socket.io-client opens it directly, as the SDK ends up doing after its
  // upgrade.
  const socket = io(`${base}${NAMESPACE}`, {
    path: SOCKET_PATH,
    query,
    transports: ["websocket"],
    upgrade: true,
    reconnection: true,
    reconnectionAttempts: 3,
    reconnectionDelay: 1000,
    timeout: 10000,
    forceNew: true,
    withCredentials: true,
    extraHeaders: headers,
    transportOptions: {
      polling: { extraHeaders: headers },
      websocket: { extraHeaders: headers },
    },
  });

  let lastTranscript = Date.now();
  let sent = false;
  let ended = false;

  async function end(exit, reason) {
    if (ended) return;
    ended = true;
    socket.disconnect(); // StreamingClient.disconnect
    try {
      const r = await closeSession(accessToken);
      summary.delete_status = r.status;
      line({ kind: "deleted", status: r.status, body: r.body });
    } catch (e) {
      summary.errors++;
      line({ kind: "error", where: "closeSession", error: String(e.message || e) });
      exit = exit || 1;
    }
    clearTimeout(deadline);
    finish(exit, reason);
  }

  socket.on("connect", () => {
    if (summary.connected) return; // a reconnection: not expected here
    summary.connected = true;
    line({ kind: "connect", id: socket.id });
    if (setKeywords) {
      // StreamingClient.setKeywords: a Uint8Array of the JSON.
      socket.emit("set_keywords", new TextEncoder().encode(JSON.stringify(JSON.parse(setKeywords))));
    }
    stream();
  });
  socket.on("transcript", (data) => {
    lastTranscript = Date.now();
    summary.transcripts++;
    line({ kind: "transcript", data });
    const problem = checkTranscript(data);
    if (problem) {
      summary.violations++;
      line({ kind: "violation", problem, data });
    }
  });
  socket.on("error", (data) => {
    summary.errors++;
    line({ kind: "error", where: "error event", error: data });
  });
  socket.onAny((name, ...rest) => {
    if (name === "transcript" || name === "error") return;
    summary.events++;
    line({ kind: "event", name, args: rest });
  });
  socket.on("connect_error", (err) => {
    summary.errors++;
    line({ kind: "error", where: "connect_error", error: String(err.message || err), description: err.description ? String(err.description) : undefined });
    if (!socket.active) end(2, "connect_error"); // no reconnection will follow
  });
  socket.on("disconnect", (reason) => {
    summary.disconnect_reason = reason;
    line({ kind: "disconnect", reason });
    if (!ended && reason !== "io client disconnect") end(2, "disconnected by the server: " + reason);
  });

  // stream sends the file in binary_data chunks of chunkSamples, each at its
  // own absolute time, then waits for the transcripts to stop coming.
  function stream() {
    const chunkBytes = chunkSamples * 2;
    const chunkMs = (chunkSamples / SAMPLE_RATE) * 1000 / speed;
    const start = Date.now();
    let i = 0;
    function next() {
      if (ended) return;
      const off = i * chunkBytes;
      if (off >= audio.length) {
        sent = true;
        lastTranscript = Date.now();
        return waitQuiet();
      }
      const chunk = audio.subarray(off, Math.min(off + chunkBytes, audio.length));
      socket.emit("binary_data", Buffer.from(chunk)); // StreamingClient.send(audioData)
      summary.chunks++;
      summary.bytes += chunk.length;
      i++;
      setTimeout(next, Math.max(0, start + i * chunkMs - Date.now()));
    }
    next();
  }

  function waitQuiet() {
    if (ended) return;
    const left = lastTranscript + quietMs - Date.now();
    if (left <= 0) return end(summary.violations || summary.errors ? 1 : 0, "quiet");
    setTimeout(waitQuiet, left);
  }
}

main().catch((e) => {
  summary.errors++;
  line({ kind: "error", where: "main", error: String((e && e.stack) || e) });
  finish(2, "exception");
});

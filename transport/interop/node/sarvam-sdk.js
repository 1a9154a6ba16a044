#!/usr/bin/env node
// sarvam-sdk.js drives the official Sarvam JS SDK (sarvamai, pinned in
// package.json) against a server on this machine, so that vachana-pipe's Go
// code is checked against the vendor's own client rather than only against
// itself. It is run by go test ./transport/interop; see doc.go there.
//
// Usage:
//
//   node sarvam-sdk.js --url ws://127.0.0.1:PORT --key KEY --audio FILE \
//        --sample-rate 16000 --language en-IN [options]
//
// --url is the SDK's baseUrl: the SDK itself appends /speech-to-text/ws.
// FILE holds raw s16le mono audio at --sample-rate. Options:
//
//   --model M, --mode M, --codec C        connect's model, mode, input_audio_codec
//   --vad-signals true|false              connect's vad_signals
//   --flush-signal true|false             connect's flush_signal
//   --high-vad-sensitivity true|false     connect's high_vad_sensitivity
//   (a connect option not given is not passed to the SDK, which then omits it
//   from the query)
//   --prompt TEXT        setPrompt(TEXT) once the socket is open, before any audio
//   --chunk-bytes N      bytes of audio per transcribe() call (default 1024;
//                        the last chunk may be shorter)
//   --pause-ms N         pause after each transcribe() (default 2): faster
//                        than real time, but not one burst
//   --flush true|false   call flush() after the audio (default true)
//   --quiet-ms N         after the flush, wait until every END_SPEECH has its
//                        data and nothing came for N ms (default 1000)
//   --timeout-ms N       bound on the whole run (default 30000)
//   --websocket auto|ws|global
//                        which WebSocket class the SDK gets: auto leaves the
//                        SDK's own choice (the runtime's global WebSocket if it
//                        has one, as Node 22+ does, else the ws package); ws
//                        hides the global so the SDK takes ws; global requires it
//
// Output: one JSON line per item on standard output, each with a "kind":
//
//   called_with  the arguments the SDK was called with (key redacted)
//   open         the socket opened; protocol is the subprotocol the server chose
//   message      one message as the SDK's message handler received it
//   violation    a message that does not match the SDK's declared types
//   error        an error the SDK reported or threw
//   close        a close event the SDK passed on (before our own close)
//   summary      last line: counts, why the wait ended, exit status
//
// Exit status: 0 ok; 1 violations, SDK exceptions, or a wait that timed out;
// 2 the connection failed or broke; 64 bad usage.
"use strict";

const fs = require("fs");
const path = require("path");

const started = Date.now();
const counts = {
    messages: 0,
    data: 0,
    events: 0,
    errors: 0,
    start_speech: 0,
    end_speech: 0,
    violations: 0,
    sdk_errors: 0,
};
let summaryPrinted = false;

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}

function usage(msg) {
    process.stderr.write(`sarvam-sdk.js: ${msg}\n`);
    process.exit(64);
}

function parseArgs(argv) {
    const known = new Set([
        "url", "key", "audio", "sample-rate", "language", "model", "mode", "codec",
        "vad-signals", "flush-signal", "high-vad-sensitivity", "prompt", "chunk-bytes",
        "pause-ms", "flush", "quiet-ms", "timeout-ms", "websocket",
    ]);
    const out = {};
    for (let i = 0; i < argv.length; i++) {
        let a = argv[i];
        if (!a.startsWith("--")) usage(`unexpected argument ${JSON.stringify(a)}`);
        a = a.slice(2);
        let v;
        const eq = a.indexOf("=");
        if (eq >= 0) {
            v = a.slice(eq + 1);
            a = a.slice(0, eq);
        } else {
            if (i + 1 >= argv.length) usage(`--${a} needs a value`);
            v = argv[++i];
        }
        if (!known.has(a)) usage(`unknown option --${a}`);
        out[a] = v;
    }
    for (const req of ["url", "key", "audio", "sample-rate", "language"]) {
        if (out[req] === undefined) usage(`--${req} is required`);
    }
    return out;
}

function intArg(args, name, def, min) {
    if (args[name] === undefined) return def;
    const n = Number(args[name]);
    if (!Number.isInteger(n) || n < min) usage(`--${name} ${JSON.stringify(args[name])} is not an integer ≥ ${min}`);
    return n;
}

function boolArg(args, name) {
    const v = args[name];
    if (v === undefined) return undefined;
    if (v !== "true" && v !== "false") usage(`--${name} must be true or false, not ${JSON.stringify(v)}`);
    return v;
}

// ---- validation against the SDK's declared types (dist/cjs/api/types/*.d.ts)

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const isNumber = (v) => typeof v === "number" && Number.isFinite(v);

// validate returns the ways msg differs from SpeechToTextStreamingResponse:
// { type: "data" | "error" | "events", data: SpeechToTextResponseData }.
// Optional fields may be absent; null is accepted only where the SDK's doc
// comment says the field is null (timestamps, diarized_transcript,
// language_probability).
function validate(msg) {
    const p = [];
    if (!isObject(msg)) return ["message is not a JSON object"];
    if (!["data", "error", "events"].includes(msg.type)) {
        p.push(`type ${JSON.stringify(msg.type)} is not one of data, error, events (ResponseType)`);
    }
    const d = msg.data;
    if (!isObject(d)) {
        p.push("data is not an object");
        return p;
    }
    const optional = (name, ok, what, nullable) => {
        const v = d[name];
        if (v === undefined || (nullable && v === null)) return;
        if (!ok(v)) p.push(`data.${name} ${JSON.stringify(v)} is not ${what}`);
    };
    switch (msg.type) {
        case "data": // SpeechToTextTranscriptionData
            if (typeof d.request_id !== "string") p.push("data.request_id is not a string");
            if (typeof d.transcript !== "string") p.push("data.transcript is not a string");
            if (!isObject(d.metrics)) {
                p.push("data.metrics is not an object (TranscriptionMetrics)");
            } else {
                if (!isNumber(d.metrics.audio_duration)) p.push("data.metrics.audio_duration is not a number");
                if (!isNumber(d.metrics.processing_latency)) p.push("data.metrics.processing_latency is not a number");
            }
            optional("language_code", (v) => typeof v === "string", "a string", false);
            optional("language_probability", (v) => isNumber(v) && v >= 0 && v <= 1, "a number in [0, 1]", true);
            optional("timestamps", isObject, "an object", true);
            optional("diarized_transcript", isObject, "an object", true);
            break;
        case "events": // EventsData
            optional("event_type", (v) => typeof v === "string", "a string", false);
            optional("timestamp", (v) => typeof v === "string", "a string", false);
            optional("signal_type", (v) => v === "START_SPEECH" || v === "END_SPEECH", "START_SPEECH or END_SPEECH", false);
            optional("occured_at", isNumber, "a number", false);
            break;
        case "error": // ErrorData
            if (typeof d.error !== "string") p.push("data.error is not a string (ErrorData.error)");
            if (typeof d.code !== "string") p.push("data.code is not a string (ErrorData.code)");
            break;
    }
    return p;
}

// ---- the run

function summary(extra, status) {
    if (summaryPrinted) return;
    summaryPrinted = true;
    emit(Object.assign({ kind: "summary" }, counts, extra, { elapsed_ms: Date.now() - started, status }));
    process.exitCode = status;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
    const args = parseArgs(process.argv.slice(2));
    const rate = intArg(args, "sample-rate", 0, 1);
    const chunkBytes = intArg(args, "chunk-bytes", 1024, 1);
    const pauseMs = intArg(args, "pause-ms", 2, 0);
    const quietMs = intArg(args, "quiet-ms", 1000, 0);
    const timeoutMs = intArg(args, "timeout-ms", 30000, 1);
    const doFlush = boolArg(args, "flush") !== "false";
    const wsChoice = args.websocket === undefined ? "auto" : args.websocket;
    const deadline = started + timeoutMs;

    // A last resort: whatever hangs, end the process a little after the
    // deadline. unref: it does not keep the process alive by itself.
    setTimeout(() => {
        emit({ kind: "error", error: "hard timeout: the run did not end", where: "timeout" });
        summary({ reason: "hard timeout" }, 1);
        process.exit(1);
    }, timeoutMs + 5000).unref();

    switch (wsChoice) {
        case "auto":
            break;
        case "ws":
            delete globalThis.WebSocket; // the SDK then falls back to the ws package
            break;
        case "global":
            if (typeof globalThis.WebSocket === "undefined") {
                emit({ kind: "error", error: "this runtime has no global WebSocket", where: "setup" });
                summary({ reason: "no global WebSocket" }, 2);
                return;
            }
            break;
        default:
            usage(`--websocket must be auto, ws or global, not ${JSON.stringify(wsChoice)}`);
    }
    const websocket = typeof globalThis.WebSocket === "undefined" ? "ws" : "global";

    const audio = fs.readFileSync(args.audio);
    const chunks = [];
    for (let off = 0; off < audio.length; off += chunkBytes) {
        chunks.push(audio.subarray(off, Math.min(off + chunkBytes, audio.length)));
    }

    const { SarvamAIClient } = require("sarvamai");
    const sdkVersion = JSON.parse(
        fs.readFileSync(path.join(path.dirname(require.resolve("sarvamai")), "..", "..", "package.json"), "utf8"),
    ).version;

    const connectArgs = { "language-code": args.language };
    if (args.model !== undefined) connectArgs.model = args.model;
    if (args.mode !== undefined) connectArgs.mode = args.mode;
    if (args.codec !== undefined) connectArgs.input_audio_codec = args.codec;
    connectArgs.sample_rate = String(rate); // ConnectArgs.sample_rate is a string
    for (const [flag, name] of [
        ["high-vad-sensitivity", "high_vad_sensitivity"],
        ["vad-signals", "vad_signals"],
        ["flush-signal", "flush_signal"],
    ]) {
        const v = boolArg(args, flag);
        if (v !== undefined) connectArgs[name] = v;
    }
    connectArgs.reconnectAttempts = 0; // one connection: a reconnect would be a second session

    emit({
        kind: "called_with",
        sdk: `sarvamai ${sdkVersion}`,
        node: process.version,
        websocket,
        client: { baseUrl: args.url, apiSubscriptionKey: "REDACTED" },
        connect: connectArgs,
        setPrompt: args.prompt === undefined ? null : args.prompt,
        transcribe: { audio: "<base64 of each chunk>", sample_rate: rate, calls: chunks.length, chunk_bytes: chunkBytes },
        flush: doFlush,
        close: true,
    });

    const client = new SarvamAIClient({ apiSubscriptionKey: args.key, baseUrl: args.url });
    const socket = await client.speechToTextStreaming.connect(connectArgs);

    let lastMessageAt = Date.now();
    let serverClosed = null;
    let closing = false;
    socket.on("message", (msg) => {
        lastMessageAt = Date.now();
        const index = counts.messages++;
        emit({ kind: "message", index, message: msg });
        const problems = validate(msg);
        for (const problem of problems) {
            counts.violations++;
            emit({ kind: "violation", index, problem });
        }
        if (!isObject(msg)) return;
        if (msg.type === "data") counts.data++;
        if (msg.type === "error") counts.errors++;
        if (msg.type === "events") {
            counts.events++;
            const sig = isObject(msg.data) ? msg.data.signal_type : undefined;
            if (sig === "START_SPEECH") counts.start_speech++;
            if (sig === "END_SPEECH") counts.end_speech++;
        }
    });
    socket.on("error", (err) => {
        counts.sdk_errors++;
        emit({ kind: "error", error: String(err && err.message), where: "sdk error event" });
    });
    socket.on("close", (ev) => {
        if (closing) return; // the SDK's close() reports a code 1000 of its own; see README
        serverClosed = { code: ev && ev.code, reason: (ev && ev.reason) || "" };
        emit({ kind: "close", code: serverClosed.code, reason: serverClosed.reason });
    });

    let rws;
    let openTimer;
    try {
        rws = await Promise.race([
            socket.waitForOpen(),
            new Promise((_, reject) => {
                openTimer = setTimeout(
                    () => reject(new Error("timed out waiting for the socket to open")),
                    Math.max(0, deadline - Date.now()),
                );
            }),
        ]);
        clearTimeout(openTimer);
    } catch (e) {
        clearTimeout(openTimer);
        const msg = e && (e.message || (e.error && e.error.message) || e.type);
        emit({ kind: "error", error: `connect: ${msg || String(e)}`, where: "connect" });
        socket.close();
        summary({ reason: "connection failed", websocket }, 2);
        return;
    }
    const redact = (p) => (p === `api-subscription-key.${args.key}` ? "api-subscription-key.REDACTED" : p);
    emit({ kind: "open", protocol: redact(rws.protocol) });

    let sentBytes = 0;
    let sentChunks = 0;
    try {
        if (args.prompt !== undefined) socket.setPrompt(args.prompt);
        for (const c of chunks) {
            socket.transcribe({ audio: c.toString("base64"), sample_rate: rate });
            sentChunks++;
            sentBytes += c.length;
            if (pauseMs > 0) await sleep(pauseMs);
            if (Date.now() > deadline) throw new Error("timed out sending the audio");
        }
        if (doFlush) socket.flush();
    } catch (e) {
        emit({ kind: "error", error: `send: ${e && e.message}`, where: "send" });
        closing = true;
        socket.close();
        summary({ reason: "send failed", chunks: sentChunks, bytes: sentBytes, websocket, server_close: serverClosed }, 2);
        return;
    }
    const flushedAt = Date.now();

    // Wait until every END_SPEECH has its data and nothing came for quietMs,
    // the server closed, or the deadline passed.
    let reason;
    for (;;) {
        const now = Date.now();
        if (serverClosed) {
            reason = "server closed";
            break;
        }
        if (now - lastMessageAt >= quietMs && now - flushedAt >= quietMs && counts.data >= counts.end_speech) {
            reason = "quiet";
            break;
        }
        if (now >= deadline) {
            reason = "timeout";
            break;
        }
        await sleep(20);
    }

    // Close as a user of the SDK does, then wait (bounded) for the close
    // handshake to finish, watching the SDK's public socket.readyState.
    closing = true;
    socket.close();
    const closeDeadline = Date.now() + 5000;
    while (rws.readyState !== 3 /* CLOSED */ && Date.now() < closeDeadline) await sleep(10);
    const closedCleanly = rws.readyState === 3;

    let status = 0;
    if (counts.violations > 0 || reason === "timeout") status = 1;
    if (reason === "server closed" || !closedCleanly) status = Math.max(status, 2);
    summary({ reason, chunks: sentChunks, bytes: sentBytes, websocket, closed: closedCleanly, server_close: serverClosed }, status);
}

process.on("uncaughtException", (e) => {
    // The SDK parses every message with JSON.parse inside its event listener:
    // a message that is not JSON throws here.
    counts.violations++;
    emit({ kind: "violation", index: counts.messages, problem: `the SDK threw: ${e && e.message}` });
});

main().catch((e) => {
    emit({ kind: "error", error: String((e && e.stack) || e), where: "main" });
    summary({ reason: "exception" }, 2);
});

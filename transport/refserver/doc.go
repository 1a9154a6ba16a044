// Package refserver is a reference server for tests and demos: it speaks, on
// loopback, the Vachana realtime speech-to-text v3 protocol (the default),
// Sarvam AI's streaming speech-to-text protocol, or aiOla's streaming
// speech-to-text protocol (Socket.IO v4) with its token endpoints, chosen by
// [Options.Service]. It recognises no words. An energy VAD cuts the received
// audio into speech segments, and the transcript text only states each
// segment's length.
//
// A Vachana [Server] checks the handshake like the real service (API key,
// lang_code, x-sample-rate), sends connected, then processing and transcript
// for every segment that ends in enough silence. A Sarvam Server checks the
// key (Api-Subscription-Key header or api-subscription-key.<key> subprotocol,
// which it echoes) and the query parameters, sends no greeting, reads JSON
// audio, flush and config messages, and answers with events (with
// vad_signals=true) and data messages; it closes a session that sends no
// audio for [Options.IdleTimeout].
//
// An aiOla Server serves, on its one HTTP server, the token endpoints
// ([AiolaTokenPath]: API key → token; [AiolaSessionPath]: token → an auth
// session and its JWT, DELETE to end it; at most [Options.MaxSessions]
// live, each for [Options.TokenTTL]; [Server.LiveSessions] counts them) and
// Socket.IO at [AiolaPath]: Engine.IO 4 on the WebSocket transport only
// (polling is refused with 400), the JWT checked at the upgrade, namespace
// [AiolaNamespace]. It sends the OPEN packet and pings
// ([Options.PingInterval], dropping a client that does not pong within
// [Options.PingTimeout]), reads binary_data events (their binary attachment
// is s16le audio at 16 kHz) and set_keywords, and answers each segment with
// one transcript event, {"transcript":…}; aiOla sends no segment start or
// end markers.
//
// Every Server records what the client did in a [Report]: the sizes of its
// audio messages (frames, or aiOla's chunks), their arrival cadence against
// the audio they carry, segments, close status, and what the service's
// protocol adds. [Faults] inject rejections, dropped connections, error messages and
// stalls.
//
// Use [Start] for a listening server, or [New] as an [http.Handler], for
// example inside [net/http/httptest.NewServer]; its WebSocket URL is then
// "ws" + strings.TrimPrefix(ts.URL, "http") + [Path] (or [SarvamPath]), and
// an aiOla client's API and auth base is ts.URL itself.
// [Server.Close] ends every session and waits for every goroutine the server
// started; call it even when the handler runs inside another server, which
// does not track upgraded connections.
package refserver

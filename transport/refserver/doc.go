// Package refserver is a reference server for tests and demos: it speaks, on
// loopback, either the Vachana realtime speech-to-text v3 protocol (the
// default) or Sarvam AI's streaming speech-to-text protocol, chosen by
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
// audio for [Options.IdleTimeout]. Both record what the client did in a
// [Report]: frame sizes, arrival cadence, segments, close status. [Faults]
// inject rejections, dropped connections, error messages and stalls.
//
// Use [Start] for a listening server, or [New] as an [http.Handler], for
// example inside [net/http/httptest.NewServer]; its WebSocket URL is then
// "ws" + strings.TrimPrefix(ts.URL, "http") + [Path] (or [SarvamPath]).
// [Server.Close] ends every session and waits for every goroutine the server
// started; call it even when the handler runs inside another server, which
// does not track upgraded connections.
package refserver

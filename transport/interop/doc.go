// Package interop checks vachana-pipe against the speech services' official
// client SDKs and the reference implementations of the protocols they use,
// so that our protocol code never only agrees with itself. It
// holds tests only.
//
// The tests run the vendor's SDK (or the official library it is built on) in a Node.js process, through the scripts
// in node/ (whose package.json and package-lock.json pin the SDK exactly),
// against servers started by the test:
//
//   - TestSarvamSDKCapture records exactly what the Sarvam JS SDK (sarvamai)
//     sends: path, query, headers, subprotocols and message texts. It compares
//     them with transport/sarvam/testdata/sdk-capture.json, which the Go
//     client dialect's tests read as the reference for what it must send;
//     run it with -update to rewrite that file.
//   - TestSarvamSDKAgainstRefserver runs the SDK against the reference
//     server's Sarvam mode ([github.com/vachana-pipe/vachana-pipe/transport/refserver])
//     and checks that each side understood the other.
//   - TestSocketIOAgainstOfficialServer and
//     TestSocketIOOfficialServerRefusesAndDisconnects run our Socket.IO v4
//     client ([github.com/vachana-pipe/vachana-pipe/transport/socketio], for
//     aiOla) against a server built on the official socket.io package:
//     binary events intact, pings answered, events both ways, a refused
//     namespace, a disconnect by the server.
//   - TestAiolaDialerAgainstOfficialServer and
//     TestAiolaDialerOfficialServerRefusals run the aiOla dialect
//     ([github.com/vachana-pipe/vachana-pipe/transport/aiola]) against
//     node/aiola-server.js: aiOla's token endpoints and a Socket.IO server
//     built on the official socket.io package, laid out as aiOla's service.
//     The audio must arrive intact (SHA-256), keywords as the JS SDK sends
//     them, transcripts back, a clean namespace disconnect, the auth session
//     deleted; a refused key and the concurrency limit give their errors.
//   - TestAiolaClientAgainstRefserver runs the official socket.io-client,
//     configured as the aiOla JS SDK configures it (but WebSocket only: the
//     reference server does not serve long polling), through the token flow
//     against the reference server's aiOla mode, and checks both sides.
//
// The official aiOla SDK (@aiola/sdk) cannot be installed here (its
// package is not served), so its code is not run; its sources were read.
//
// The tests need Node.js 18 or later and the pinned packages:
//
//	npm ci --prefix transport/interop/node
//
// Without them they skip, unless VACHANA_INTEROP_REQUIRED=1 (as CI sets),
// when they fail. Everything runs on loopback; no test reaches a vendor.
package interop

package socketio_test

import (
	"fmt"

	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
)

// The codec on its own: the packet socket.io-client sends for
// emit("binary_data", buffer) in namespace /events, read back.
func ExampleParsePacket() {
	msg := socketio.AppendPacket([]byte{socketio.EngineMessage}, socketio.Packet{
		Type:        socketio.PacketBinaryEvent,
		Attachments: 1,
		Namespace:   "/events",
		Data:        []byte(`["binary_data",{"_placeholder":true,"num":0}]`),
	})
	fmt.Printf("%s\n", msg)

	p, err := socketio.ParsePacket(msg[1:]) // after the Engine.IO type byte
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s in %s, %d attachment(s): %s\n", p.Type, p.Namespace, p.Attachments, p.Data)
	// Output:
	// 451-/events,["binary_data",{"_placeholder":true,"num":0}]
	// BINARY_EVENT in /events, 1 attachment(s): ["binary_data",{"_placeholder":true,"num":0}]
}

package socketio

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParsePacket(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Packet
	}{
		{"connect default", "0", Packet{Type: PacketConnect, Namespace: "/"}},
		{"connect with auth", `0/events,{"token":"t"}`, Packet{Type: PacketConnect, Namespace: "/events", Data: []byte(`{"token":"t"}`)}},
		{"connect answer", `0/events,{"sid":"x"}`, Packet{Type: PacketConnect, Namespace: "/events", Data: []byte(`{"sid":"x"}`)}},
		{"disconnect", "1/events,", Packet{Type: PacketDisconnect, Namespace: "/events"}},
		{"disconnect without comma", "1/events", Packet{Type: PacketDisconnect, Namespace: "/events"}},
		{"event", `2/events,["transcript",{"transcript":"hi"}]`, Packet{Type: PacketEvent, Namespace: "/events", Data: []byte(`["transcript",{"transcript":"hi"}]`)}},
		{"event default namespace with id", `212["a"]`, Packet{Type: PacketEvent, Namespace: "/", ID: 12, HasID: true, Data: []byte(`["a"]`)}},
		{"event numeric first", `2[1,2]`, Packet{Type: PacketEvent, Namespace: "/", Data: []byte(`[1,2]`)}},
		{"ack", `3/events,7[]`, Packet{Type: PacketAck, Namespace: "/events", ID: 7, HasID: true, Data: []byte(`[]`)}},
		{"connect error object", `4/events,{"message":"no"}`, Packet{Type: PacketConnectError, Namespace: "/events", Data: []byte(`{"message":"no"}`)}},
		{"connect error string", `4"no"`, Packet{Type: PacketConnectError, Namespace: "/", Data: []byte(`"no"`)}},
		{"binary event", `51-/events,["binary_data",{"_placeholder":true,"num":0}]`, Packet{Type: PacketBinaryEvent, Attachments: 1, Namespace: "/events", Data: []byte(`["binary_data",{"_placeholder":true,"num":0}]`)}},
		{"binary event 2, default namespace", `52-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, Packet{Type: PacketBinaryEvent, Attachments: 2, Namespace: "/", Data: []byte(`["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)}},
		{"binary ack", `61-/events,3[{"_placeholder":true,"num":0}]`, Packet{Type: PacketBinaryAck, Attachments: 1, Namespace: "/events", ID: 3, HasID: true, Data: []byte(`[{"_placeholder":true,"num":0}]`)}},
		{"binary event MaxAttachments", `510-["x"]`, Packet{Type: PacketBinaryEvent, Attachments: 10, Namespace: "/", Data: []byte(`["x"]`)}},
		{"attachment count with leading zeros", `500000000001-["x"]`, Packet{Type: PacketBinaryEvent, Attachments: 1, Namespace: "/", Data: []byte(`["x"]`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePacket([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParsePacket(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParsePacket(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParsePacketRejects(t *testing.T) {
	for _, in := range []string{
		"", "7", "x", "a[]",
		`2/events,not json`, `2/events,{"a":1}`, `2/events,"s"`, `2/events,`, `2`, `2[]`, `2[{}]`,
		`2["disconnect"]`, `2["connect",1]`, // reserved names
		`1/events,{}`,          // DISCONNECT carries nothing
		`0/events,[1]`, `0"s"`, // CONNECT takes an object
		`4/events,[1]`, `4/events,`, // CONNECT_ERROR: object or string
		`3/events,{}`,                   // ACK: array
		`5["a"]`, `5-["a"]`, `5x-["a"]`, // no attachment count
		`51["a"]`, `51`, `599999-["a"]`, `55555-["a"]`,
		`511-["a"]`, `611-[]`, // beyond MaxAttachments (10)
		`50-["a"]`, `500-["a"]`, `60-[]`, // socket.io-parser takes 1 attachment at least
		`599999999999999999999999-["a"]`, // does not overflow into a small count
		`299999999999999999999["a"]`,     // id beyond a JavaScript number
	} {
		if p, err := ParsePacket([]byte(in)); err == nil {
			t.Errorf("ParsePacket(%q) = %+v, want an error", in, p)
		} else if !errors.Is(err, errBadPacket) {
			t.Errorf("ParsePacket(%q): error %v does not wrap errBadPacket", in, err)
		}
	}
}

func TestAppendPacket(t *testing.T) {
	tests := []struct {
		p    Packet
		want string
	}{
		{Packet{Type: PacketConnect, Namespace: "/events"}, "0/events,"},
		{Packet{Type: PacketConnect}, "0"},
		{Packet{Type: PacketConnect, Namespace: "/", Data: []byte(`{"t":1}`)}, `0{"t":1}`},
		{Packet{Type: PacketDisconnect, Namespace: "/events"}, "1/events,"},
		{Packet{Type: PacketBinaryEvent, Attachments: 1, Namespace: "/events", Data: []byte(`["binary_data",{"_placeholder":true,"num":0}]`)}, `51-/events,["binary_data",{"_placeholder":true,"num":0}]`},
		{Packet{Type: PacketAck, Namespace: "/events", ID: 0, HasID: true, Data: []byte(`[]`)}, `3/events,0[]`},
		{Packet{Type: PacketBinaryAck, Attachments: 12, ID: 9, HasID: true, Data: []byte(`[]`)}, `612-9[]`},
	}
	for _, tt := range tests {
		if got := string(AppendPacket(nil, tt.p)); got != tt.want {
			t.Errorf("AppendPacket(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
	buf := make([]byte, 0, 64)
	p := Packet{Type: PacketDisconnect, Namespace: "/events"}
	if n := testing.AllocsPerRun(100, func() { buf = AppendPacket(buf[:0], p) }); n != 0 {
		t.Errorf("AppendPacket allocates %v times with room in dst", n)
	}
}

func TestSplitEvent(t *testing.T) {
	tests := []struct {
		in, name, args string
		ok             bool
	}{
		{`["a"]`, "a", "[]", true},
		{` [ "a" , 1 , {"b":[2]} ] `, "a", `[ 1 , {"b":[2]} ] `, true},
		{`["q\"uo\\te\u00e9",null]`, "q\"uo\\teé", "[null]", true},
		{`["transcript",{"transcript":"got 4096 bytes"}]`, "transcript", `[{"transcript":"got 4096 bytes"}]`, true},
		{`[1,2]`, "", "", false},
		{`[]`, "", "", false},
		{`{"a":1}`, "", "", false},
	}
	for _, tt := range tests {
		name, rest, err := splitEvent([]byte(tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("splitEvent(%s): error %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		if got := string(eventArgs(rest)); tt.ok && (name != tt.name || got != tt.args) {
			t.Errorf("splitEvent(%s) = %q, %s; want %q, %s", tt.in, name, got, tt.name, tt.args)
		}
	}
}

func TestParseHandshake(t *testing.T) {
	h, err := ParseHandshake([]byte(`{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Handshake{SID: "abc", Upgrades: []string{}, PingInterval: 25000, PingTimeout: 20000, MaxPayload: 1000000}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got %+v, want %+v", h, want)
	}
	if got := h.Silence(); got != 45*time.Second {
		t.Errorf("Silence() = %v, want 45s", got)
	}
	if h, err := ParseHandshake([]byte(`{"sid":"a","pingInterval":86400000,"pingTimeout":86400000}`)); err != nil || h.Silence() != 48*time.Hour {
		t.Errorf("24 h pings: %v, Silence %v", err, h.Silence())
	}
	for _, tt := range []struct{ in, field string }{
		{``, ""}, {`[]`, ""}, {`{"sid":"a"}`, "pingInterval"}, {`{"sid":"","pingInterval":1,"pingTimeout":1}`, "sid"},
		{`{"sid":"a","pingInterval":-1,"pingTimeout":1}`, "pingInterval"},
		{`{"sid":"a","pingInterval":1,"pingTimeout":-5}`, "pingTimeout"},
		{`{"sid":"a","pingInterval":86400001,"pingTimeout":1}`, "pingInterval"},
		{`{"sid":"a","pingInterval":1,"pingTimeout":86400001}`, "pingTimeout"},
		{`{"sid":"a","pingInterval":9223372036854775807,"pingTimeout":9223372036854775807}`, "pingInterval"},
		{`{"sid":"a","pingInterval":25000,"pingTimeout":9000000000000000}`, "pingTimeout"},
		{`{"sid":"a","pingInterval":1,"pingTimeout":1,"maxPayload":-1}`, "maxPayload"},
	} {
		if _, err := ParseHandshake([]byte(tt.in)); err == nil {
			t.Errorf("ParseHandshake(%q) accepted", tt.in)
		} else if !strings.Contains(err.Error(), tt.field) {
			t.Errorf("ParseHandshake(%q): %v, want it to name %s", tt.in, err, tt.field)
		}
	}
}

// FuzzParsePacket checks that no input makes the parser panic, and that
// what it accepts is written back by AppendPacket to a packet that parses
// the same.
func FuzzParsePacket(f *testing.F) {
	for _, s := range []string{
		"0", `0/events,{"sid":"x"}`, "1/events,", "1/events", `2/events,["transcript",{"transcript":"hi"}]`,
		`212["a"]`, `2[1,2]`, `3/events,7[]`, `4/events,{"message":"no"}`, `4"no"`,
		`451-/events,["binary_data",{"_placeholder":true,"num":0}]`, `61-/events,3[{"_placeholder":true,"num":0}]`,
		"", "7", `2/events,not json`, `5-["a"]`, `599999-["a"]`, `299999999999999999999["a"]`, `2["\"`, "2[\"\xff\"]",
		`2/events,[ "a" ,1]`, `2/a/b,["x"]`, `0/`, `52-/,["x"]`, `510-["x"]`, `511-["x"]`, `50-["x"]`, `5009-["x"]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePacket(b)
		if err != nil {
			if !errors.Is(err, errBadPacket) {
				t.Fatalf("error %v does not wrap errBadPacket", err)
			}
			return
		}
		if p.Type.Binary() != (p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck) || p.Attachments > MaxAttachments ||
			p.Type.Binary() != (p.Attachments >= 1) {
			t.Fatalf("accepted %+v", p)
		}
		out := AppendPacket(nil, p)
		q, err := ParsePacket(out)
		if err != nil {
			t.Fatalf("%q parsed as %+v, written back as %q, which does not parse: %v", b, p, out, err)
		}
		if fmt.Sprintf("%+v", p) != fmt.Sprintf("%+v", q) {
			t.Fatalf("%q parsed as %+v, written back as %q, parsed as %+v", b, p, out, q)
		}
		if p.Type == PacketEvent || p.Type == PacketBinaryEvent {
			splitEvent(p.Data) // must not panic
		}
	})
}

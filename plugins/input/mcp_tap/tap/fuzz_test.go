package tap

import (
	"bytes"
	"testing"
)

// FuzzFramingAndCorrelation feeds arbitrary bytes, split at an arbitrary
// point, through the line framer, the SSE parser and the correlator: nothing
// may panic, and the framer must hand on exactly the non-blank lines.
func FuzzFramingAndCorrelation(f *testing.F) {
	f.Add([]byte("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"isError\":true}}\n"), uint16(7))
	f.Add([]byte("[{\"id\":1,\"method\":\"a\"},2,null]\nnot json\n\n{\"id\":null,\"error\":{}}\r\n"), uint16(3))
	f.Add([]byte("event: message\ndata: {\"id\":\"s\",\"result\":{}}\n\nid: 7\ndata:\n\n"), uint16(11))
	f.Add([]byte("{\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":{}}}\n"), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		tp := New(Config{MaxMessage: 256, Inventory: OpenInventory("")})
		s := tp.NewSession(SessionInfo{})
		var lines [][]byte
		fr := &LineFramer{Max: 256,
			OnLine: func(l []byte) {
				lines = append(lines, append([]byte(nil), l...))
				s.Message(ClientToServer, l)
				s.Message(ServerToClient, l)
			},
			OnOversize: func(p []byte, n int) { s.Oversize(ServerToClient, p, n) },
		}
		sp := &SSEParser{Max: 256, OnEvent: func(e SSEEvent) { s.Message(ServerToClient, e.Data) },
			OnOversize: func(p []byte, n int) { s.Oversize(ServerToClient, p, n) }}
		k := int(split) % (len(data) + 1)
		fr.Write(data[:k])
		fr.Write(data[k:])
		fr.Flush()
		sp.Write(data[:k])
		sp.Write(data[k:])
		sp.Flush()
		s.Close(true, "fuzz", nil)

		var want [][]byte
		for _, l := range bytes.Split(data, []byte{'\n'}) {
			l = bytes.TrimSuffix(l, []byte{'\r'})
			if len(bytes.TrimSpace(l)) > 0 && len(l) <= 256 {
				want = append(want, l)
			}
		}
		if len(want) != len(lines) {
			t.Fatalf("framer gave %d lines, want %d", len(lines), len(want))
		}
		for i := range want {
			if !bytes.Equal(want[i], lines[i]) {
				t.Fatalf("line %d: %q, want %q", i, lines[i], want[i])
			}
		}
	})
}

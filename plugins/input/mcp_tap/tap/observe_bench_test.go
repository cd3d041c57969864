package tap

import (
	"fmt"
	"testing"
)

// BenchmarkObserveToolCall is the observation cost of one tools/call round
// trip as the CRM example server answers it (request, then response).
func BenchmarkObserveToolCall(b *testing.B) {
	tp := New(Config{Transport: "pipe", Server: "crm", Emit: func([]byte) {}})
	s := tp.NewSession(SessionInfo{})
	send(s, ClientToServer, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`)
	send(s, ServerToClient, `{"jsonrpc":"2.0","id":0,"result":{"capabilities":{"tools":{"listChanged":true}},"protocolVersion":"2025-11-25","serverInfo":{"name":"crm-demo","version":"1.2.0"}}}`)
	resp := []byte(`{"jsonrpc":"2.0","id":%d,"result":{"content":[{"type":"text","text":"{\"id\":\"C-1001\",\"name\":\"Ada Lovelace\",\"email\":\"ada.lovelace@example.com\",\"phone\":\"+44 20 7946 0958\",\"tier\":\"gold\"}"}],"structuredContent":{"id":"C-1001","name":"Ada Lovelace","email":"ada.lovelace@example.com","phone":"+44 20 7946 0958","tier":"gold"}}}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.Message(ClientToServer, fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"lookup_customer","arguments":{"customer_id":"C-1001"}}}`, i+1))
		s.Message(ServerToClient, fmt.Appendf(nil, string(resp), i+1))
	}
}

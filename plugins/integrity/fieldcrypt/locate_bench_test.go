package fieldcrypt

import (
	"testing"
)

// A ~600-byte mcp_tool_execution event with its two encrypted fields near
// the middle and the end, as the integrity benchmark uses.
const benchBody = `{"event_id":"01JBENCH000000000000000042","timestamp":"2026-11-23T10:00:00.123456Z","event_type":"mcp_tool_execution","severity":"info","user_id":"user-42","session_id":"3f2a9c1e-5b7d-4e2f-9a1c-7d3e5f9b2a4c","client_id":"claude-desktop","agent_id":"agent-7","source_ip":"10.1.2.3","server":"filesystem","mcp_endpoint":"stdio","tool_name":"read_file","arguments":{"path":"/home/alice/projects/report-q3.md","password":"correct horse battery staple"},"result":"# Q3 report\nRevenue grew 12% quarter over quarter; churn fell to 2.1%. See appendix for cohort tables.","duration_ms":42,"success":true,"classification":"internal","compliance":["sox"],"retention_days":365}`

func BenchmarkLocate(b *testing.B) {
	f, _ := CompileFields([]string{"arguments.password", "result"})
	body := []byte(benchBody)
	b.SetBytes(int64(len(body)))
	var spans []span
	for b.Loop() {
		spans, _ = locate(body, f.trie, spans[:0])
	}
	if len(spans) != 2 {
		b.Fatal(spans)
	}
}

// BenchmarkLookupPerField is how the fields were found before: a lookup
// per field.
func BenchmarkLookupPerField(b *testing.B) {
	body := []byte(benchBody)
	b.SetBytes(int64(len(body)))
	var spans []span
	for b.Loop() {
		spans = lookupSpan(lookupSpan(spans[:0], body, []string{"arguments", "password"}), body, []string{"result"})
	}
}

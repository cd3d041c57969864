package piitokenizer

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
)

// A realistic 500-byte tool-call event without PII.
const cleanEvent = `{"event_id":"01JD3X7Q8M0000000000000000","timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution",` +
	`"session_id":"s-4f2a","server":"files","tool_name":"search_docs","arguments":{"query":"quarterly revenue by region",` +
	`"path":"/srv/reports/2026","limit":20,"version":"2.14.1"},"result":{"content":[{"type":"text","text":"Found 3 documents:` +
	` q3-summary.md (updated 2026-10-02), regions.csv (rev 7f3a9c2), forecast.xlsx; request 550e8400-e29b-41d4-a716-446655440000 ` +
	`took 182 ms"}],"isError":false},"duration_ms":182}`

// About the same size, with an email, a card, a phone number and a bearer token.
const piiEvent = `{"event_id":"01JD3X7Q8M0000000000000001","timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution",` +
	`"session_id":"s-4f2a","server":"crm","tool_name":"update_customer","arguments":{"email":"jane.doe@example.com",` +
	`"note":"Card 4242 4242 4242 4242 on file, call +1 415-555-2671","auth":"Bearer abcDEF123456ghiJKL"},"result":{"content":` +
	`[{"type":"text","text":"Customer 8812 updated at 2026-11-23 10:00; request 550e8400-e29b-41d4-a716-446655440000 took 41 ms"}],` +
	`"isError":false},"duration_ms":41}`

func benchEvents(b *testing.B, body string) {
	tk := newTestTokenizer(b, nil)
	const batchSize = 256
	batch := &sdk.Batch{Records: make([]*sdk.Record, batchSize)}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batchSize {
		for j := range batch.Records {
			batch.Records[j] = &sdk.Record{Body: []byte(body)}
		}
		if _, err := tk.Process(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkProcessClean500B(b *testing.B) { benchEvents(b, cleanEvent) }
func BenchmarkProcessPII500B(b *testing.B)   { benchEvents(b, piiEvent) }

// BenchmarkLinearInSize shows per-event work growing with the event's size,
// not faster: ns/op divided by the size stays flat.
func BenchmarkLinearInSize(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		text := strings.Repeat("order 550e8400-e29b-41d4 shipped to jane@example.com at 2026-11-23; ", n)
		body := fmt.Sprintf(`{"event_type":"mcp_tool_execution","result":%q}`, text)
		b.Run(fmt.Sprintf("%dB", len(body)), func(b *testing.B) { benchEvents(b, body) })
	}
}

// chainEvent is the event examples/bench drives through the audit chain: one
// email in free text, a path and a short result.
const chainEvent = `{"event_id":"01JD3X7Q8M0000000000000002","timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution",` +
	`"severity":"info","session_id":"6f1c2a7e-5b8d-4c3e-9a1f-2d4b6c8e0a13","client_id":"claude-desktop","user_id":"u-7",` +
	`"server":"filesystem","tool_name":"read_file","arguments":{"path":"/srv/projects/atlas/reports/2026/q3-summary.md",` +
	`"contact":"ops-17@example.com"},"result":"Quarterly revenue grew eleven percent; churn fell to 2.1 percent.",` +
	`"duration_ms":12,"success":true}`

func BenchmarkProcessChainEvent(b *testing.B) { benchEvents(b, chainEvent) }

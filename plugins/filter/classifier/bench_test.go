package classifier

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
)

func BenchmarkClassify500B(b *testing.B) {
	body := `{"event_id":"01JD3X7Q8M0000000000000001","timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution",` +
		`"severity":"info","session_id":"s-4f2a","user_id":"u-7","server":"crm","tool_name":"update_customer","arguments":` +
		`{"email":"tok_email_k7q2m4zpx3a9bd2e","note":"Card tok_credit_card_ogxgzwvojhlgl6je on file"},"result":{"content":` +
		`[{"type":"text","text":"Customer 8812 updated; request 550e8400-e29b-41d4-a716-446655440000 took 41 ms"}],"isError":false},` +
		`"duration_ms":41,"success":true,"pii":{"email":1,"credit_card":1}}`
	c := &Classifier{}
	if err := c.Configure(context.Background(), sdk.Config{Raw: json.RawMessage(`{"frameworks":["sox","gdpr","pci_dss"]}`)}); err != nil {
		b.Fatal(err)
	}
	batch := &sdk.Batch{Records: make([]*sdk.Record, 256)}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i += len(batch.Records) {
		for j := range batch.Records {
			batch.Records[j] = &sdk.Record{Body: []byte(body)}
		}
		if _, err := c.Process(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkClassifyChainEvent is the event examples/bench drives through the
// audit chain, as pii_tokenizer hands it on, with the chain's configuration.
func BenchmarkClassifyChainEvent(b *testing.B) {
	body := `{"event_id":"01JD3X7Q8M0000000000000002","timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution",` +
		`"severity":"info","session_id":"6f1c2a7e-5b8d-4c3e-9a1f-2d4b6c8e0a13","client_id":"claude-desktop","user_id":"u-7",` +
		`"server":"filesystem","tool_name":"read_file","arguments":{"path":"/srv/projects/atlas/reports/2026/q3-summary.md",` +
		`"contact":"tok_email_k7q2m4zpx3a9bd2e"},"result":"Quarterly revenue grew eleven percent; churn fell to 2.1 percent.",` +
		`"duration_ms":12,"success":true,"pii":{"email":1}}`
	c := &Classifier{}
	if err := c.Configure(context.Background(), sdk.Config{Raw: json.RawMessage(`{"audit_level":"enterprise","frameworks":["sox","gdpr"]}`)}); err != nil {
		b.Fatal(err)
	}
	batch := &sdk.Batch{Records: make([]*sdk.Record, 100)}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i += len(batch.Records) {
		for j := range batch.Records {
			batch.Records[j] = &sdk.Record{Body: []byte(body), Attributes: map[string]string{"pii.email": "1"}}
		}
		if _, err := c.Process(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassifyLargeResult is a tool execution whose 256 KiB result is
// kept whole (max_result_chars = 0): the rewrite of a body too large to be
// built in the reused buffer.
func BenchmarkClassifyLargeResult(b *testing.B) {
	body := `{"event_id":"01JD3X7Q8M0000000000000003","timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution",` +
		`"severity":"info","session_id":"s-4f2a","user_id":"u-7","server":"files","tool_name":"read_file","result":"` +
		strings.Repeat("lorem ipsum dolor sit amet, ", 256<<10/28) + `","duration_ms":12,"success":true}`
	c := &Classifier{}
	if err := c.Configure(context.Background(), sdk.Config{Raw: json.RawMessage(`{"audit_level":"enterprise","frameworks":["sox"],"max_result_chars":0}`)}); err != nil {
		b.Fatal(err)
	}
	batch := &sdk.Batch{Records: make([]*sdk.Record, 1)}
	in := []byte(body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		batch.Records[0] = &sdk.Record{Body: in}
		if _, err := c.Process(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
}

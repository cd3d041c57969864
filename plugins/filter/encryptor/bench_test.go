package encryptor

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/sdk"
)

// chainEvent is the event as it reaches the encryptor in the audit chain
// that examples/bench drives: tokenized by pii_tokenizer, labelled by the
// classifier.
const chainEvent = `{"event_id":"01M83XJ88037RC66M80A6DX48Q","timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution",` +
	`"severity":"info","session_id":"6f1c2a7e-5b8d-4c3e-9a1f-2d4b6c8e0a13","client_id":"claude-desktop","user_id":"u-1",` +
	`"server":"filesystem","tool_name":"read_file","arguments":{"path":"/srv/projects/atlas/reports/2026/q3-summary.md",` +
	`"contact":"tok_email_24d3ewbfatrnd2ub"},"result":"Quarterly revenue grew eleven percent; churn fell to 2.1 percent.",` +
	`"duration_ms":12,"success":true,"pii":{"email":1},"classification":"CONFIDENTIAL","compliance":["sox","gdpr"],` +
	`"retention_days":2555,"index":"mcp-tools"}`

// chainEncryptor is the encryptor as the chain configures it: a fresh key
// directory (returned too) and fields = ["arguments.path"].
func chainEncryptor(tb testing.TB) (*Encryptor, string) {
	tb.Helper()
	keys := filepath.Join(tb.TempDir(), "keys")
	if _, err := integrity.Keygen(keys, ""); err != nil {
		tb.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"keys": keys, "fields": []string{"arguments.path"}})
	e := &Encryptor{}
	if err := e.Configure(context.Background(), sdk.Config{Raw: raw}); err != nil {
		tb.Fatal(err)
	}
	return e, keys
}

// BenchmarkProcessChainEvent is the encryptor as the chain runs it (a key
// directory, fields = ["arguments.path"]), on batches of 256 events; one op
// is one event.
func BenchmarkProcessChainEvent(b *testing.B) {
	e, _ := chainEncryptor(b)
	proto, err := sdk.NewRecord([]byte(chainEvent))
	if err != nil {
		b.Fatal(err)
	}
	const batchSize = 256
	records := make([]sdk.Record, batchSize)
	batch := &sdk.Batch{Records: make([]*sdk.Record, batchSize)}
	b.SetBytes(int64(len(chainEvent)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batchSize {
		n := min(batchSize, b.N-i) // b.N events in all, so that an op is one event
		batch.Records = batch.Records[:n]
		for j := range batch.Records {
			records[j] = *proto // Process replaces each body; the event itself is never written to
			batch.Records[j] = &records[j]
		}
		out, err := e.Process(context.Background(), batch)
		if err != nil || out.Len() != n {
			b.Fatalf("%d of %d out, err %v", out.Len(), n, err)
		}
		if body := string(out.Records[0].Body); strings.Contains(body, "q3-summary") {
			b.Fatalf("not encrypted: %s", body)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

package splunk_hec

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// BenchmarkProcess measures events/s through Process against the local HEC
// (which gunzips and parses every event) and bytes per event on the wire.
func BenchmarkProcess(b *testing.B) {
	hec := newFakeHEC(token)
	srv := httptest.NewServer(hec)
	defer srv.Close()
	o := newOutput(b, srv.URL, nil)
	batch := benchBatch(500)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := o.Process(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		hec.mu.Lock()
		hec.events, hec.bodies, hec.headers = hec.events[:0], hec.bodies[:0], hec.headers[:0]
		hec.mu.Unlock()
	}
	events := float64(b.N * len(batch.Records))
	b.ReportMetric(events/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(o.stats.BytesWire.Load())/events, "wire_B/event")
	b.ReportMetric(float64(o.stats.BytesRaw.Load())/events, "raw_B/event")
}

func benchBatch(n int) *sdk.Batch {
	b := &sdk.Batch{}
	for i := range n {
		r, err := sdk.NewRecord([]byte(fmt.Sprintf(`{"event_id":"01JDBENCH%08d","timestamp":"2026-11-23T10:00:%02d.%03dZ",`+
			`"event_type":"mcp_tool_execution","severity":"info","user_id":"user-%d","session_id":"sess-%d","server":"filesystem",`+
			`"tool_name":"fs.read","arguments":{"path":"/srv/data/report-%d.csv"},"result":"read 4096 bytes","duration_ms":%d,`+
			`"success":true,"classification":"INTERNAL","compliance":{"frameworks":["soc2"]},"retention_days":365}`,
			i, i%60, i%1000, i%50, i%20, i, i%300)))
		if err != nil {
			panic(err)
		}
		b.Records = append(b.Records, r)
	}
	return b
}

// Package outputtest holds what the output plugins' tests and benchmarks share.
package outputtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Batch returns n realistic tool-execution events of about 500 bytes.
func Batch(n int) *sdk.Batch {
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

// Bench delivers a 500-event batch b.N times through process, calling
// between(i) before each round (to let the receiver forget what it stored),
// and reports events/s and bytes per event before and after compression.
func Bench(b *testing.B, process func(context.Context, *sdk.Batch) (*sdk.Batch, error), stats *httpout.Stats, between func(round int, batch *sdk.Batch)) {
	batch := Batch(500)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if between != nil {
			between(i, batch)
		}
		if _, err := process(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	events := float64(b.N * len(batch.Records))
	b.ReportMetric(events/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(stats.BytesWire.Load())/events, "wire_B/event")
	b.ReportMetric(float64(stats.BytesRaw.Load())/events, "raw_B/event")
}

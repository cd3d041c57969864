package otlp

import (
	"context"
	"fmt"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
)

// BenchmarkProcess exports batches of 256 tool-call spans to the in-process
// receiver: mapping, span building, protobuf encoding, gzip and the gRPC call.
func BenchmarkProcess(b *testing.B) {
	r := startReceiver(b)
	o := &Output{}
	if err := o.Configure(context.Background(), sdk.Config{Raw: []byte(fmt.Sprintf(`{"endpoint":%q,"insecure":true,"metrics_interval":"1h"}`, r.addr))}); err != nil {
		b.Fatal(err)
	}
	defer o.Close(context.Background())
	recs := make([]*sdk.Record, 256)
	for i := range recs {
		rec, err := sdk.NewRecord([]byte(toolCall))
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = rec
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := o.Process(context.Background(), &sdk.Batch{Records: recs}); err != nil {
			b.Fatal(err)
		}
		r.mu.Lock()
		r.traces = r.traces[:0]
		r.mu.Unlock()
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "spans/s")
}

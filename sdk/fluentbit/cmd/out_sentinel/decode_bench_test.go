package main

import (
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"

	"github.com/sentinel-audit/sentinel/sdk/fluentbit/flbmsgpack"
)

// The stock fluent-bit-go decoder against Sentinel's, on the same chunk of
// 2048 audit events as Fluent Bit's tail + json parser would hand over.
func benchChunk(b *testing.B) []byte {
	var chunk []byte
	for i := 0; i < 2048; i++ {
		ev := fmt.Sprintf(`{"event_id":"e-%d","timestamp":"2025-06-01T12:00:00Z","event_type":"mcp_tool_execution","severity":"info","user_id":"u-%d","server":"crm","tool_name":"lookup_customer","arguments":{"customer_id":%d,"fields":["name","tier"]},"duration_ms":%d.5,"success":true}`, i, i%50, i, i%90)
		var err error
		if chunk, err = flbmsgpack.AppendEvent(chunk, time.Unix(1748779200, int64(i)), flbmsgpack.TimeEventTime, true, nil, []byte(ev)); err != nil {
			b.Fatal(err)
		}
	}
	return chunk
}

func BenchmarkDecodeStockFluentBitGo(b *testing.B) {
	chunk := benchChunk(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dec := output.NewDecoder(unsafe.Pointer(&chunk[0]), len(chunk))
		n := 0
		for {
			ret, _, rec := output.GetRecord(dec)
			if ret != 0 {
				break
			}
			_ = rec
			n++
		}
		if n != 2048 {
			b.Fatalf("decoded %d", n)
		}
	}
	b.ReportMetric(float64(2048*b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkDecodeSentinel(b *testing.B) {
	chunk := benchChunk(b)
	var d flbmsgpack.Decoder
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		if _, err := d.Decode(chunk, func(*flbmsgpack.Event) error { n++; return nil }); err != nil || n != 2048 {
			b.Fatal(err, n)
		}
	}
	b.ReportMetric(float64(2048*b.N)/b.Elapsed().Seconds(), "records/s")
}

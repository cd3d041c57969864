package jsonl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
)

// benchLine is a ~500-byte MCP tool-call event.
func benchLine(i int, withID bool) string {
	id := ""
	if withID {
		id = fmt.Sprintf(`"event_id":"01JA0000000000000000%06d",`, i)
	}
	line := fmt.Sprintf(`{%s"timestamp":"2026-03-01T12:00:%02d.%06dZ","event_type":"mcp_tool_execution","severity":"info",`+
		`"user_id":"user-%d","session_id":"sess-%d","client_id":"claude-desktop","agent_id":"agent-7","source_ip":"10.1.2.3",`+
		`"server":"github","mcp_endpoint":"tools/call","tool_name":"create_issue","arguments":{"repo":"acme/api","title":"Crash on start",`+
		`"labels":["bug","p1"]},"result":"created issue #%d","duration_ms":%d,"success":true,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","pad":"`,
		id, i%60, i%1000000, i%97, i%13, i, i%500)
	return line + strings.Repeat("x", max(0, 497-len(line))) + `"}`
}

func benchmarkProcess(b *testing.B, withID bool) {
	const lines = 50000
	path := filepath.Join(b.TempDir(), "bench.jsonl")
	var sb strings.Builder
	for i := range lines {
		sb.WriteString(benchLine(i, withID))
		sb.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	raw := cfgJSON(b, map[string]any{"paths": []string{path}})
	ctx := context.Background()
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	total := 0
	for range b.N {
		b.StopTimer()
		in := Definition.New().(*Input)
		if err := in.Configure(ctx, sdk.Config{Raw: []byte(raw)}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for {
			out, err := in.Process(ctx, &sdk.Batch{})
			if errors.Is(err, sdk.ErrEndOfInput) {
				break
			}
			if err != nil || len(out.Rejected) > 0 {
				b.Fatalf("process: %v %v", err, out.Rejected)
			}
			total += out.Len()
		}
		b.StopTimer()
		in.Close(ctx)
		b.StartTimer()
	}
	if total != lines*b.N {
		b.Fatalf("read %d records, want %d", total, lines*b.N)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkProcess measures Process alone on 500-byte lines, events with an event_id.
func BenchmarkProcess(b *testing.B) { benchmarkProcess(b, true) }

// BenchmarkProcessDerivedIDs is the same with ids derived from file and offset.
func BenchmarkProcessDerivedIDs(b *testing.B) { benchmarkProcess(b, false) }

// BenchmarkNewRecordCeiling is sdk.NewRecord alone over the same lines: the
// ceiling Process can approach, since every line must become a record.
func BenchmarkNewRecordCeiling(b *testing.B) {
	lines := make([][]byte, 1000)
	for i := range lines {
		lines[i] = []byte(benchLine(i, true))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := sdk.NewRecord(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

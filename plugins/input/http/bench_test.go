package http

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"syscall"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// benchEvents is one request of examples/bench's chain driver: 100 NDJSON
// events of ~560 bytes without event_id, so the input assigns every id.
func benchEvents(n int) []byte {
	var buf bytes.Buffer
	for i := range n {
		fmt.Fprintf(&buf, `{"timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution","severity":"info","session_id":"6f1c2a7e-5b8d-4c3e-9a1f-2d4b6c8e0a13","client_id":"claude-desktop","user_id":"u-%d","server":"filesystem","tool_name":"read_file","arguments":{"path":"/srv/projects/atlas/reports/2026/q3-summary.md","contact":"ops-%d@example.com"},"result":"Quarterly revenue grew eleven percent; churn fell to 2.1 percent.","duration_ms":12,"success":true}`+"\n", i%50, i)
	}
	return buf.Bytes()
}

// BenchmarkReceive drives the whole receive path as production runs it:
// keep-alive loopback connections POST 100-event batches to /v1/events:batch,
// the server reads, validates and queues them, a host loop takes the batches
// from Process and acknowledges them, and each request is answered 202. The
// clients write prepared request bytes so that their own cost stays small.
// cpu-ns/event is the process's user+system CPU per event, as the chain
// benchmark measures the plugin process.
func BenchmarkReceive(b *testing.B) {
	const events = 100
	in, url := start(b, nil)
	body := benchEvents(events)
	req := fmt.Appendf(nil, "POST /v1/events:batch HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n%s",
		url[len("http://"):], len(body), body)

	ctx, cancel := context.WithCancel(context.Background())
	hostDone := make(chan struct{})
	go func() { // the host: take every batch, acknowledge it at once
		defer close(hostDone)
		for ctx.Err() == nil {
			batch, err := in.Process(ctx, &sdk.Batch{})
			if err != nil {
				b.Error(err)
				return
			}
			if batch.Len() > 0 {
				in.Ack(ctx, []uint64{batch.Seq})
			}
		}
	}()
	defer func() { cancel(); <-hostDone }()

	b.SetParallelism(4) // clients per core: enough to keep requests merging into batches as under load
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("tcp", url[len("http://"):])
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		for pb.Next() {
			if _, err := conn.Write(req); err != nil {
				b.Error(err)
				return
			}
			resp, err := nethttp.ReadResponse(br, nil)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != nethttp.StatusAccepted {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	cpu := cpuTime() - cpu0
	n := float64(b.N * events)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/event")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/event")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

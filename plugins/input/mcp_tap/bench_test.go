package mcp_tap_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sentinel-audit/sentinel/examples/mcp/crm"
	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap"
	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/stdio"
)

const (
	benchInit   = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`
	benchInited = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	benchCall   = `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"lookup_customer","arguments":{"customer_id":"C-1001"}}}`
)

// latencies reports p50/p99 of per-call round trips and the call rate.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	var total time.Duration
	for _, d := range l {
		total += d
	}
	b.ReportMetric(float64(l[len(l)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(l[len(l)*99/100].Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(len(l))/total.Seconds(), "calls/s")
}

// rawStdio drives a line-oriented MCP session over a pair of pipes.
type rawStdio struct {
	w io.Writer
	r *bufio.Reader
}

func (c rawStdio) roundTrip(b *testing.B, line string) {
	if _, err := io.WriteString(c.w, line+"\n"); err != nil {
		b.Fatal(err)
	}
	for {
		l, err := c.r.ReadBytes('\n')
		if err != nil {
			b.Fatal(err)
		}
		if bytes.Contains(l, []byte(`"id"`)) { // skip notifications
			return
		}
	}
}

func (c rawStdio) run(b *testing.B) {
	c.roundTrip(b, benchInit)
	io.WriteString(c.w, benchInited+"\n")
	for i := range 200 { // warm up
		c.roundTrip(b, fmt.Sprintf(benchCall, i+1))
	}
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		c.roundTrip(b, fmt.Sprintf(benchCall, i+1000))
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	lat.report(b)
}

// BenchmarkStdioToolCall compares a tools/call round trip to the example
// go-sdk server launched directly and through the wrapper's byte path with
// events delivered to a live mcp_tap ingest, in the same run.
func BenchmarkStdioToolCall(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		cmd := exec.Command(serverBin)
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		rawStdio{in, bufio.NewReader(out)}.run(b)
		in.Close()
		cmd.Wait()
	})
	b.Run("wrap", func(b *testing.B) {
		defer stdio.TuneGC()() // as `sentinel wrap` does
		dir := shortDir(b)
		startHost(b, dir, map[string]any{})
		w := wrap(b, filepath.Join(dir, mcp_tap.IngestSocket), shortDir(b), nil, serverBin)
		rawStdio{w.clientW, bufio.NewReader(w.clientR)}.run(b)
		w.clientW.Close()
		w.wait(b)
		if n := w.sink.Spilled.Load(); n > 0 {
			b.Logf("%d events spilled to the spool", n)
		}
	})
}

// BenchmarkHTTPToolCall compares a tools/call POST to the go-sdk Streamable
// HTTP handler directly and through the mcp_tap reverse proxy.
func BenchmarkHTTPToolCall(b *testing.B) {
	up := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return crm.NewServer(".") },
		&mcp.StreamableHTTPOptions{JSONResponse: true}))
	defer up.Close()
	defer up.CloseClientConnections()
	run := func(b *testing.B, endpoint string) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		post := func(body, session string) (*http.Response, []byte) {
			req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if session != "" {
				req.Header.Set("Mcp-Session-Id", session)
				req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp, data
		}
		resp, _ := post(benchInit, "")
		sid := resp.Header.Get("Mcp-Session-Id")
		post(benchInited, sid)
		for i := range 200 {
			post(fmt.Sprintf(benchCall, i+1), sid)
		}
		lat := make(latencies, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			t0 := time.Now()
			if resp, data := post(fmt.Sprintf(benchCall, i+1000), sid); resp.StatusCode != 200 || !bytes.Contains(data, []byte("ada.lovelace")) {
				b.Fatalf("%d %s", resp.StatusCode, data)
			}
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		lat.report(b)
	}
	b.Run("direct", func(b *testing.B) { run(b, up.URL+"/mcp") })
	b.Run("proxy", func(b *testing.B) {
		h := startHost(b, shortDir(b), map[string]any{"listen": "127.0.0.1:0", "upstream": up.URL + "/mcp", "ingest": "off"})
		run(b, "http://"+h.status(b)["listen"].(string)+"/mcp")
	})
}

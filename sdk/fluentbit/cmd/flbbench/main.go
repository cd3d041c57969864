// Command flbbench measures records/s through dist/out_sentinel.so the way
// Fluent Bit drives it: the C harness flushes chunks encoded as Fluent Bit's
// tail input with the json parser produces them (EventTime, v2 layout) into
// the file backend. It measures the plugin alone; Fluent Bit's own tail and
// parse cost, and out_file for comparison, need Fluent Bit (see
// examples/fluentbit/bench.sh).
//
//	make fluentbit-bench            (or: go run ./sdk/fluentbit/cmd/flbbench -so ... -harness ...)
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/sentinel-audit/sentinel/sdk/fluentbit/flbmsgpack"
)

func main() {
	so := flag.String("so", os.Getenv("SENTINEL_FLB_SO"), "the plugin (dist/out_sentinel.so)")
	harness := flag.String("harness", os.Getenv("SENTINEL_FLB_HARNESS"), "the C harness (dist/flb_harness)")
	records := flag.Int("records", 300000, "records to flush in all")
	per := flag.Int("chunk", 2048, "records per chunk (Fluent Bit flushes chunks of up to ~2 MB)")
	flag.Parse()
	if *so == "" || *harness == "" {
		fmt.Fprintln(os.Stderr, "flbbench: set -so and -harness (make fluentbit-bench does)")
		os.Exit(2)
	}
	if err := run(*so, *harness, *records, *per); err != nil {
		fmt.Fprintln(os.Stderr, "flbbench:", err)
		os.Exit(1)
	}
}

// event is a typical MCP tool-call audit event (~450 bytes of JSON).
func event(i int) []byte {
	return []byte(fmt.Sprintf(`{"event_id":"01JBENCH%018d","timestamp":"2025-06-01T12:00:00.%06dZ","event_type":"mcp_tool_execution","severity":"info","user_id":"user-%d","session_id":"sess-%d","client_id":"claude-desktop","agent_id":"agent-7","source_ip":"10.1.2.%d","server":"crm","mcp_endpoint":"tools/call","tool_name":"lookup_customer","arguments":{"customer_id":%d,"fields":["name","tier"]},"result":"{\"name\":\"ACME\",\"tier\":\"gold\"}","duration_ms":%d.5,"success":true,"correlation_id":"c-%d","trace_id":"4bf92f3577b34da6a3ce929d0e0e%04d"}`,
		i, i%1000000, i%500, i/10, i%250, i, i%90, i, i%10000))
}

func run(so, harness string, records, per int) error {
	dir, err := os.MkdirTemp("", "flbbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var chunk []byte
	start := time.Unix(1748779200, 0)
	for i := 0; i < per; i++ {
		if chunk, err = flbmsgpack.AppendEvent(chunk, start.Add(time.Duration(i)*time.Millisecond), flbmsgpack.TimeEventTime, true, nil, event(i)); err != nil {
			return err
		}
	}
	chunkPath := filepath.Join(dir, "chunk.msgpack")
	if err := os.WriteFile(chunkPath, chunk, 0o600); err != nil {
		return err
	}
	repeat := (records + per - 1) / per
	fmt.Printf("chunk: %d records, %d bytes (%.0f bytes/record as JSON on disk ~%d); %d flushes\n",
		per, len(chunk), float64(len(chunk))/float64(per), len(event(0)), repeat)
	for _, format := range []string{"jsonl", "sealed"} {
		script := fmt.Sprintf("instance b\nset b backend file\nset b path %s\nset b format %s\nset b data_dir %s\ninit b\ntime b %s bench %d\nexit b\n",
			filepath.Join(dir, "store-"+format), format, filepath.Join(dir, "data"), chunkPath, repeat)
		scriptPath := filepath.Join(dir, "script-"+format)
		if err := os.WriteFile(scriptPath, []byte(script), 0o600); err != nil {
			return err
		}
		out, err := exec.Command(harness, so, scriptPath).Output()
		if err != nil {
			return fmt.Errorf("harness: %v\n%s", err, out)
		}
		secs, ok, err := timing(out)
		if err != nil {
			return err
		}
		if ok != repeat {
			return fmt.Errorf("%d of %d flushes returned FLB_OK", ok, repeat)
		}
		n := repeat * per
		fmt.Printf("file backend, format %-6s: %d records in %.2fs = %.0f records/s\n", format, n, secs, float64(n)/secs)
	}
	return nil
}

var timeLine = regexp.MustCompile(`^time \S+ ok=(\d+) seconds=([0-9.]+)$`)

func timing(out []byte) (secs float64, ok int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := timeLine.FindStringSubmatch(sc.Text()); m != nil {
			ok, _ = strconv.Atoi(m[1])
			secs, _ = strconv.ParseFloat(m[2], 64)
			return secs, ok, nil
		}
	}
	return 0, 0, fmt.Errorf("no timing in harness output:\n%s", out)
}

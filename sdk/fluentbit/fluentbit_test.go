package fluentbit_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/sdk/fluentbit"
	"github.com/sentinel-audit/sentinel/sdk/fluentbit/flbmsgpack"
)

func keys(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func open(t *testing.T, m map[string]string) *fluentbit.Output {
	t.Helper()
	o, err := fluentbit.Open(keys(m), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

// chunk builds a Fluent Bit chunk of n audit events, cycling through every
// timestamp encoding and both event layouts.
func chunk(t testing.TB, prefix string, n int) []byte {
	t.Helper()
	var b []byte
	forms := []flbmsgpack.TimeForm{flbmsgpack.TimeEventTime, flbmsgpack.TimeInt, flbmsgpack.TimeFloat}
	for i := 0; i < n; i++ {
		ev := fmt.Sprintf(`{"event_id":"%s-%d","event_type":"mcp_tool_execution","severity":"info","user_id":"alice","tool_name":"lookup","arguments":{"email":"alice@example.com","ids":[1,2,3],"deep":{"x":null}},"success":true}`, prefix, i)
		var err error
		b, err = flbmsgpack.AppendEvent(b, time.Unix(1748779200+int64(i), 250e6), forms[i%3], i%2 == 1, nil, []byte(ev))
		if err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func splunkKeys(hec *hecReceiver, dataDir string) map[string]string {
	return map[string]string{
		"backend": "splunk_hec", "endpoint": hec.URL, "token": hec.token, "data_dir": dataDir,
		"max_request_events": "50", "timeout": "5",
	}
}

func TestSplunkBackendDeliversEveryRecordFaithfully(t *testing.T) {
	hec := newHECReceiver(t)
	o := open(t, splunkKeys(hec, t.TempDir()))
	if code := o.Flush(chunk(t, "a", 6), "audit.mcp"); code != fluentbit.FLBOK {
		t.Fatalf("flush returned %d", code)
	}
	got := hec.received()
	if len(got) != 6 {
		t.Fatalf("received %d events, want 6", len(got))
	}
	ev := got["a-3"]["event"].(map[string]any)
	args := ev["arguments"].(map[string]any)
	if args["email"] != "alice@example.com" || len(args["ids"].([]any)) != 3 || ev["success"] != true {
		t.Errorf("event changed on the way: %v", ev)
	}
	// No timestamp in the event: Fluent Bit's becomes the event's.
	if ts, _ := ev["timestamp"].(string); ts != "2025-06-01T12:00:03.25Z" {
		t.Errorf("timestamp %q, want Fluent Bit's", ts)
	}
	// Integer-second timestamps (event 1) lose only the fraction.
	if ts := got["a-1"]["event"].(map[string]any)["timestamp"]; ts != "2025-06-01T12:00:01Z" {
		t.Errorf("integer timestamp became %v", ts)
	}
	if ts := got["a-5"]["event"].(map[string]any)["timestamp"]; ts != "2025-06-01T12:00:05.25Z" {
		t.Errorf("float timestamp became %v", ts)
	}
}

func TestRetryableFailureAsksFluentBitToRetry(t *testing.T) {
	hec := newHECReceiver(t)
	dataDir := t.TempDir()
	o := open(t, splunkKeys(hec, dataDir))
	hec.setMode("unavailable")
	c := chunk(t, "r", 3)
	if code := o.Flush(c, "audit"); code != fluentbit.FLBRetry {
		t.Fatalf("503: flush returned %d, want FLB_RETRY", code)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "deadletter")); !os.IsNotExist(err) {
		t.Errorf("a retryable failure wrote dead letters")
	}
	hec.setMode("ok") // Fluent Bit retries the same chunk
	if code := o.Flush(c, "audit"); code != fluentbit.FLBOK {
		t.Fatalf("retry: flush returned %d", code)
	}
	if n := len(hec.received()); n != 3 {
		t.Errorf("received %d, want 3", n)
	}
}

func readDeadLetters(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestPermanentFailureDeadLettersBeforeReturningError(t *testing.T) {
	hec := newHECReceiver(t)
	dataDir := t.TempDir()
	o := open(t, splunkKeys(hec, dataDir))
	hec.setMode("bad-token")
	if code := o.Flush(chunk(t, "e", 4), "audit"); code != fluentbit.FLBError {
		t.Fatalf("403: flush returned %d, want FLB_ERROR", code)
	}
	dl := readDeadLetters(t, filepath.Join(dataDir, "deadletter", "output.splunk_hec.splunk_hec.jsonl"))
	if len(dl) != 4 {
		t.Fatalf("%d dead letters, want 4", len(dl))
	}
	if dl[0]["event_id"] != "e-0" || dl[0]["component"] != "output.splunk_hec.splunk_hec" || dl[0]["record"] == nil {
		t.Errorf("dead letter %v", dl[0])
	}
}

func TestBadEventsAreDeadLetteredAndTheRestDelivered(t *testing.T) {
	hec := newHECReceiver(t)
	dataDir := t.TempDir()
	o := open(t, splunkKeys(hec, dataDir))
	c := chunk(t, "g", 2)
	c = flbmsgpack.AppendArrayHeader(c, 2) // [ts, "not a map"]
	c = flbmsgpack.AppendString(flbmsgpack.AppendInt(c, 1748779200), "not a map")
	c = append(c, chunk(t, "h", 1)...)
	if code := o.Flush(c, "audit"); code != fluentbit.FLBOK {
		t.Fatalf("flush returned %d", code)
	}
	if n := len(hec.received()); n != 3 {
		t.Errorf("received %d, want 3", n)
	}
	dl := readDeadLetters(t, filepath.Join(dataDir, "deadletter", "output.splunk_hec.splunk_hec.jsonl"))
	if len(dl) != 1 || !strings.HasPrefix(dl[0]["data"].(string), "msgpack:") {
		t.Errorf("dead letters %v", dl)
	}
}

func TestConcurrentFlushesDeliverEverything(t *testing.T) {
	hec := newHECReceiver(t)
	o := open(t, splunkKeys(hec, t.TempDir()))
	const workers, chunks, per = 4, 10, 25
	var wg sync.WaitGroup
	codes := make(chan int, workers*chunks)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := 0; c < chunks; c++ {
				codes <- o.Flush(chunk(t, fmt.Sprintf("w%d-c%d", w, c), per), "audit")
			}
		}()
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != fluentbit.FLBOK {
			t.Fatalf("flush returned %d", code)
		}
	}
	if n := len(hec.received()); n != workers*chunks*per {
		t.Errorf("received %d distinct events, want %d", n, workers*chunks*per)
	}
}

func TestTwoSectionsWithOneBackendNeedDistinctIDs(t *testing.T) {
	hec := newHECReceiver(t)
	dir := t.TempDir()
	open(t, splunkKeys(hec, dir))
	if _, err := fluentbit.Open(keys(splunkKeys(hec, dir)), nil); err == nil || !strings.Contains(err.Error(), "id") {
		t.Fatalf("second section with the same id: %v", err)
	}
	second := splunkKeys(hec, dir)
	second["id"] = "second"
	open(t, second)
}

func TestOpenRejectsBadSections(t *testing.T) {
	cases := []struct {
		name string
		keys map[string]string
		want string
	}{
		{"nothing chosen", map[string]string{}, `"backend"`},
		{"both chosen", map[string]string{"backend": "file", "pipeline": "x.hcl"}, "not both"},
		{"unknown backend", map[string]string{"backend": "kafka"}, "not one of"},
		{"missing required key", map[string]string{"backend": "splunk_hec", "endpoint": "http://127.0.0.1:1"}, `"token"`},
		{"bad value", map[string]string{"backend": "file", "path": "x", "segment_size": "huge"}, `"segment_size"`},
		{"missing pipeline file", map[string]string{"pipeline": "/nonexistent/p.hcl"}, "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := fluentbit.Open(keys(c.keys), nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want it to mention %s", err, c.want)
			}
		})
	}
}

func TestFileBackendWritesTheStore(t *testing.T) {
	dir := t.TempDir()
	o, err := fluentbit.Open(keys(map[string]string{
		"backend": "file", "path": filepath.Join(dir, "audit"), "format": "jsonl", "data_dir": filepath.Join(dir, "data"),
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if code := o.Flush(chunk(t, "f", 20), "audit"); code != fluentbit.FLBOK {
		t.Fatalf("flush returned %d", code)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if code := o.Flush(chunk(t, "late", 1), "audit"); code != fluentbit.FLBRetry {
		t.Errorf("flush after close returned %d, want FLB_RETRY", code)
	}
	n := countStoreEvents(t, filepath.Join(dir, "audit"))
	if n != 20 {
		t.Errorf("store holds %d events, want 20", n)
	}
}

// countStoreEvents counts record lines (those with an event_id) in a store's segments.
func countStoreEvents(t *testing.T, dir string) int {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "seg-*.jsonl"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segments in %s (%v)", dir, err)
	}
	n := 0
	for _, s := range segs {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		n += strings.Count(string(data), `"event_id":`)
	}
	return n
}

package splunk_hec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout/httpouttest"
	"github.com/sentinel-audit/sentinel/sdk"
)

const token = "9f5c2a1e-0b7d-4c3e-8a61-5d2f7e9b4c10"

func newOutput(t testing.TB, url string, extra map[string]any) *Output {
	t.Helper()
	cfg := map[string]any{"endpoint": url, "token": token, "index": "mcp_audit", "hostname": "gw-1", "timeout": "2s"}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	o := Definition.New().(*Output)
	if err := o.Configure(context.Background(), sdk.Config{Name: "soc", Raw: raw, Logger: hclog.New(&hclog.LoggerOptions{Output: io.Discard})}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() { _ = o.Close(context.Background()) })
	return o
}

func event(i int, extra string) *sdk.Record {
	body := fmt.Sprintf(`{"event_id":"ev-%03d","timestamp":"2026-11-23T10:00:00.123456Z","event_type":"mcp_tool_execution",`+
		`"severity":"info","server":"filesystem","tool_name":"fs.read","user_id":"alice","success":true,`+
		`"compliance":{"frameworks":["sox","gdpr"],"retention_days":365}%s}`, i, extra)
	r, err := sdk.NewRecord([]byte(body))
	if err != nil {
		panic(err)
	}
	return r
}

func batch(n int) *sdk.Batch {
	b := &sdk.Batch{Seq: 7}
	for i := range n {
		b.Records = append(b.Records, event(i, ""))
	}
	return b
}

// deliverAll plays the host: it retries what Process hands back until
// everything is delivered or dead-lettered.
func deliverAll(t *testing.T, o *Output, b *sdk.Batch) (rejected []sdk.Rejection, attempts int) {
	t.Helper()
	cur := b
	idx := make([]int, len(b.Records))
	for i := range idx {
		idx[i] = i
	}
	for attempts = 1; attempts < 50; attempts++ {
		out, err := o.Process(context.Background(), cur)
		for _, r := range out.Rejected {
			r.Index = idx[r.Index]
			rejected = append(rejected, r)
		}
		if err == nil {
			return rejected, attempts
		}
		var re *sdk.RetryError
		if !errors.As(err, &re) {
			t.Fatalf("permanent error: %v", err)
		}
		next := &sdk.Batch{Seq: b.Seq}
		var nidx []int
		for _, i := range re.Indices {
			next.Records = append(next.Records, cur.Records[i])
			nidx = append(nidx, idx[i])
		}
		cur, idx = next, nidx
	}
	t.Fatal("not delivered after 50 attempts")
	return nil, 0
}

func TestDeliversEnvelopesSplunkCanIndex(t *testing.T) {
	hec := newFakeHEC(token)
	pki := httpouttest.NewPKI(t)
	srv := pki.Server(t, hec, false)
	o := newOutput(t, srv.URL, map[string]any{"tls": map[string]any{"ca_file": pki.CAFile}})
	b := batch(3)
	b.Records[2] = event(2, `,"index":"override"`)
	out, err := o.Process(context.Background(), b)
	if err != nil || len(out.Rejected) != 0 {
		t.Fatalf("Process: %v %+v", err, out.Rejected)
	}
	if len(hec.bodies) != 1 || hec.headers[0].Get("Content-Encoding") != "gzip" {
		t.Fatalf("%d requests, encoding %q", len(hec.bodies), hec.headers[0].Get("Content-Encoding"))
	}
	if strings.HasPrefix(string(hec.bodies[0]), "[") {
		t.Fatal("events sent as a JSON array; HEC wants them concatenated")
	}
	var first struct {
		Time       json.RawMessage
		Host       string
		Source     string
		Sourcetype string
		Index      string
		Event      map[string]any
		Fields     map[string]any
	}
	if err := json.Unmarshal([]byte(strings.SplitN(string(hec.bodies[0]), "\n", 2)[0]), &first); err != nil {
		t.Fatal(err)
	}
	if string(first.Time) != "1795428000.123" {
		t.Errorf("time = %s, want 1795428000.123 (epoch seconds, 3 decimals)", first.Time)
	}
	if first.Host != "gw-1" || first.Source != "sentinel" || first.Sourcetype != "mcp:audit" || first.Index != "mcp_audit" {
		t.Errorf("metadata %+v", first)
	}
	wantFields := map[string]any{
		"event_type": "mcp_tool_execution", "severity": "info", "server": "filesystem", "tool_name": "fs.read",
		"user_id": "alice", "success": "true",
	}
	for k, v := range wantFields {
		if first.Fields[k] != v {
			t.Errorf("fields[%s] = %v, want %v", k, first.Fields[k], v)
		}
	}
	o2 := newOutput(t, srv.URL, map[string]any{"tls": map[string]any{"ca_file": pki.CAFile}, "indexed_fields": []string{"compliance"}})
	if _, err := o2.Process(context.Background(), batch(1)); err != nil {
		t.Fatal(err)
	}
	last := hec.events[len(hec.events)-1]["fields"].(map[string]any)
	if fmt.Sprint(last["compliance.frameworks"]) != "[sox gdpr]" || last["compliance.retention_days"] != "365" {
		t.Errorf("nested fields not flattened: %v", last)
	}
	if got := hec.events[2]["index"]; got != "override" {
		t.Errorf("event's own index: %v", got)
	}
}

func TestRequestsAreCappedByBytesBeforeCompression(t *testing.T) {
	hec := newFakeHEC(token)
	srv := httptest.NewServer(hec)
	defer srv.Close()
	o := newOutput(t, srv.URL, map[string]any{"max_request_bytes": "4KB"})
	if rej, _ := deliverAll(t, o, batch(100)); len(rej) != 0 {
		t.Fatal(rej)
	}
	if len(hec.bodies) < 10 {
		t.Errorf("only %d requests for ~50 KB with a 4 KB cap", len(hec.bodies))
	}
	for _, b := range hec.bodies {
		if len(b) > 4000 {
			t.Errorf("request of %d bytes over the 4000-byte cap", len(b))
		}
	}
	if n := len(hec.stored()); n != 100 {
		t.Errorf("stored %d events", n)
	}
}

func TestOversizedRequestIsSplitOn413(t *testing.T) {
	hec := newFakeHEC(token)
	hec.maxContent = 3000
	srv := httptest.NewServer(hec)
	defer srv.Close()
	o := newOutput(t, srv.URL, nil)
	b := batch(40)
	b.Records[9] = event(9, `,"result":"`+strings.Repeat("z", 5000)+`"`)
	rej, _ := deliverAll(t, o, b)
	if len(rej) != 1 || rej[0].Index != 9 || !strings.Contains(rej[0].Reason, "413") {
		t.Fatalf("rejected %+v", rej)
	}
	if st := hec.stored(); len(st) != 39 || st["ev-009"] != 0 {
		t.Fatalf("stored %d events", len(st))
	}
	if o.stats.Splits.Load() == 0 {
		t.Error("no 413 splits counted")
	}
}

func TestBadEventIsDeadLetteredWithSplunksAnswer(t *testing.T) {
	hec := newFakeHEC(token)
	srv := httptest.NewServer(hec)
	defer srv.Close()
	o := newOutput(t, srv.URL, nil)
	b := batch(20)
	b.Records[13] = event(13, `,"poison":true`)
	rej, _ := deliverAll(t, o, b)
	if len(rej) != 1 || rej[0].Index != 13 || !strings.Contains(rej[0].Reason, `"code":6`) || !strings.Contains(rej[0].Reason, "Invalid data format") {
		t.Fatalf("rejected %+v", rej)
	}
	st := hec.stored()
	for i := range 20 {
		id := fmt.Sprintf("ev-%03d", i)
		if i == 13 && st[id] != 0 || i != 13 && st[id] == 0 {
			t.Errorf("%s stored %d times", id, st[id])
		}
	}
}

func TestAuthFailureDeadLettersWithReasonAndFailsStart(t *testing.T) {
	hec := newFakeHEC(token)
	srv := httptest.NewServer(hec)
	defer srv.Close()
	raw, _ := json.Marshal(map[string]any{"endpoint": srv.URL, "token": "wrong"})
	err := Definition.New().(*Output).Configure(context.Background(), sdk.Config{Name: "soc", Raw: raw})
	if err == nil || !strings.Contains(err.Error(), "Invalid token") {
		t.Fatalf("Configure with a bad token = %v", err)
	}
	o := newOutput(t, srv.URL, map[string]any{"token": "wrong", "health_check": false})
	out, err := o.Process(context.Background(), batch(5))
	if err != nil || len(out.Rejected) != 5 || !strings.Contains(out.Rejected[0].Reason, "403") {
		t.Fatalf("Process = %v, %+v", err, out.Rejected)
	}
}

func TestThrottlingIsRetriedHonouringRetryAfter(t *testing.T) {
	hec := newFakeHEC(token)
	hec.script = []scripted{{429, `{"text":"HEC queue is at capacity","code":26}`, "7"}}
	srv := httptest.NewServer(hec)
	defer srv.Close()
	o := newOutput(t, srv.URL, nil)
	_, err := o.Process(context.Background(), batch(5))
	var re *sdk.RetryError
	if !errors.As(err, &re) || re.After != 7*time.Second || len(re.Indices) != 5 {
		t.Fatalf("Process = %v", err)
	}
}

func TestServerErrorStormThenRecoveryLosesNothing(t *testing.T) {
	hec := newFakeHEC(token)
	for range 12 {
		hec.script = append(hec.script, scripted{503, `{"text":"Server is busy","code":9}`, ""},
			scripted{500, `{"text":"Internal server error","code":8}`, ""})
	}
	srv := httptest.NewServer(hec)
	defer srv.Close()
	o := newOutput(t, srv.URL, map[string]any{"max_request_events": 10})
	rej, attempts := deliverAll(t, o, batch(100))
	if len(rej) != 0 || attempts < 2 {
		t.Fatalf("rejected %v after %d attempts", rej, attempts)
	}
	st := hec.stored()
	for i := range 100 {
		if st[fmt.Sprintf("ev-%03d", i)] != 1 {
			t.Fatalf("ev-%03d stored %d times", i, st[fmt.Sprintf("ev-%03d", i)])
		}
	}
	c := o.stats.Snapshot()
	if c["sent"] != int64(100) || c["retried"].(int64) < 24*10-10 {
		t.Errorf("counters %v", c)
	}
}

func TestSlowDestinationTimesOutIntoRetry(t *testing.T) {
	hec := newFakeHEC(token)
	srv := httptest.NewServer(hec)
	defer srv.Close()
	o := newOutput(t, srv.URL, map[string]any{"timeout": "100ms", "health_check": false})
	hec.delay = 300 * time.Millisecond
	_, err := o.Process(context.Background(), batch(3))
	if !sdk.IsRetryable(err) {
		t.Fatalf("slow answer: %v", err)
	}
}

func TestIndexerAcknowledgement(t *testing.T) {
	ack := map[string]any{"ack": true, "ack_poll_interval": "20ms", "ack_timeout": "400ms"}
	t.Run("confirmed after polls", func(t *testing.T) {
		hec := newFakeHEC(token)
		hec.ackEnabled, hec.ackAfter = true, 2
		srv := httptest.NewServer(hec)
		defer srv.Close()
		o := newOutput(t, srv.URL, ack)
		out, err := o.Process(context.Background(), batch(30))
		if err != nil || len(out.Rejected) != 0 {
			t.Fatalf("Process = %v", err)
		}
		if o.acks.confirmed.Load() != 1 || hec.headers[0].Get("X-Splunk-Request-Channel") == "" {
			t.Errorf("acks confirmed %d", o.acks.confirmed.Load())
		}
	})
	t.Run("never acknowledged is resent", func(t *testing.T) {
		hec := newFakeHEC(token)
		hec.ackEnabled, hec.ackNever = true, true
		srv := httptest.NewServer(hec)
		defer srv.Close()
		o := newOutput(t, srv.URL, ack)
		start := time.Now()
		_, err := o.Process(context.Background(), batch(4))
		var re *sdk.RetryError
		if !errors.As(err, &re) || !slices.Equal(re.Indices, []int{0, 1, 2, 3}) || !strings.Contains(err.Error(), "acknowledgement") {
			t.Fatalf("Process = %v", err)
		}
		if el := time.Since(start); el < 350*time.Millisecond || el > 3*time.Second {
			t.Errorf("gave up after %v, ack_timeout is 400ms", el)
		}
	})
	t.Run("ack disabled falls back to 200", func(t *testing.T) {
		hec := newFakeHEC(token)
		hec.ackEnabled, hec.ackDisabled = true, true
		srv := httptest.NewServer(hec)
		defer srv.Close()
		o := newOutput(t, srv.URL, ack)
		if _, err := o.Process(context.Background(), batch(4)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		cfg   string
		field string
	}{
		{`{"token":"x"}`, "endpoint"},
		{`{"endpoint":"splunk:8088","token":"x"}`, "endpoint"},
		{`{"endpoint":"https://s:8088"}`, "token"},
		{`{"endpoint":"https://s:8088","token":"Splunk abc"}`, "token"},
		{`{"endpoint":"https://s:8088","token":"x","compression":"zstd"}`, "compression"},
		{`{"endpoint":"https://s:8088","token":"x","tls":{"cert_file":"a.pem"}}`, "tls.cert_file"},
		{`{"endpoint":"https://s:8088","token":"x","ack":true,"ack_poll_interval":"10m","ack_timeout":"1m"}`, "ack_poll_interval"},
		{`{"endpoint":"https://s:8088/services/collector/event","token":"x"}`, ""},
	}
	for _, tc := range tests {
		err := (&Output{}).Validate(sdk.Config{Raw: json.RawMessage(tc.cfg)})
		var fe *sdk.FieldError
		if tc.field == "" && err != nil || tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
			t.Errorf("%s: %v, want field %q", tc.cfg, err, tc.field)
		}
	}
	if err := Definition.Check(); err != nil {
		t.Fatal(err)
	}
}

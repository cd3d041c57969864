package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

func start(t testing.TB, extra map[string]any) (*Input, string) {
	t.Helper()
	cfg := map[string]any{"listen": "127.0.0.1:0"}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	in := Definition.New().(*Input)
	c := sdk.Config{Raw: raw, DataDir: t.TempDir()}
	if err := in.Validate(c); err != nil {
		t.Fatal(err)
	}
	if err := in.Configure(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close(context.Background()) })
	return in, "http://" + in.Addr().String()
}

type response struct {
	status int
	header nethttp.Header
	body   map[string]any
	err    error
}

// post sends a request in the background; the response arrives on the channel.
func post(url, path, body string, header ...string) <-chan response {
	ch := make(chan response, 1)
	go func() {
		req, _ := nethttp.NewRequest(nethttp.MethodPost, url+path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			ch <- response{err: err}
			return
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &m)
		ch <- response{status: resp.StatusCode, header: resp.Header, body: m}
	}()
	return ch
}

func wait(t *testing.T, ch <-chan response) response {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no response")
	}
	return response{}
}

func notYet(t *testing.T, ch <-chan response) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("answered before the pipeline acknowledged: %d %v", r.status, r.body)
	case <-time.After(100 * time.Millisecond):
	}
}

// next polls like the host does, waiting up to d for a batch.
func next(t *testing.T, in *Input, d time.Duration) *sdk.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	b, err := in.Process(ctx, &sdk.Batch{})
	if err != nil {
		t.Fatalf("process: %v", err)
	}
	return b
}

func ack(in *Input, b *sdk.Batch) { in.Ack(context.Background(), []uint64{b.Seq}) }

const ev = `{"timestamp":"2026-03-01T12:00:00Z","event_type":"mcp_tool_execution","tool_name":"search"}`

func TestAcceptedOnlyAfterAck(t *testing.T) {
	in, url := start(t, nil)
	resp := post(url, "/v1/events", ev)
	b := next(t, in, 5*time.Second)
	if b.Len() != 1 || b.Records[0].Type != sdk.EventToolExecution {
		t.Fatalf("batch: %+v", b)
	}
	notYet(t, resp)
	ack(in, b)
	r := wait(t, resp)
	if r.status != nethttp.StatusAccepted || r.body["accepted"] != float64(1) {
		t.Fatalf("got %d %v", r.status, r.body)
	}
	ids := r.body["ids"].([]any)
	if len(ids) != 1 || ids[0] != b.Records[0].ID || b.Records[0].ID == "" {
		t.Errorf("ids %v, record id %s", ids, b.Records[0].ID)
	}
}

func TestEventShapes(t *testing.T) {
	tests := []struct {
		name, body  string
		wantStatus  int
		wantTool    string
		wantNoField string
	}{
		{"plain event", ev, 202, "search", ""},
		{"plugpipe nested event", `{"operation":"log_audit_event","event":` + ev + `}`, 202, "search", "operation"},
		{"plugpipe flat event", `{"operation":"log_audit_event","event_type":"mcp_tool_execution","tool_name":"flat"}`, 202, "flat", "operation"},
		{"plugpipe flat, operation last", `{"tool_name":"last","operation":"log_audit_event"}`, 202, "last", "operation"},
		{"other operation", `{"operation":"get_status"}`, 400, "", ""},
		{"not an object", `[1,2]`, 400, "", ""},
		{"broken JSON", `{"tool_name":`, 400, "", ""},
	}
	in, url := start(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(url, "/v1/events", tc.body)
			if tc.wantStatus == 202 {
				b := next(t, in, 5*time.Second)
				var m map[string]any
				if err := json.Unmarshal(b.Records[0].Body, &m); err != nil {
					t.Fatal(err)
				}
				if m["tool_name"] != tc.wantTool {
					t.Errorf("tool_name %v", m["tool_name"])
				}
				if _, ok := m[tc.wantNoField]; ok && tc.wantNoField != "" {
					t.Errorf("%s kept in %s", tc.wantNoField, b.Records[0].Body)
				}
				ack(in, b)
			}
			if r := wait(t, resp); r.status != tc.wantStatus {
				t.Fatalf("status %d %v, want %d", r.status, r.body, tc.wantStatus)
			}
		})
	}
}

func TestBatchWithABadLineIsRefusedWhole(t *testing.T) {
	in, url := start(t, nil)
	body := ev + "\n\n" + ev + "\n" + "{not json\n" + ev + "\n"
	r := wait(t, post(url, "/v1/events:batch", body))
	if r.status != nethttp.StatusBadRequest || r.body["line"] != float64(4) {
		t.Fatalf("got %d %v, want 400 naming line 4", r.status, r.body)
	}
	if !strings.Contains(fmt.Sprint(r.body["error"]), "line 4") {
		t.Errorf("error does not name the line: %v", r.body["error"])
	}
	if b := next(t, in, 100*time.Millisecond); b.Len() != 0 {
		t.Fatalf("records of a refused request were emitted: %d", b.Len())
	}
}

func TestBatchAcceptedAfterEveryBatchIsAcked(t *testing.T) {
	in, url := start(t, nil)
	var sb strings.Builder
	for i := range 1200 {
		fmt.Fprintf(&sb, `{"event_type":"mcp_tool_execution","tool_name":"t%d"}`+"\n", i)
	}
	resp := post(url, "/v1/events:batch", sb.String())
	var batches []*sdk.Batch
	total := 0
	for total < 1200 {
		b := next(t, in, 5*time.Second)
		if b.Len() > maxBatchRecords {
			t.Fatalf("batch of %d records", b.Len())
		}
		batches = append(batches, b)
		total += b.Len()
	}
	if len(batches) != 3 {
		t.Fatalf("%d batches", len(batches))
	}
	ack(in, batches[0])
	ack(in, batches[2])
	notYet(t, resp)
	ack(in, batches[1])
	r := wait(t, resp)
	if r.status != 202 || r.body["accepted"] != float64(1200) || len(r.body["ids"].([]any)) != 1200 {
		t.Fatalf("got %d accepted=%v", r.status, r.body["accepted"])
	}
}

func TestConcurrentRequestsShareABatch(t *testing.T) {
	in, url := start(t, nil)
	a := post(url, "/v1/events", ev)
	b := post(url, "/v1/events:batch", ev+"\n"+ev+"\n")
	deadline := time.Now().Add(5 * time.Second)
	for { // wait until both are queued
		in.mu.Lock()
		n := len(in.queue)
		in.mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	batch := next(t, in, time.Second)
	if batch.Len() != 3 {
		t.Fatalf("batch has %d records, want both requests' 3", batch.Len())
	}
	ack(in, batch)
	if ra, rb := wait(t, a), wait(t, b); ra.status != 202 || rb.status != 202 || rb.body["accepted"] != float64(2) {
		t.Fatalf("got %d and %d", ra.status, rb.status)
	}
}

func TestAuthorization(t *testing.T) {
	in, url := start(t, map[string]any{"token": "s3cret"})
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "Basic s3cret"}} {
		if r := wait(t, post(url, "/v1/events", ev, h...)); r.status != nethttp.StatusUnauthorized {
			t.Errorf("header %v: got %d, want 401", h, r.status)
		}
	}
	resp := post(url, "/v1/events", ev, "Authorization", "Bearer s3cret")
	ack(in, next(t, in, 5*time.Second))
	if r := wait(t, resp); r.status != 202 {
		t.Fatalf("right token: %d", r.status)
	}
}

func TestBodyOverMaxBodyIs413(t *testing.T) {
	in, url := start(t, map[string]any{"max_body": 64})
	r := wait(t, post(url, "/v1/events:batch", strings.Repeat(ev+"\n", 3)))
	if r.status != nethttp.StatusRequestEntityTooLarge {
		t.Fatalf("got %d", r.status)
	}
	if b := next(t, in, 100*time.Millisecond); b.Len() != 0 {
		t.Fatal("part of a too-large request was emitted")
	}
}

func TestNoAckWithinTimeoutIs503(t *testing.T) {
	in, url := start(t, map[string]any{"ack_timeout": "150ms"})
	resp := post(url, "/v1/events", ev)
	if b := next(t, in, 5*time.Second); b.Len() != 1 {
		t.Fatal("not emitted")
	}
	r := wait(t, resp)
	if r.status != nethttp.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("got %d Retry-After=%q", r.status, r.header.Get("Retry-After"))
	}
}

func TestRequestTimedOutBeforeEmissionIsDropped(t *testing.T) {
	in, url := start(t, map[string]any{"ack_timeout": "50ms"})
	if r := wait(t, post(url, "/v1/events", ev)); r.status != 503 {
		t.Fatalf("got %d", r.status)
	}
	if b := next(t, in, 100*time.Millisecond); b.Len() != 0 {
		t.Fatal("a request answered 503 was still emitted")
	}
}

func TestHealthzAndMethods(t *testing.T) {
	_, url := start(t, nil)
	resp, err := nethttp.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	resp, err = nethttp.Get(url + "/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != nethttp.StatusMethodNotAllowed {
		t.Fatalf("GET /v1/events: %d", resp.StatusCode)
	}
}

func TestCloseAnswersWaitingRequests503(t *testing.T) {
	in, url := start(t, nil)
	resp := post(url, "/v1/events", ev)
	if b := next(t, in, 5*time.Second); b.Len() != 1 {
		t.Fatal("not emitted")
	}
	if err := in.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := wait(t, resp); r.status != 503 {
		t.Fatalf("got %d", r.status)
	}
	if err := in.Close(context.Background()); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := nethttp.Post(url+"/v1/events", "application/json", bytes.NewReader([]byte(ev))); err == nil {
		t.Fatal("server still accepts after Close")
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct{ name, raw, field string }{
		{"listen without port", `{"listen":"localhost"}`, "listen"},
		{"cert without key", `{"tls_cert":"a.pem"}`, "tls_key"},
		{"key without cert", `{"tls_key":"a.key"}`, "tls_cert"},
		{"bad ack_timeout", `{"ack_timeout":"-1s"}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Definition.New().(*Input).Validate(sdk.Config{Raw: json.RawMessage(tc.raw)})
			if err == nil {
				t.Fatal("accepted")
			}
			if fe, ok := err.(*sdk.FieldError); tc.field != "" && (!ok || fe.Field != tc.field) {
				t.Fatalf("got %v, want a FieldError on %s", err, tc.field)
			}
		})
	}
	if err := Definition.Check(); err != nil {
		t.Fatal(err)
	}
}

package httpout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout/httpouttest"
	"github.com/sentinel-audit/sentinel/sdk"
)

func items(n, size int) []Item {
	out := make([]Item, n)
	for i := range out {
		out[i] = Item{Index: i, Data: []byte(fmt.Sprintf(`{"id":%d,"pad":"%s"}`, i, strings.Repeat("x", size)))}
	}
	return out
}

func TestPlanCapsRequestsByBytesAndCount(t *testing.T) {
	arr := Framing{Prefix: []byte("["), Sep: []byte(","), Suffix: []byte("]")}
	its := items(10, 83) // each item is 100 bytes
	for _, it := range its {
		if len(it.Data) != 100 {
			t.Fatalf("item size %d", len(it.Data))
		}
	}
	tests := []struct {
		name      string
		maxBytes  int
		maxEvents int
		want      []int
	}{
		{"count cap", 0, 4, []int{4, 4, 2}},
		{"byte cap counts framing", 305, 0, []int{3, 3, 3, 1}}, // 2+300+2 = 304
		{"byte cap exactly", 304, 0, []int{3, 3, 3, 1}},
		{"byte cap one below", 303, 0, []int{2, 2, 2, 2, 2}},
		{"both caps", 1000, 2, []int{2, 2, 2, 2, 2}},
		{"item above cap travels alone", 50, 0, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &Engine{Framing: arr, MaxBytes: tc.maxBytes, MaxEvents: tc.maxEvents}
			var got []int
			for _, r := range e.Plan(its) {
				got = append(got, len(r))
				if b := arr.Body(r); tc.maxBytes > 0 && len(r) > 1 && len(b) > tc.maxBytes {
					t.Errorf("request of %d bytes over cap %d", len(b), tc.maxBytes)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("plan = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-3", 0},
		{"Mon, 23 Nov 2026 12:00:30 GMT", 30 * time.Second},
		{"Mon, 23 Nov 2026 11:00:00 GMT", 0}, // in the past
		{"soon", 0},
	}
	for _, tc := range tests {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestBackoffIsFullJitterUnderCap(t *testing.T) {
	b := Backoff{Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for attempt, ceil := range []time.Duration{10, 20, 40, 80, 80, 80} {
		ceil *= time.Millisecond
		var maxSeen time.Duration
		for range 2000 {
			d := b.Delay(attempt)
			if d < 0 || d > ceil {
				t.Fatalf("attempt %d: delay %v outside [0,%v]", attempt, d, ceil)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < ceil/2 {
			t.Errorf("attempt %d: delays never approach the cap %v (max %v): not jittered over the full range", attempt, ceil, maxSeen)
		}
	}
}

// arrayServer is a destination that takes JSON arrays of {"id":n} rows,
// refuses rows carrying "bad", and records what it stored.
type arrayServer struct {
	mu       sync.Mutex
	stored   map[int]int // id → times stored
	bodies   [][]byte
	maxBody  int
	failNext atomic.Int32 // answer this many requests with 503 + Retry-After
}

func (s *arrayServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := httpouttest.Body(r)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	if s.failNext.Add(-1) >= 0 {
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"error":"busy"}`, 503)
		return
	}
	if s.maxBody > 0 && len(body) > s.maxBody {
		http.Error(w, `{"error":"payload too large"}`, 413)
		return
	}
	var rows []map[string]any
	if err := json.Unmarshal(body, &rows); err != nil {
		http.Error(w, `{"error":"bad json"}`, 400)
		return
	}
	for _, row := range rows {
		if row["bad"] != nil {
			http.Error(w, fmt.Sprintf(`{"error":"row %v is invalid"}`, row["id"]), 400)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, body)
	for _, row := range rows {
		s.stored[int(row["id"].(float64))]++
	}
	w.WriteHeader(204)
}

func newEngine(t *testing.T, srv *arrayServer, requireClientCert bool) (*Engine, *Stats) {
	t.Helper()
	pki := httpouttest.NewPKI(t)
	ts := pki.Server(t, srv, requireClientCert)
	stats := &Stats{}
	opts := Options{TLS: TLSConfig{CAFile: pki.CAFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile}}
	opts.Normalize(Defaults{MaxRequestBytes: 1 << 20, MaxRequestEvents: 500, Concurrency: 3, Timeout: 5 * time.Second})
	c, err := NewClient(opts, stats, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e := &Engine{
		Framing:  Framing{Prefix: []byte("["), Sep: []byte(","), Suffix: []byte("]")},
		MaxBytes: 1 << 20, MaxEvents: 500, Concurrency: 3, Stats: stats,
		Backoff: Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond},
		Send: func(ctx context.Context, body []byte, _ []Item) Result {
			return Classify(c.Do(ctx, http.MethodPost, ts.URL, http.Header{"Content-Type": {"application/json"}}, body))
		},
	}
	return e, stats
}

func TestDeliverOverMutualTLSWithGzip(t *testing.T) {
	srv := &arrayServer{stored: map[int]int{}}
	e, stats := newEngine(t, srv, true)
	e.MaxEvents = 7
	out := e.Deliver(context.Background(), items(50, 20))
	if out.Delivered != 50 || len(out.Retry) != 0 || len(out.Rejected) != 0 || e.Finish(out, &sdk.Batch{}) != nil {
		t.Fatalf("outcome %+v", out)
	}
	if len(srv.stored) != 50 || len(srv.bodies) != 8 {
		t.Fatalf("stored %d rows in %d requests, want 50 in 8", len(srv.stored), len(srv.bodies))
	}
	if stats.BytesWire.Load() >= stats.BytesRaw.Load() {
		t.Errorf("gzip did not shrink: wire %d raw %d", stats.BytesWire.Load(), stats.BytesRaw.Load())
	}
}

func TestClientWithoutCertificateIsRefusedByMutualTLS(t *testing.T) {
	pki := httpouttest.NewPKI(t)
	ts := pki.Server(t, http.NotFoundHandler(), true)
	c, err := NewClient(Options{TLS: TLSConfig{CAFile: pki.CAFile}, Timeout: sdk.Duration(2 * time.Second)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Do(context.Background(), "POST", ts.URL, nil, []byte("{}")); r.Err == nil {
		t.Fatalf("request without client certificate succeeded: %d", r.Status)
	}
	// And without ca_file the private CA is not trusted.
	c2, _ := NewClient(Options{Timeout: sdk.Duration(2 * time.Second)}, nil, nil)
	if r := c2.Do(context.Background(), "POST", ts.URL, nil, []byte("{}")); r.Err == nil || !strings.Contains(r.Err.Error(), "certificate") {
		t.Fatalf("untrusted server accepted: %+v", r)
	}
}

func TestDeliverSplitsOn413UntilRequestsFit(t *testing.T) {
	srv := &arrayServer{stored: map[int]int{}, maxBody: 1000}
	e, stats := newEngine(t, srv, false)
	its := items(40, 80) // 100 bytes each: 4 KB in one request
	its[17].Data = []byte(fmt.Sprintf(`{"id":17,"pad":"%s"}`, strings.Repeat("y", 2000)))
	out := e.Deliver(context.Background(), its)
	if out.Delivered != 39 || len(out.Rejected) != 1 || out.Rejected[0].Index != 17 {
		t.Fatalf("outcome delivered=%d rejected=%+v retry=%v", out.Delivered, out.Rejected, out.Retry)
	}
	if !strings.Contains(out.Rejected[0].Reason, "payload too large") {
		t.Errorf("reason lacks the destination's answer: %q", out.Rejected[0].Reason)
	}
	if stats.Splits.Load() == 0 {
		t.Error("no splits counted")
	}
	for id, n := range srv.stored {
		if n != 1 {
			t.Errorf("row %d stored %d times", id, n)
		}
	}
}

func TestDeliverBisectsToIsolateBadRows(t *testing.T) {
	srv := &arrayServer{stored: map[int]int{}}
	e, stats := newEngine(t, srv, false)
	its := items(64, 10)
	for _, bad := range []int{5, 6, 40} {
		its[bad].Data = []byte(fmt.Sprintf(`{"id":%d,"bad":true}`, bad))
	}
	out := e.Deliver(context.Background(), its)
	var rejected []int
	for _, r := range out.Rejected {
		rejected = append(rejected, r.Index)
		if !strings.Contains(r.Reason, fmt.Sprintf("row %d is invalid", r.Index)) {
			t.Errorf("row %d: reason %q is not the destination's answer about it", r.Index, r.Reason)
		}
	}
	slices.Sort(rejected)
	if !slices.Equal(rejected, []int{5, 6, 40}) || out.Delivered != 61 || len(srv.stored) != 61 {
		t.Fatalf("rejected %v delivered %d stored %d", rejected, out.Delivered, len(srv.stored))
	}
	b := &sdk.Batch{}
	if err := e.Finish(out, b); err != nil || len(b.Rejected) != 3 {
		t.Fatalf("Finish = %v, %d rejected", err, len(b.Rejected))
	}
	if stats.Bisections.Load() == 0 || stats.DeadLettered.Load() != 3 || stats.Sent.Load() != 61 {
		t.Errorf("counters %v", stats.Snapshot())
	}
}

func TestDeliverHandsBackTransientFailuresWithRetryAfter(t *testing.T) {
	srv := &arrayServer{stored: map[int]int{}}
	srv.failNext.Store(1000)
	e, stats := newEngine(t, srv, false)
	e.MaxEvents = 10
	out := e.Deliver(context.Background(), items(30, 10))
	if len(out.Retry) != 30 || out.After != time.Second || out.Delivered != 0 {
		t.Fatalf("outcome %+v", out)
	}
	b := &sdk.Batch{}
	err := e.Finish(out, b)
	var re *sdk.RetryError
	if !errors.As(err, &re) || len(re.Indices) != 30 || re.After != time.Second || re.Indices[29] != 29 {
		t.Fatalf("Apply = %v", err)
	}
	if stats.Retried.Load() != 30 {
		t.Errorf("retried = %d", stats.Retried.Load())
	}
}

func TestInPlaceRetriesResendIdenticalBytes(t *testing.T) {
	srv := &arrayServer{stored: map[int]int{}}
	var mu sync.Mutex
	var seen [][]byte
	srv.failNext.Store(2)
	e, stats := newEngine(t, srv, false)
	e.InPlaceRetries = 3
	send := e.Send
	e.Send = func(ctx context.Context, body []byte, its []Item) Result {
		mu.Lock()
		seen = append(seen, body)
		mu.Unlock()
		r := send(ctx, body, its)
		r.After = 0 // keep the test fast; Retry-After parsing is tested above
		return r
	}
	out := e.Deliver(context.Background(), items(5, 10))
	if out.Delivered != 5 || len(seen) != 3 || stats.RequestRetries.Load() != 2 {
		t.Fatalf("delivered %d after %d sends", out.Delivered, len(seen))
	}
	for _, b := range seen[1:] {
		if string(b) != string(seen[0]) {
			t.Fatal("retry body differs from the first attempt")
		}
	}
}

func TestPartialAnswersResolveEachItem(t *testing.T) {
	e := &Engine{MaxEvents: 100, Send: func(_ context.Context, _ []byte, its []Item) Result {
		res := Result{Verdict: Partial, After: 2 * time.Second}
		for _, it := range its {
			switch it.Index % 3 {
			case 0:
				res.Items = append(res.Items, ItemResult{Verdict: Delivered})
			case 1:
				res.Items = append(res.Items, ItemResult{Verdict: Retry, Reason: "429"})
			default:
				res.Items = append(res.Items, ItemResult{Verdict: Refused, Reason: "mapper_parsing_exception"})
			}
		}
		return res
	}}
	out := e.Deliver(context.Background(), items(9, 1))
	if out.Delivered != 3 || !slices.Equal(out.Retry, []int{1, 4, 7}) || len(out.Rejected) != 3 || out.After != 2*time.Second {
		t.Fatalf("outcome %+v", out)
	}
}

func TestNamedCulpritIsDroppedAndRestResent(t *testing.T) {
	var calls atomic.Int32
	e := &Engine{Send: func(_ context.Context, _ []byte, its []Item) Result {
		calls.Add(1)
		for i, it := range its {
			if it.Index == 3 {
				return Result{Verdict: Poison, Reason: "code 6", Culprit: i, CulpritKnown: true}
			}
		}
		return Result{Verdict: Delivered}
	}}
	out := e.Deliver(context.Background(), items(10, 1))
	if out.Delivered != 9 || len(out.Rejected) != 1 || out.Rejected[0].Index != 3 || calls.Load() != 2 {
		t.Fatalf("outcome %+v after %d calls", out, calls.Load())
	}
}

func TestCanceledContextRetriesEverything(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := &Engine{Send: func(context.Context, []byte, []Item) Result { return Result{Verdict: Delivered} }}
	if out := e.Deliver(ctx, items(4, 1)); len(out.Retry) != 4 {
		t.Fatalf("outcome %+v", out)
	}
}

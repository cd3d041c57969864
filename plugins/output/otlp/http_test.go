package otlp

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sentinel-audit/sentinel/sdk"
)

// httpReceiver is an in-process OTLP/HTTP receiver: binary protobuf POSTs to
// /v1/traces and /v1/metrics, gzip or not, answering with scripted statuses.
type httpReceiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	script  []int // statuses to answer trace exports with, in order
	spans   []*tracepb.Span
	metrics []*colmetrics.ExportMetricsServiceRequest
	apiKeys []string
}

func startHTTPReceiver(t *testing.T) *httpReceiver {
	r := &httpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *httpReceiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-protobuf" {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, _ := io.ReadAll(body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.apiKeys = append(r.apiKeys, req.Header.Get("X-Api-Key"))
	switch req.URL.Path {
	case "/v1/traces":
		if len(r.script) > 0 {
			st := r.script[0]
			r.script = r.script[1:]
			if st == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "7")
			}
			w.WriteHeader(st)
			_, _ = io.WriteString(w, "scripted failure")
			return
		}
		var m coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(raw, &m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, rs := range m.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				r.spans = append(r.spans, ss.Spans...)
			}
		}
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	case "/v1/metrics":
		var m colmetrics.ExportMetricsServiceRequest
		if err := proto.Unmarshal(raw, &m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.metrics = append(r.metrics, &m)
		out, _ := proto.Marshal(&colmetrics.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestHTTPProtobufExport(t *testing.T) {
	r := startHTTPReceiver(t)
	o := &Output{}
	host := strings.TrimPrefix(r.srv.URL, "http://")
	raw := fmt.Sprintf(`{"endpoint":%q,"protocol":"http/protobuf","insecure":true,"headers":{"x-api-key":"k2"}}`, host)
	if err := o.Configure(context.Background(), sdk.Config{Raw: json.RawMessage(raw)}); err != nil {
		t.Fatal(err)
	}
	defer o.Close(context.Background())
	batch := func() *sdk.Batch {
		return &sdk.Batch{Records: []*sdk.Record{record(t, toolCall), record(t, threat)}, Final: true}
	}
	if _, err := o.Process(context.Background(), batch()); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	if len(r.spans) != 2 || r.spans[0].Name != "tools/call get-weather" || attrs(r.spans[0].Attributes)["mcp.method.name"] != "tools/call" {
		t.Fatalf("spans over HTTP: %v", r.spans)
	}
	if len(r.metrics) != 1 || r.metrics[0].ResourceMetrics[0].ScopeMetrics[0].Metrics[0].Name == "" {
		t.Fatalf("metrics over HTTP: %v", r.metrics)
	}
	if r.apiKeys[0] != "k2" {
		t.Errorf("headers not sent: %v", r.apiKeys)
	}
	r.script = []int{http.StatusServiceUnavailable, http.StatusBadRequest}
	r.mu.Unlock()

	_, err := o.Process(context.Background(), batch())
	var re *sdk.RetryError
	if !errors.As(err, &re) || re.After != 7*time.Second {
		t.Fatalf("503 with Retry-After: %v", err)
	}
	if _, err := o.Process(context.Background(), batch()); err == nil || sdk.IsRetryable(err) || !strings.Contains(err.Error(), "scripted failure") {
		t.Fatalf("400 must fail for good with the receiver's message: %v", err)
	}
	r.srv.Close()
	if _, err := o.Process(context.Background(), batch()); !sdk.IsRetryable(err) {
		t.Fatalf("receiver gone: %v", err)
	}
}

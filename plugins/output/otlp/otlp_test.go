package otlp

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	r := startReceiver(t)
	sdktest.Conformance(t, Definition, sdktest.Options{
		Config: json.RawMessage(fmt.Sprintf(`{"endpoint":%q,"insecure":true}`, r.addr)),
	})
}

func newOutput(t *testing.T, r *receiver, extra string) *Output {
	t.Helper()
	o := &Output{}
	raw := fmt.Sprintf(`{"endpoint":%q,"insecure":true,"headers":{"x-api-key":"k1"}%s}`, r.addr, extra)
	if err := o.Configure(context.Background(), sdk.Config{Name: "otel", Raw: json.RawMessage(raw)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close(context.Background()) })
	return o
}

func record(t *testing.T, body string) *sdk.Record {
	t.Helper()
	r, err := sdk.NewRecord([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Events as the MCP tap writes them.
const (
	toolCall = `{"event_id":"01KAR0000000000000000000T1","timestamp":"2026-11-23T10:00:01.250Z","event_type":"mcp_tool_execution",
	"severity":"info","session_id":"s-1","client_id":"claude-code/2.1","server":"weather","method":"tools/call",
	"tool_name":"get-weather","arguments":{"city":"Oslo"},"duration_ms":250,"success":true,"status":"success",
	"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",
	"mcp.method.name":"tools/call","mcp.session.id":"abc","mcp.protocol.version":"2025-11-25","gen_ai.tool.name":"get-weather",
	"gen_ai.operation.name":"execute_tool","jsonrpc.request.id":"7","network.transport":"tcp","network.protocol.name":"http",
	"client.address":"10.0.0.7","server.address":"weather.internal"}`
	failedCall = `{"event_id":"01KAR0000000000000000000T2","timestamp":"2026-11-23T10:00:02Z","event_type":"mcp_tool_execution",
	"severity":"low","server":"weather","method":"tools/call","tool_name":"get-weather","duration_ms":40,"success":false,
	"error":"Unknown city","error_code":-32602}`
	promptGet = `{"event_id":"01KAR0000000000000000000T3","timestamp":"2026-11-23T10:00:03Z","event_type":"mcp_prompt_request",
	"method":"prompts/get","prompt_name":"summarize","duration_ms":5,"success":true,"mcp.protocol.version":"2026-07-28","mcp.session.id":"must-not-appear"}`
	threat = `{"event_id":"01KAR0000000000000000000T4","timestamp":"2026-11-23T10:00:04Z","event_type":"mcp_security_threats",
	"severity":"high","reason":"auth_failure_burst","client_id":"x"}`
)

func TestSpansFollowMCPConventions(t *testing.T) {
	r := startReceiver(t)
	o := newOutput(t, r, "")
	out, err := o.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{
		record(t, toolCall), record(t, failedCall), record(t, promptGet), record(t, threat)}})
	if err != nil || len(out.Rejected) != 0 {
		t.Fatalf("process: %v %v", err, out.Rejected)
	}
	spans := r.spans()
	if len(spans) != 4 {
		t.Fatalf("want 4 spans, got %d", len(spans))
	}
	byName := map[string]*tracepb.Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	call := spans[0]
	if call.Name != "tools/call get-weather" {
		t.Fatalf("no span named \"tools/call get-weather\": %v", names(spans))
	}
	if call.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("kind %v", call.Kind)
	}
	if got := hex.EncodeToString(call.TraceId); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("span not in the caller's trace: %s", got)
	}
	if got := hex.EncodeToString(call.ParentSpanId); got != "00f067aa0ba902b7" {
		t.Errorf("parent %s", got)
	}
	if d := time.Duration(call.EndTimeUnixNano - call.StartTimeUnixNano); d != 250*time.Millisecond {
		t.Errorf("span lasts %v, want the event's 250ms", d)
	}
	if end := time.Unix(0, int64(call.EndTimeUnixNano)).UTC(); !end.Equal(time.Date(2026, 11, 23, 10, 0, 1, 250e6, time.UTC)) {
		t.Errorf("end %v", end)
	}
	a := attrs(call.Attributes)
	for k, v := range map[string]any{"mcp.method.name": "tools/call", "gen_ai.tool.name": "get-weather",
		"gen_ai.operation.name": "execute_tool", "mcp.session.id": "abc", "mcp.protocol.version": "2025-11-25",
		"jsonrpc.request.id": "7", "network.transport": "tcp", "client.address": "10.0.0.7", "server.address": "weather.internal",
		"sentinel.event.id": "01KAR0000000000000000000T1", "sentinel.event.type": "mcp_tool_execution", "sentinel.success": true} {
		if a[k] != v {
			t.Errorf("attribute %s = %v, want %v", k, a[k], v)
		}
	}
	if _, ok := a["gen_ai.tool.call.arguments"]; ok {
		t.Error("arguments exported without include_arguments")
	}
	if call.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
		t.Error("successful call has ERROR status")
	}

	failed := spans[1]
	fa := attrs(failed.Attributes)
	if failed.Name != "tools/call get-weather" || failed.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR ||
		failed.Status.GetMessage() != "Unknown city" || fa["error.type"] != "-32602" || fa["rpc.response.status_code"] != "-32602" {
		t.Errorf("failed call: %s %v %v", failed.Name, failed.Status, fa)
	}
	if len(failed.ParentSpanId) != 0 {
		t.Error("a span without trace context got a parent")
	}

	prompt := byName["prompts/get summarize"]
	if prompt == nil || attrs(prompt.Attributes)["gen_ai.prompt.name"] != "summarize" {
		t.Fatalf("prompt span: %v", names(spans))
	}
	if _, ok := attrs(prompt.Attributes)["mcp.session.id"]; ok {
		t.Error("mcp.session.id set on a 2026-07-28 (stateless) operation")
	}
	th := byName["mcp_security_threats"]
	if th == nil || th.Kind != tracepb.Span_SPAN_KIND_INTERNAL || attrs(th.Attributes)["sentinel.reason"] != "auth_failure_burst" {
		t.Fatalf("threat span: %v", th)
	}
	if md := r.headers[0]; len(md.Get("x-api-key")) != 1 || md.Get("x-api-key")[0] != "k1" {
		t.Errorf("headers not sent: %v", md)
	}
	rs := r.traces[0].ResourceSpans[0]
	if attrs(rs.Resource.Attributes)["service.name"] != "sentinel" {
		t.Errorf("resource %v", rs.Resource.Attributes)
	}
}

func names(spans []*tracepb.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

func TestOperationDurationHistogram(t *testing.T) {
	r := startReceiver(t)
	o := newOutput(t, r, `,"metrics_interval":"1h"`)
	recs := []*sdk.Record{record(t, toolCall), record(t, failedCall), record(t, threat)}
	if _, err := o.Process(context.Background(), &sdk.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	if len(r.metrics) != 0 {
		t.Fatal("metrics exported before the interval")
	}
	if _, err := o.Process(context.Background(), &sdk.Batch{Final: true}); err != nil {
		t.Fatal(err)
	}
	if len(r.metrics) != 1 {
		t.Fatalf("final batch did not flush metrics: %d exports", len(r.metrics))
	}
	found := map[string]bool{}
	for _, sm := range r.metrics[0].ResourceMetrics[0].ScopeMetrics {
		for _, m := range sm.Metrics {
			found[m.Name] = true
			if m.Name != "mcp.client.operation.duration" {
				continue
			}
			if m.Unit != "s" {
				t.Errorf("unit %q", m.Unit)
			}
			h := m.GetHistogram()
			var count uint64
			var sum float64
			for _, dp := range h.DataPoints {
				count += dp.Count
				sum += dp.GetSum()
				if fmt.Sprint(dp.ExplicitBounds) != fmt.Sprint(durationBuckets) {
					t.Errorf("buckets %v", dp.ExplicitBounds)
				}
				a := attrs(dp.Attributes)
				if a["mcp.method.name"] != "tools/call" || a["gen_ai.tool.name"] != "get-weather" {
					t.Errorf("data point attributes %v", a)
				}
			}
			if count != 2 || sum < 0.289 || sum > 0.291 {
				t.Errorf("histogram count %d sum %g, want 2 operations totalling 0.29s", count, sum)
			}
		}
	}
	if !found["mcp.client.operation.duration"] || !found["sentinel.events"] {
		t.Fatalf("metrics: %v", found)
	}
}

func TestServerSpanKind(t *testing.T) {
	r := startReceiver(t)
	o := newOutput(t, r, `,"span_kind":"server","include_arguments":true`)
	if _, err := o.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{record(t, toolCall)}, Final: true}); err != nil {
		t.Fatal(err)
	}
	s := r.spans()[0]
	if s.Kind != tracepb.Span_SPAN_KIND_SERVER || attrs(s.Attributes)["gen_ai.tool.call.arguments"] != `{"city":"Oslo"}` {
		t.Fatalf("kind %v attrs %v", s.Kind, attrs(s.Attributes))
	}
	if m := r.metrics[0].ResourceMetrics[0].ScopeMetrics[0].Metrics; m[0].Name != "mcp.server.operation.duration" {
		t.Fatalf("metric %s", m[0].Name)
	}
}

func TestExportFailuresMapToRetrySemantics(t *testing.T) {
	r := startReceiver(t)
	o := newOutput(t, r, "")
	batch := func() *sdk.Batch { return &sdk.Batch{Records: []*sdk.Record{record(t, toolCall)}} }

	r.failNext(unavailableWithRetryInfo(3 * time.Second))
	_, err := o.Process(context.Background(), batch())
	var re *sdk.RetryError
	if !errors.As(err, &re) || re.After != 3*time.Second {
		t.Fatalf("UNAVAILABLE with RetryInfo: %v", err)
	}
	r.failNext(status.Error(codes.InvalidArgument, "bad span"))
	if _, err := o.Process(context.Background(), batch()); err == nil || sdk.IsRetryable(err) {
		t.Fatalf("INVALID_ARGUMENT must fail for good: %v", err)
	}
	// the retry sends the very same span: ids derive from the event id
	if _, err := o.Process(context.Background(), batch()); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Process(context.Background(), batch()); err != nil {
		t.Fatal(err)
	}
	spans := r.spans()
	if len(spans) != 2 || hex.EncodeToString(spans[0].SpanId) != hex.EncodeToString(spans[1].SpanId) {
		t.Fatalf("retried span ids differ: %v", spans)
	}
}

func TestReceiverDownIsRetryable(t *testing.T) {
	o := &Output{}
	if err := o.Configure(context.Background(), sdk.Config{Raw: json.RawMessage(`{"endpoint":"127.0.0.1:1","insecure":true,"timeout":"500ms"}`)}); err != nil {
		t.Fatal(err)
	}
	defer o.Close(context.Background())
	_, err := o.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{record(t, threat)}})
	if !sdk.IsRetryable(err) {
		t.Fatalf("unreachable receiver: %v", err)
	}
}

func TestBadBodyIsRejected(t *testing.T) {
	r := startReceiver(t)
	o := newOutput(t, r, "")
	bad := &sdk.Record{ID: "b", Body: json.RawMessage(`[1,2]`)}
	out, err := o.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{bad, record(t, threat)}})
	if err != nil || len(out.Rejected) != 1 || out.Rejected[0].Index != 0 || len(r.spans()) != 1 {
		t.Fatalf("err %v rejected %v spans %d", err, out.Rejected, len(r.spans()))
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct{ cfg, field string }{
		{`{}`, "endpoint"},
		{`{"endpoint":"http://collector:4317"}`, "endpoint"},
		{`{"endpoint":"collector"}`, "endpoint"},
		{`{"endpoint":"c:4317","span_kind":"producer"}`, "span_kind"},
		{`{"endpoint":"c:4317","ca_file":"/nonexistent/ca.pem"}`, "ca_file"},
	} {
		err := (&Output{}).Validate(sdk.Config{Raw: json.RawMessage(tc.cfg)})
		var fe *sdk.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: %v, want an error on %s", tc.cfg, err, tc.field)
		}
	}
}

// The README's configuration table documents every schema field.
func TestReadmeDocumentsEveryField(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Definition.Config.Fields {
		if !strings.Contains(string(readme), "| `"+f.Name+"` | "+string(f.Type)+" |") {
			t.Errorf("README table lacks %s (%s)", f.Name, f.Type)
		}
	}
}

package otlp

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/sentinel-audit/sentinel/sdk"
)

// event is what the span and metric mapping read from an audit event: the
// tap writes both the canonical fields and the semantic-convention names,
// and other producers may write only the canonical ones.
type event struct {
	Type          string          `json:"event_type"`
	Severity      string          `json:"severity"`
	Method        string          `json:"method"`
	MethodName    string          `json:"mcp.method.name"`
	ToolName      string          `json:"tool_name"`
	ToolNameAttr  string          `json:"gen_ai.tool.name"`
	PromptName    string          `json:"prompt_name"`
	PromptAttr    string          `json:"gen_ai.prompt.name"`
	OperationName string          `json:"gen_ai.operation.name"`
	ResourceURI   string          `json:"resource_uri"`
	ResourceAttr  string          `json:"mcp.resource.uri"`
	MCPSessionID  string          `json:"mcp.session.id"`
	Protocol      string          `json:"mcp.protocol.version"`
	RequestID     string          `json:"jsonrpc.request.id"`
	ErrorType     string          `json:"error.type"`
	RPCStatus     string          `json:"rpc.response.status_code"`
	ErrorCode     *int            `json:"error_code"`
	Error         string          `json:"error"`
	Transport     string          `json:"network.transport"`
	NetProtocol   string          `json:"network.protocol.name"`
	ClientAddress string          `json:"client.address"`
	ServerAddress string          `json:"server.address"`
	DurationMS    *float64        `json:"duration_ms"`
	Success       *bool           `json:"success"`
	TraceID       string          `json:"trace_id"`
	SpanID        string          `json:"span_id"`
	SessionID     string          `json:"session_id"`
	ClientID      string          `json:"client_id"`
	Server        string          `json:"server"`
	SourceIP      string          `json:"source_ip"`
	Reason        string          `json:"reason"`
	Status        string          `json:"status"`
	Arguments     json.RawMessage `json:"arguments"`
	Result        json.RawMessage `json:"result"`
}

// normalize fills the semantic-convention fields from the canonical ones.
func (e *event) normalize() {
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&e.MethodName, e.Method)
	fill(&e.ToolNameAttr, e.ToolName)
	fill(&e.PromptAttr, e.PromptName)
	fill(&e.ResourceAttr, e.ResourceURI)
	fill(&e.ClientAddress, e.SourceIP)
	if e.ErrorType == "" && e.Success != nil && !*e.Success && e.MethodName != "" {
		switch {
		case e.ErrorCode != nil:
			e.ErrorType = strconv.Itoa(*e.ErrorCode)
		case e.MethodName == "tools/call":
			e.ErrorType = "tool_error"
		default:
			e.ErrorType = "_OTHER"
		}
	}
	if e.RPCStatus == "" && e.ErrorCode != nil {
		e.RPCStatus = strconv.Itoa(*e.ErrorCode)
	}
	if e.OperationName == "" && e.MethodName == "tools/call" {
		e.OperationName = "execute_tool"
	}
}

// operation reports whether the event is an MCP operation (a method with an
// outcome), which becomes an mcp span and a duration measurement; other
// events (threats, violations, token use) become internal spans.
func (e *event) operation() bool { return e.MethodName != "" && e.DurationMS != nil }

// spanName follows the conventions: "{mcp.method.name} {target}" with the
// tool or prompt name as target, else the method; non-operations are named
// by their event type.
func (e *event) spanName() string {
	if e.MethodName == "" {
		if e.Type == "" {
			return "mcp_event"
		}
		return e.Type
	}
	switch {
	case e.ToolNameAttr != "":
		return e.MethodName + " " + e.ToolNameAttr
	case e.PromptAttr != "":
		return e.MethodName + " " + e.PromptAttr
	}
	return e.MethodName
}

// attributes are the span's: the MCP semantic-convention attributes first,
// then Sentinel's own under sentinel.* (the event's identity and verdict).
func (e *event) attributes(r *sdk.Record, includeArgs bool) []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 24)
	add := func(k attribute.Key, v string) {
		if v != "" {
			kv = append(kv, k.String(v))
		}
	}
	add(semconv.McpMethodNameKey, e.MethodName)
	add(semconv.GenAIToolNameKey, e.ToolNameAttr)
	add(semconv.GenAIPromptNameKey, e.PromptAttr)
	add(semconv.GenAIOperationNameKey, e.OperationName)
	add(semconv.McpResourceURIKey, e.ResourceAttr)
	if e.Protocol != "2026-07-28" { // the conventions forbid a session id on stateless connections
		add(semconv.McpSessionIDKey, e.MCPSessionID)
	}
	add(semconv.McpProtocolVersionKey, e.Protocol)
	add(semconv.JSONRPCRequestIDKey, e.RequestID)
	add(semconv.ErrorTypeKey, e.ErrorType)
	add(semconv.RPCResponseStatusCodeKey, e.RPCStatus)
	add(semconv.NetworkTransportKey, e.Transport)
	add(semconv.NetworkProtocolNameKey, e.NetProtocol)
	add(semconv.ClientAddressKey, e.ClientAddress)
	add(semconv.ServerAddressKey, e.ServerAddress)
	if includeArgs {
		if len(e.Arguments) > 0 {
			add(semconv.GenAIToolCallArgumentsKey, string(e.Arguments))
		}
		if len(e.Result) > 0 {
			add(semconv.GenAIToolCallResultKey, string(e.Result))
		}
	}
	add("sentinel.event.id", r.ID)
	add("sentinel.event.type", e.Type)
	add("sentinel.severity", e.Severity)
	add("sentinel.session.id", e.SessionID)
	add("sentinel.client.id", e.ClientID)
	add("sentinel.server", e.Server)
	add("sentinel.status", e.Status)
	add("sentinel.reason", e.Reason)
	if e.Success != nil {
		kv = append(kv, attribute.Bool("sentinel.success", *e.Success))
	}
	if r.Classification != "" {
		add("sentinel.classification", r.Classification)
	}
	return kv
}

// window is the span's start and end: the event's timestamp is when the
// response was seen, so the operation started duration_ms earlier.
func (e *event) window(r *sdk.Record) (start, end time.Time) {
	end = r.Time
	if e.DurationMS != nil && *e.DurationMS > 0 {
		return end.Add(-time.Duration(*e.DurationMS * float64(time.Millisecond))), end
	}
	return end, end
}

// parent is the client's trace context the tap read from params._meta, so
// the span joins the caller's trace.
func (e *event) parent(ctx context.Context) context.Context {
	tid, err1 := trace.TraceIDFromHex(e.TraceID)
	sid, err2 := trace.SpanIDFromHex(e.SpanID)
	if err1 != nil || err2 != nil {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true,
	}))
}

// status is ERROR with the JSON-RPC message when error.type is set.
func (e *event) status() (codes.Code, string) {
	if e.ErrorType != "" || (e.Success != nil && !*e.Success && e.Error != "") {
		return codes.Error, e.Error
	}
	return codes.Unset, ""
}

// eventIDKey carries the event id to the id generator through the context.
type eventIDKey struct{}

// eventIDs derives span (and, without a parent, trace) ids from the event id,
// so a batch retried after a failed export sends identical spans, which a
// backend can deduplicate.
type eventIDs struct{}

func (eventIDs) digest(ctx context.Context) [32]byte {
	id, _ := ctx.Value(eventIDKey{}).(string)
	return sha256.Sum256([]byte("sentinel-span\x00" + id))
}

func (g eventIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	d := g.digest(ctx)
	var tid trace.TraceID
	var sid trace.SpanID
	copy(tid[:], d[:16])
	copy(sid[:], d[16:24])
	return tid, sid
}

func (g eventIDs) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	d := g.digest(ctx)
	var sid trace.SpanID
	copy(sid[:], d[16:24])
	return sid
}

// collector is a span processor that keeps ended spans for the output to
// export itself, synchronously, so Process knows whether they were delivered.
type collector struct {
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
}

func (c *collector) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c *collector) OnEnd(s sdktrace.ReadOnlySpan) {
	c.mu.Lock()
	c.spans = append(c.spans, s)
	c.mu.Unlock()
}
func (c *collector) Shutdown(context.Context) error   { return nil }
func (c *collector) ForceFlush(context.Context) error { return nil }

func (c *collector) take() []sdktrace.ReadOnlySpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.spans
	c.spans = nil
	return s
}

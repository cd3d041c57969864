package tap

import (
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/sentinel-audit/sentinel/sdk"
)

// EventSession is the tap's event type for session start and end; the ten
// MCP types of sdk.EventTypes have no place for the session lifecycle.
const EventSession = "mcp_session_events"

// Severities, lowest first.
const (
	SeverityInfo     = "info"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Event is one audit event as the tap emits it: the canonical Sentinel fields,
// then the OpenTelemetry MCP semantic-convention attributes under their own
// dotted names, so that outputs can map either. The README documents it.
type Event struct {
	EventID         string          `json:"event_id"`
	Timestamp       string          `json:"timestamp"`
	EventType       string          `json:"event_type"`
	Severity        string          `json:"severity"`
	SessionID       string          `json:"session_id,omitempty"`
	ClientID        string          `json:"client_id,omitempty"`
	SourceIP        string          `json:"source_ip,omitempty"`
	Server          string          `json:"server,omitempty"`
	MCPEndpoint     string          `json:"mcp_endpoint,omitempty"`
	Method          string          `json:"method,omitempty"`
	Direction       string          `json:"direction,omitempty"`
	Status          string          `json:"status,omitempty"`
	Action          string          `json:"action,omitempty"`
	Reason          string          `json:"reason,omitempty"`
	ToolName        string          `json:"tool_name,omitempty"`
	PromptName      string          `json:"prompt_name,omitempty"`
	ResourceURI     string          `json:"resource_uri,omitempty"`
	Arguments       json.RawMessage `json:"arguments,omitempty"`
	Result          json.RawMessage `json:"result,omitempty"`
	ResultBytes     int             `json:"result_bytes,omitempty"`
	ResultTruncated bool            `json:"result_truncated,omitempty"`
	DurationMS      *float64        `json:"duration_ms,omitempty"`
	Success         *bool           `json:"success,omitempty"`
	Error           string          `json:"error,omitempty"`
	ErrorCode       *int            `json:"error_code,omitempty"`
	CorrelationID   string          `json:"correlation_id,omitempty"`
	TraceID         string          `json:"trace_id,omitempty"`
	SpanID          string          `json:"span_id,omitempty"`
	HTTPStatus      int             `json:"http_status,omitempty"`
	TokenHash       string          `json:"token_hash,omitempty"`
	Client          *Implementation `json:"client_info,omitempty"`
	ServerInfo      *Implementation `json:"server_info,omitempty"`
	Details         map[string]any  `json:"details,omitempty"`

	MethodName         string   `json:"mcp.method.name,omitempty"`
	MCPSessionID       string   `json:"mcp.session.id,omitempty"`
	ProtocolVersion    string   `json:"mcp.protocol.version,omitempty"`
	ResourceURIAttr    string   `json:"mcp.resource.uri,omitempty"`
	ToolNameAttr       string   `json:"gen_ai.tool.name,omitempty"`
	PromptNameAttr     string   `json:"gen_ai.prompt.name,omitempty"`
	OperationName      string   `json:"gen_ai.operation.name,omitempty"`
	RequestID          string   `json:"jsonrpc.request.id,omitempty"`
	ErrorType          string   `json:"error.type,omitempty"`
	RPCStatusCode      string   `json:"rpc.response.status_code,omitempty"`
	NetworkTransport   string   `json:"network.transport,omitempty"`
	NetworkProtocol    string   `json:"network.protocol.name,omitempty"`
	ClientAddress      string   `json:"client.address,omitempty"`
	ServerAddress      string   `json:"server.address,omitempty"`
	OperationDurationS *float64 `json:"mcp.server.operation.duration,omitempty"`
}

// Implementation is an MCP clientInfo or serverInfo (self-reported).
type Implementation struct {
	Name    string `json:"name,omitempty"`
	Title   string `json:"title,omitempty"`
	Version string `json:"version,omitempty"`
}

func (i *Implementation) id() string {
	if i == nil || i.Name == "" {
		return ""
	}
	if i.Version == "" {
		return i.Name
	}
	return i.Name + "/" + i.Version
}

func newEvent(now time.Time, typ, severity string) *Event {
	now = now.UTC()
	return &Event{
		EventID:   sdk.NewID(now),
		Timestamp: now.Format(time.RFC3339Nano),
		EventType: typ,
		Severity:  severity,
	}
}

// truncateJSON keeps a JSON value whole when it fits in max bytes; a longer
// one becomes a JSON string of its first bytes (cut on a rune boundary).
func truncateJSON(raw json.RawMessage, max int) (out json.RawMessage, truncated bool) {
	if len(raw) <= max || max <= 0 {
		return raw, false
	}
	cut := raw[:max]
	for i := 0; i < utf8.UTFMax-1 && len(cut) > 0; i++ {
		if r, size := utf8.DecodeLastRune(cut); r != utf8.RuneError || size != 1 {
			break
		}
		cut = cut[:len(cut)-1]
	}
	b, _ := json.Marshal(string(cut))
	return b, true
}

func ptr[T any](v T) *T { return &v }

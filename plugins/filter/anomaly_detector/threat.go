package anomaly_detector

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// event is the part of an audit event the detectors read; the body is parsed
// once per record into it.
type event struct {
	id          string
	at          time.Time
	Type        string          `json:"event_type"`
	Severity    string          `json:"severity"`
	ClientID    string          `json:"client_id"`
	SourceIP    string          `json:"source_ip"`
	Server      string          `json:"server"`
	MCPEndpoint string          `json:"mcp_endpoint"`
	SessionID   string          `json:"session_id"`
	ToolName    string          `json:"tool_name"`
	Method      string          `json:"method"`
	Action      string          `json:"action"`
	Reason      string          `json:"reason"`
	Success     *bool           `json:"success"`
	Error       string          `json:"error"`
	TokenHash   string          `json:"token_hash"`
	Detector    string          `json:"detector"`
	Description string          `json:"description"`
	Arguments   json.RawMessage `json:"arguments"`
	Result      json.RawMessage `json:"result"`
	Details     json.RawMessage `json:"details"`
}

func (e *event) mark() mark { return mark{id: e.id, at: e.at} }

func (e *event) failed() bool { return (e.Success != nil && !*e.Success) || e.Error != "" }

// client names who acted: the client id, else the address, else the session.
func (e *event) client() string {
	switch {
	case e.ClientID != "":
		return e.ClientID
	case e.SourceIP != "":
		return e.SourceIP
	case e.SessionID != "":
		return "session:" + e.SessionID
	}
	return "unknown"
}

// evidence is what an alert rests on: how many events, over what window,
// and the first and last of them, so an analyst can pull the raw events.
type evidence struct {
	Count        int     `json:"count"`
	Threshold    float64 `json:"threshold,omitempty"`
	Window       string  `json:"window,omitempty"`
	Key          string  `json:"key"`
	FirstEventID string  `json:"first_event_id,omitempty"`
	LastEventID  string  `json:"last_event_id,omitempty"`
	FirstSeen    string  `json:"first_seen,omitempty"`
	LastSeen     string  `json:"last_seen,omitempty"`
	Total        int     `json:"total,omitempty"`
	Rate         float64 `json:"rate,omitempty"`
	Baseline     float64 `json:"baseline,omitempty"`
}

func (ev *evidence) span(first, last mark) {
	ev.FirstEventID, ev.LastEventID = first.id, last.id
	if !first.at.IsZero() {
		ev.FirstSeen = first.at.UTC().Format(time.RFC3339Nano)
	}
	if !last.at.IsZero() {
		ev.LastSeen = last.at.UTC().Format(time.RFC3339Nano)
	}
}

// threat is one raised alert before it becomes a record.
type threat struct {
	reason     string  // the detector, e.g. auth_failure_burst
	category   string  // what kind of attack it suggests
	owasp      string  // OWASP MCP Top 10 item
	severity   string  // info, low, medium, high, critical
	confidence float64 // 0..1; the classifier raises > 0.8 to critical
	src        *event  // identity fields are copied from it; may be nil
	at         time.Time
	evidence   evidence
	details    map[string]any
}

// threatBody is the JSON of a raised mcp_security_threats event. Field names
// are the canonical ones so every output maps them like the tap's events.
type threatBody struct {
	EventID       string         `json:"event_id"`
	Timestamp     string         `json:"timestamp"`
	EventType     string         `json:"event_type"`
	Severity      string         `json:"severity"`
	Reason        string         `json:"reason"`
	Threat        string         `json:"threat"`
	OWASP         string         `json:"owasp"`
	Confidence    float64        `json:"confidence"`
	Detector      string         `json:"detector"`
	Success       bool           `json:"success"`
	ClientID      string         `json:"client_id,omitempty"`
	SourceIP      string         `json:"source_ip,omitempty"`
	Server        string         `json:"server,omitempty"`
	MCPEndpoint   string         `json:"mcp_endpoint,omitempty"`
	SessionID     string         `json:"session_id,omitempty"`
	ToolName      string         `json:"tool_name,omitempty"`
	CorrelationID string         `json:"correlation_id,omitempty"`
	Evidence      evidence       `json:"evidence"`
	Details       map[string]any `json:"details,omitempty"`
}

// record builds the alert. Its id is derived from the detector, the key and
// the last evidence event, so replaying the same events raises the same id
// and an idempotent destination (Elasticsearch create, the store's replay
// dedup) keeps one copy.
func (t *threat) record() (*sdk.Record, error) {
	at := t.at.UTC()
	sum := sha256.Sum256([]byte(t.reason + "\x00" + t.evidence.Key + "\x00" + t.evidence.LastEventID))
	var key [10]byte
	copy(key[:], sum[:])
	b := threatBody{
		EventID: sdk.DeterministicID(at, key), Timestamp: at.Format(time.RFC3339Nano),
		EventType: sdk.EventSecurityThreats, Severity: t.severity, Reason: t.reason, Threat: t.category,
		OWASP: t.owasp, Confidence: t.confidence, Detector: Definition.Name, Success: false,
		CorrelationID: t.evidence.LastEventID, Evidence: t.evidence, Details: t.details,
	}
	if s := t.src; s != nil {
		b.ClientID, b.SourceIP, b.Server, b.MCPEndpoint = s.ClientID, s.SourceIP, s.Server, s.MCPEndpoint
		b.SessionID, b.ToolName = s.SessionID, s.ToolName
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("anomaly_detector: encode %s alert: %w", t.reason, err)
	}
	return sdk.NewRecord(raw)
}

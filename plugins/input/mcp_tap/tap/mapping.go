package tap

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// _meta keys of the 2026-07-28 per-request envelope.
const (
	metaProtocolVersion = "io.modelcontextprotocol/protocolVersion"
	metaClientInfo      = "io.modelcontextprotocol/clientInfo"
	metaServerInfo      = "io.modelcontextprotocol/serverInfo"
)

var knownRequests = setOf(
	"initialize", "ping", "server/discover",
	"tools/list", "tools/call",
	"resources/list", "resources/templates/list", "resources/read", "resources/subscribe", "resources/unsubscribe",
	"subscriptions/listen", "prompts/list", "prompts/get", "completion/complete", "logging/setLevel",
	"sampling/createMessage", "elicitation/create", "roots/list",
	"tasks/get", "tasks/result", "tasks/list", "tasks/cancel", "tasks/update",
)

var knownNotifications = setOf(
	"notifications/initialized", "notifications/cancelled", "notifications/progress", "notifications/message",
	"notifications/roots/list_changed", "notifications/tools/list_changed", "notifications/prompts/list_changed",
	"notifications/resources/list_changed", "notifications/resources/updated", "notifications/elicitation/complete",
	"notifications/tasks/status", "notifications/subscriptions/acknowledged",
)

func setOf(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// params holds the request fields any mapping needs; the rest stays unread.
type params struct {
	Name            string                     `json:"name"`
	URI             string                     `json:"uri"`
	Arguments       json.RawMessage            `json:"arguments"`
	Meta            map[string]json.RawMessage `json:"_meta"`
	ProtocolVersion string                     `json:"protocolVersion"`
	ClientInfo      *Implementation            `json:"clientInfo"`
	RequestID       json.RawMessage            `json:"requestId"`
	Reason          string                     `json:"reason"`
	RequestState    string                     `json:"requestState"`
	Cursor          *string                    `json:"cursor"`
	Mode            string                     `json:"mode"`
	URL             string                     `json:"url"`
	Ref             *struct {
		Type string `json:"type"`
		Name string `json:"name"`
		URI  string `json:"uri"`
	} `json:"ref"`
	Notifications *struct {
		ResourceSubscriptions []string `json:"resourceSubscriptions"`
	} `json:"notifications"`
}

func decodeParams(raw json.RawMessage) *params {
	p := &params{}
	if len(raw) > 0 && firstByte(raw) == '{' {
		_ = json.Unmarshal(raw, p) // a bad params object maps to empty fields; the server judges it
	}
	return p
}

// result holds the response fields any mapping needs.
type result struct {
	IsError         bool                       `json:"isError"`
	ResultType      string                     `json:"resultType"`
	RequestState    string                     `json:"requestState"`
	ProtocolVersion string                     `json:"protocolVersion"`
	ServerInfo      *Implementation            `json:"serverInfo"`
	Meta            map[string]json.RawMessage `json:"_meta"`
	Tools           []json.RawMessage          `json:"tools"`
	NextCursor      *string                    `json:"nextCursor"`
	Content         []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	SupportedVersions []string `json:"supportedVersions"`
	Action            string   `json:"action"`
	Model             string   `json:"model"`
}

func metaString(meta map[string]json.RawMessage, key string) string {
	raw, ok := meta[key]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// traceContext reads W3C trace context from params._meta.traceparent
// ("00-<32 hex trace id>-<16 hex span id>-<2 hex flags>").
func traceContext(meta map[string]json.RawMessage) (traceID, spanID string) {
	tp := metaString(meta, "traceparent")
	parts := strings.Split(tp, "-")
	if len(parts) < 4 || len(parts[1]) != 32 || len(parts[2]) != 16 || !isHex(parts[1]) || !isHex(parts[2]) {
		return "", ""
	}
	if parts[1] == strings.Repeat("0", 32) || parts[2] == strings.Repeat("0", 16) {
		return "", ""
	}
	return parts[1], parts[2]
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// mrtrCorrelation links an input_required result with the retried requests
// that carry its requestState, so they read as one logical operation.
func mrtrCorrelation(state string) string {
	sum := sha256.Sum256([]byte(state))
	return "mrtr:" + hex.EncodeToString(sum[:8])
}

// finish closes a pending request with its response m (nil when it got none)
// and emits the event its method maps to. Called with s.mu held.
func (s *Session) finish(pd *pending, m *message, status, reason string, now time.Time) {
	var res result
	if m != nil && len(m.Result) > 0 && firstByte(m.Result) == '{' {
		_ = json.Unmarshal(m.Result, &res)
	}
	if v := metaString(res.Meta, metaProtocolVersion); v != "" && s.protocol == "" {
		s.protocol = v
	}
	if raw, ok := res.Meta[metaServerInfo]; ok && s.server == nil {
		// 2026-07-28 results name their server; a stateless exchange has no discover
		var si Implementation
		if json.Unmarshal(raw, &si) == nil && si.Name != "" {
			s.server = &si
		}
	}
	var success *bool
	var errText, errType string
	var errCode *int
	switch {
	case status != "":
		success = ptr(false)
	case m.Error != nil:
		status, success, errText = "error", ptr(false), m.Error.Message
		errCode, errType = ptr(m.Error.Code), strconv.Itoa(m.Error.Code)
	case res.IsError:
		status, success, errType = "error", ptr(false), "tool_error"
		errText = toolErrorText(&res)
	case res.ResultType == "input_required":
		status = "input_required" // not an outcome yet: the retry will carry it
		if res.RequestState != "" && pd.correlation == "" {
			pd.correlation = mrtrCorrelation(res.RequestState)
		}
	default:
		status, success = "success", ptr(true)
	}

	var ev *Event
	sev := SeverityInfo
	if success != nil && !*success {
		sev = SeverityLow
	}
	p := pd.params
	switch pd.method {
	case "tools/call":
		ev = s.baseLocked(sdk.EventToolExecution, sev, pd.dir, pd.method, now)
		ev.ToolName, ev.ToolNameAttr, ev.OperationName = p.Name, p.Name, "execute_tool"
		ev.Arguments, _ = truncateJSON(p.Arguments, s.t.cfg.MaxPayload)
		if m != nil && m.Result != nil {
			ev.ResultBytes = len(m.Result)
			ev.Result, ev.ResultTruncated = truncateJSON(m.Result, s.t.cfg.MaxPayload)
		}
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		ev = s.baseLocked(sdk.EventResourceAccess, sev, pd.dir, pd.method, now)
		ev.ResourceURI, ev.ResourceURIAttr = p.URI, p.URI
		if m != nil {
			ev.ResultBytes = len(m.Result)
		}
	case "subscriptions/listen":
		if p.Notifications == nil || len(p.Notifications.ResourceSubscriptions) == 0 {
			return
		}
		ev = s.baseLocked(sdk.EventResourceAccess, sev, pd.dir, pd.method, now)
		ev.ResourceURI = p.Notifications.ResourceSubscriptions[0]
		ev.ResourceURIAttr = ev.ResourceURI
		ev.Details = map[string]any{"resource_subscriptions": p.Notifications.ResourceSubscriptions}
	case "prompts/get", "completion/complete":
		ev = s.baseLocked(sdk.EventPromptRequest, sev, pd.dir, pd.method, now)
		name := p.Name
		if p.Ref != nil {
			name = p.Ref.Name
			if name == "" {
				ev.ResourceURI = p.Ref.URI
			}
		}
		ev.PromptName, ev.PromptNameAttr = name, name
		ev.Arguments, _ = truncateJSON(p.Arguments, s.t.cfg.MaxPayload)
	case "initialize", "server/discover":
		if m == nil || m.Error != nil {
			ev = s.baseLocked(EventSession, SeverityLow, pd.dir, pd.method, now)
			ev.Action = "start_failed"
			break
		}
		s.learnServer(pd, &res)
		if s.startEmitted {
			return
		}
		s.startEmitted = true
		ev = s.baseLocked(EventSession, SeverityInfo, pd.dir, pd.method, now)
		ev.Action = "start"
		ev.Client, ev.ServerInfo = s.client, s.server
		if len(res.SupportedVersions) > 0 {
			ev.Details = map[string]any{"supported_versions": res.SupportedVersions}
		}
	case "tools/list":
		if success != nil && *success {
			s.inventory(pd, &res, now)
		}
		return
	case "sampling/createMessage", "elicitation/create", "roots/list":
		// the server reaching into the client: its LLM, its user, its files
		sev := SeverityMedium
		if pd.method == "roots/list" {
			sev = SeverityLow
		}
		if pd.method == "elicitation/create" && p.Mode == "url" {
			sev = SeverityHigh
		}
		ev = s.baseLocked(sdk.EventSecurityThreats, sev, pd.dir, pd.method, now)
		ev.Reason = "server_initiated_" + strings.SplitN(pd.method, "/", 2)[0]
		details := map[string]any{}
		if p.Mode != "" {
			details["mode"] = p.Mode
		}
		if p.URL != "" {
			details["url"] = p.URL
		}
		if res.Action != "" {
			details["action"] = res.Action
		}
		if res.Model != "" {
			details["model"] = res.Model
		}
		if len(details) > 0 {
			ev.Details = details
		}
	default:
		return // counted, not an audit event of its own (ping, lists, tasks, logging)
	}
	ev.Status, ev.Success, ev.Error, ev.ErrorCode, ev.ErrorType = status, success, errText, errCode, errType
	if reason != "" {
		ev.Reason = reason
	}
	if errCode != nil {
		ev.RPCStatusCode = strconv.Itoa(*errCode)
	}
	d := ms(now.Sub(pd.start))
	ev.DurationMS = &d
	ev.OperationDurationS = ptr(now.Sub(pd.start).Seconds())
	ev.RequestID = idString(pd.id)
	ev.TraceID, ev.SpanID, ev.CorrelationID = pd.traceID, pd.spanID, pd.correlation
	s.t.emit(ev)
}

// learnServer records the identity and version a server reports in its
// initialize or server/discover result.
func (s *Session) learnServer(pd *pending, res *result) {
	if pd.method == "initialize" && pd.params.ClientInfo != nil && pd.params.ClientInfo.Name != "" {
		s.client = pd.params.ClientInfo
	}
	if res.ServerInfo != nil && res.ServerInfo.Name != "" {
		s.server = res.ServerInfo
	}
	if raw, ok := res.Meta[metaServerInfo]; ok {
		var si Implementation
		if json.Unmarshal(raw, &si) == nil && si.Name != "" {
			s.server = &si
		}
	}
	if res.ProtocolVersion != "" {
		s.protocol = res.ProtocolVersion
	} else if v := metaString(pd.params.Meta, metaProtocolVersion); v != "" {
		s.protocol = v
	}
}

func toolErrorText(res *result) string {
	for _, c := range res.Content {
		if c.Type == "text" && c.Text != "" {
			if len(c.Text) > 512 {
				return c.Text[:512]
			}
			return c.Text
		}
	}
	return "tool returned isError"
}

package microsoft_sentinel

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sentinel-audit/sentinel/sdk"
)

// maxFieldBytes keeps every string column under the API's 64 KB per value.
const maxFieldBytes = 32 << 10

// asimEventType maps MCP event types to the ASIM AuditEvent EventType enum.
var asimEventType = map[string]string{
	sdk.EventToolExecution:  "Execute",
	sdk.EventResourceAccess: "Read",
	sdk.EventPromptRequest:  "Read",
}

// row is one Logs Ingestion row, shaped after the ASIM AuditEvent schema.
// The column list is the stream declaration in examples/sentinel.
type row struct {
	TimeGenerated      string         `json:"TimeGenerated"`
	EventStartTime     string         `json:"EventStartTime"`
	EventEndTime       string         `json:"EventEndTime"`
	EventCount         int            `json:"EventCount"`
	EventType          string         `json:"EventType"`
	EventResult        string         `json:"EventResult"`
	EventResultDetails string         `json:"EventResultDetails,omitempty"`
	EventSeverity      string         `json:"EventSeverity"`
	EventOriginalType  string         `json:"EventOriginalType"`
	EventOriginalUid   string         `json:"EventOriginalUid"`
	EventProduct       string         `json:"EventProduct"`
	EventVendor        string         `json:"EventVendor"`
	EventSchema        string         `json:"EventSchema"`
	EventSchemaVersion string         `json:"EventSchemaVersion"`
	Operation          string         `json:"Operation"`
	Object             string         `json:"Object,omitempty"`
	ObjectType         string         `json:"ObjectType"`
	NewValue           string         `json:"NewValue,omitempty"`
	ActorUsername      string         `json:"ActorUsername,omitempty"`
	ActorSessionId     string         `json:"ActorSessionId,omitempty"`
	ActingAppName      string         `json:"ActingAppName,omitempty"`
	ActingAppId        string         `json:"ActingAppId,omitempty"`
	SrcIpAddr          string         `json:"SrcIpAddr,omitempty"`
	TargetAppName      string         `json:"TargetAppName,omitempty"`
	TargetUrl          string         `json:"TargetUrl,omitempty"`
	AdditionalFields   map[string]any `json:"AdditionalFields,omitempty"`
}

func (c *Config) toRow(r *sdk.Record) ([]byte, error) {
	var ev map[string]any
	if err := json.Unmarshal(r.Body, &ev); err != nil {
		return nil, fmt.Errorf("record %s: body: %w", r.ID, err)
	}
	str := func(k string) string {
		v, ok := ev[k]
		delete(ev, k)
		if !ok || v == nil {
			return ""
		}
		if s, ok := v.(string); ok {
			return truncate(s)
		}
		b, _ := json.Marshal(v)
		return truncate(string(b))
	}
	ts := r.Time.UTC().Format("2006-01-02T15:04:05.000Z")
	row := row{
		TimeGenerated: ts, EventStartTime: ts, EventEndTime: ts, EventCount: 1,
		EventType: "Other", EventSeverity: asimSeverity(r.Severity), EventOriginalType: r.Type, EventOriginalUid: r.ID,
		EventProduct: c.EventProduct, EventVendor: c.EventVendor, EventSchema: "AuditEvent", EventSchemaVersion: "0.1",
		Operation: r.Type, ObjectType: "Other",
	}
	if t, ok := asimEventType[r.Type]; ok {
		row.EventType = t
	}
	if r.Type == sdk.EventPolicyViolations || r.Type == sdk.EventAuthorizationDecisions {
		row.ObjectType = "Policy Rule"
	}
	for _, k := range []string{"event_id", "timestamp", "event_type", "severity"} {
		delete(ev, k)
	}
	if m := str("method"); m != "" {
		row.Operation = m
	}
	row.Object = str("tool_name")
	row.NewValue = str("arguments")
	row.ActorUsername = str("user_id")
	row.ActorSessionId = str("session_id")
	row.ActingAppName = str("client_id")
	row.ActingAppId = str("agent_id")
	row.SrcIpAddr = str("source_ip")
	row.TargetAppName = str("server")
	row.TargetUrl = str("mcp_endpoint")
	switch s := ev["success"]; s {
	case true:
		row.EventResult = "Success"
	case false:
		row.EventResult = "Failure"
	default:
		row.EventResult = "NA"
	}
	delete(ev, "success")
	row.EventResultDetails = str("error")
	if row.EventResultDetails == "" {
		row.EventResultDetails = r.Status
	}
	if res, ok := ev["result"]; ok {
		if s, ok := res.(string); ok {
			ev["result"] = truncate(s)
		}
	}
	if len(ev) > 0 {
		row.AdditionalFields = ev
	}
	return json.Marshal(row)
}

func asimSeverity(s string) string {
	switch strings.ToLower(s) {
	case "low":
		return "Low"
	case "medium", "warning", "warn":
		return "Medium"
	case "high", "critical", "error":
		return "High"
	}
	return "Informational"
}

func truncate(s string) string {
	if len(s) <= maxFieldBytes {
		return s
	}
	cut := maxFieldBytes
	for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…[truncated]"
}

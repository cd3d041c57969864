package elasticsearch

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// shortType names an event type in index and data stream names.
var shortType = map[string]string{
	sdk.EventToolExecution:          "tools",
	sdk.EventResourceAccess:         "resources",
	sdk.EventPromptRequest:          "prompts",
	sdk.EventAuthentication:         "authn",
	sdk.EventAuthorizationDecisions: "authz",
	sdk.EventPolicyViolations:       "policy",
	sdk.EventOAuth2TokenUsage:       "oauth",
	sdk.EventRateLimiting:           "ratelimit",
	sdk.EventSecurityThreats:        "threats",
	sdk.EventCompliance:             "compliance",
}

// ecsCategory is the ECS event.category of each type.
var ecsCategory = map[string]string{
	sdk.EventToolExecution:          "api",
	sdk.EventResourceAccess:         "api",
	sdk.EventPromptRequest:          "api",
	sdk.EventAuthentication:         "authentication",
	sdk.EventAuthorizationDecisions: "iam",
	sdk.EventPolicyViolations:       "intrusion_detection",
	sdk.EventOAuth2TokenUsage:       "authentication",
	sdk.EventRateLimiting:           "network",
	sdk.EventSecurityThreats:        "threat",
	sdk.EventCompliance:             "configuration",
}

func short(eventType string) string {
	if s, ok := shortType[eventType]; ok {
		return s
	}
	return "other"
}

// indexFor is where a record goes.
func (c *Config) indexFor(r *sdk.Record) string {
	if c.IndexMode == ModeMonthly {
		return fmt.Sprintf("%s-%s-%s", c.IndexPrefix, short(r.Type), r.Time.UTC().Format("2006-01"))
	}
	return "logs-mcp." + short(r.Type) + "-" + c.Namespace
}

// toECS maps a canonical MCP event to ECS field names. Fields ECS has no
// name for live under mcp.*, so nothing of the event is lost.
func (c *Config) toECS(r *sdk.Record) (map[string]any, error) {
	var ev map[string]any
	if err := json.Unmarshal(r.Body, &ev); err != nil {
		return nil, fmt.Errorf("record %s: body: %w", r.ID, err)
	}
	take := func(k string) any {
		v := ev[k]
		delete(ev, k)
		return v
	}
	doc := map[string]any{"@timestamp": r.Time.UTC().Format(time.RFC3339Nano)}
	event := map[string]any{"id": r.ID, "kind": "event", "module": "mcp", "action": r.Type, "dataset": "mcp." + short(r.Type)}
	if cat, ok := ecsCategory[r.Type]; ok {
		event["category"] = []string{cat}
	}
	take("event_id")
	take("timestamp")
	take("event_type")
	switch s := take("success"); {
	case s == true:
		event["outcome"] = "success"
	case s == false:
		event["outcome"] = "failure"
	default:
		event["outcome"] = "unknown"
	}
	if d, ok := take("duration_ms").(float64); ok {
		event["duration"] = int64(d * 1e6) // ECS: nanoseconds
	}
	doc["event"] = event
	if v := take("severity"); v != nil {
		doc["log"] = map[string]any{"level": v}
	}
	if v := take("user_id"); v != nil {
		doc["user"] = map[string]any{"id": v}
	}
	if v := take("source_ip"); v != nil {
		doc["source"] = map[string]any{"ip": v}
	}
	if v := take("server"); v != nil {
		doc["service"] = map[string]any{"name": v}
	}
	if v := take("mcp_endpoint"); v != nil {
		doc["url"] = map[string]any{"original": v}
	}
	if v := take("trace_id"); v != nil {
		doc["trace"] = map[string]any{"id": v}
	}
	if v := take("span_id"); v != nil {
		doc["span"] = map[string]any{"id": v}
	}
	if v := take("error"); v != nil {
		if s, ok := v.(string); ok {
			doc["error"] = map[string]any{"message": s}
		} else {
			b, _ := json.Marshal(v)
			doc["error"] = map[string]any{"message": string(b)}
		}
	}
	if tool, ok := ev["tool_name"].(string); ok && tool != "" {
		doc["message"] = r.Type + " " + tool
	}
	if len(r.Attributes) > 0 {
		labels := map[string]string{}
		for k, v := range r.Attributes {
			labels[strings.ReplaceAll(k, ".", "_")] = v
		}
		doc["labels"] = labels
	}
	// What remains is MCP-specific: session_id, client_id, agent_id, tool_name,
	// arguments, result, cost, correlation_id, classification, compliance, ...
	ev["event_type"] = r.Type
	doc["mcp"] = ev
	if c.IndexMode == ModeDataStream {
		doc["data_stream"] = map[string]any{"type": "logs", "dataset": "mcp." + short(r.Type), "namespace": c.Namespace}
	}
	return doc, nil
}

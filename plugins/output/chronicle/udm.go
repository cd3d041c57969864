package chronicle

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// toUDM maps an MCP audit event to a UDM event (README "UDM mapping").
func (c *Config) toUDM(r *sdk.Record) ([]byte, error) {
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
			return s
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	for _, k := range []string{"event_id", "timestamp", "event_type", "severity"} {
		delete(ev, k)
	}
	user, client, ip := str("user_id"), str("client_id"), str("source_ip")
	server, tool, endpoint := str("server"), str("tool_name"), str("mcp_endpoint")
	method, session, errText := str("method"), str("session_id"), str("error")
	if method == "" {
		method = r.Method
	}
	metadata := map[string]any{
		"event_timestamp":    r.Time.UTC().Format(time.RFC3339Nano),
		"event_type":         udmEventType(r.Type, user != "" || client != "" || ip != "", server != "" || tool != ""),
		"vendor_name":        c.VendorName,
		"product_name":       c.ProductName,
		"product_event_type": strings.TrimSpace(r.Type + " " + method),
		"product_log_id":     r.ID,
	}
	if tool != "" {
		metadata["description"] = tool
	}
	udm := map[string]any{"metadata": metadata}
	principal := map[string]any{}
	if user != "" {
		principal["user"] = map[string]any{"userid": user}
	}
	if client != "" {
		principal["application"] = client
	}
	if ip != "" {
		principal["ip"] = []string{ip}
	}
	if agent := str("agent_id"); agent != "" {
		principal["resource"] = map[string]any{"name": agent}
	}
	if len(principal) > 0 {
		udm["principal"] = principal
	}
	target := map[string]any{}
	if server != "" {
		target["application"] = server
	}
	if tool != "" {
		target["resource"] = map[string]any{"name": tool}
	}
	if endpoint != "" {
		target["url"] = endpoint
	}
	if len(target) > 0 {
		udm["target"] = target
	}
	if session != "" {
		udm["network"] = map[string]any{"session_id": session}
	}
	action := "ALLOW"
	success, hasSuccess := ev["success"].(bool)
	delete(ev, "success")
	if hasSuccess && !success && (r.Type == sdk.EventAuthorizationDecisions || r.Type == sdk.EventPolicyViolations || r.Type == sdk.EventRateLimiting) {
		action = "BLOCK"
	}
	sec := map[string]any{"action": []string{action}, "severity": udmSeverity(r.Severity)}
	if errText != "" {
		sec["summary"] = errText
	} else if r.Status != "" {
		sec["summary"] = r.Status
	}
	udm["security_result"] = []any{sec}
	// What UDM has no field for goes to additional, as strings.
	additional := map[string]any{}
	for k, v := range ev {
		if v == nil {
			continue
		}
		if s, ok := v.(string); ok {
			additional[k] = s
			continue
		}
		b, _ := json.Marshal(v)
		additional[k] = string(b)
	}
	if hasSuccess {
		additional["success"] = fmt.Sprint(success)
	}
	if len(additional) > 0 {
		udm["additional"] = additional
	}
	return json.Marshal(udm)
}

// udmEventType picks a UDM event type whose required fields the event has:
// USER_RESOURCE_ACCESS needs a principal and a target, USER_LOGIN a principal.
func udmEventType(t string, hasPrincipal, hasTarget bool) string {
	switch {
	case t == sdk.EventAuthentication && hasPrincipal:
		return "USER_LOGIN"
	case (t == sdk.EventToolExecution || t == sdk.EventResourceAccess || t == sdk.EventPromptRequest ||
		t == sdk.EventOAuth2TokenUsage || t == sdk.EventAuthorizationDecisions) && hasPrincipal && hasTarget:
		return "USER_RESOURCE_ACCESS"
	}
	return "GENERIC_EVENT"
}

func udmSeverity(s string) string {
	switch strings.ToLower(s) {
	case "low":
		return "LOW"
	case "medium", "warning", "warn":
		return "MEDIUM"
	case "high", "error":
		return "HIGH"
	case "critical":
		return "CRITICAL"
	}
	return "INFORMATIONAL"
}

package classifier

import "github.com/sentinel-audit/sentinel/sdk"

// The seed defaults: what each event type keeps, where it is indexed and how
// long it is retained, which types each audit level passes, and what each
// compliance framework requires. Everything here can be overridden in config.

// typeDefaults is the per-type policy before overrides.
type typeDefaults struct {
	index          string
	retentionDays  int
	fields         []string // type-specific fields kept by minimisation; nil keeps everything
	classification level
	severity       string
}

var seedTypes = map[string]typeDefaults{
	sdk.EventToolExecution: {"mcp-tools", 90,
		[]string{"tool_name", "arguments", "result", "duration_ms", "cost", "success", "error"}, levelInternal, "info"},
	sdk.EventResourceAccess: {"mcp-resources", 365,
		[]string{"resource_type", "resource_id", "resource_uri", "uri", "action", "success", "data_size", "error"}, levelInternal, "info"},
	sdk.EventPromptRequest: {"mcp-prompts", 90, nil, levelInternal, "info"},
	sdk.EventAuthentication: {"mcp-auth", 730,
		[]string{"oauth_flow", "token_type", "success", "failure_reason", "action", "reason"}, levelRestricted, "info"},
	sdk.EventAuthorizationDecisions: {"mcp-authz", 365,
		[]string{"policy_engine", "decision", "confidence", "approval_required", "tool_name", "resource_uri", "reason"}, levelRestricted, "info"},
	sdk.EventPolicyViolations: {"mcp-violations", 2555, // 7 years
		[]string{"violation_type", "details", "action_taken", "tool_name", "reason"}, levelConfidential, "high"},
	sdk.EventOAuth2TokenUsage: {"mcp-auth", 730, nil, levelRestricted, "info"},
	sdk.EventRateLimiting:     {"mcp-rate-limits", 90, nil, levelInternal, "warning"},
	sdk.EventSecurityThreats: {"mcp-threats", 1095, // 3 years
		[]string{"threat_type", "confidence", "indicators", "blocked", "details", "alert_type", "original_event_id", "auto_generated", "reason"}, levelConfidential, "high"},
	sdk.EventCompliance: {"mcp-compliance", 2555, nil, levelInternal, "info"},
	// The tap's session start/end: who connected to which server, when.
	sdk.EventSession: {"mcp-sessions", 365, []string{"action", "reason", "client_info", "server_info",
		"mcp.protocol.version", "duration_ms", "details"}, levelInternal, "info"},
}

// alwaysKept are identity, correlation and classification fields: field
// minimisation never removes them, whatever the type's list says.
var alwaysKept = map[string]bool{
	"event_id": true, "timestamp": true, "event_type": true, "severity": true, "user_id": true,
	"session_id": true, "client_id": true, "agent_id": true, "source_ip": true, "server": true,
	"mcp_endpoint": true, "method": true, "direction": true, "status": true, "correlation_id": true,
	"trace_id": true, "span_id": true, "classification": true, "compliance": true,
	"retention_days": true, "index": true, "pii": true, "result_truncated": true,
}

// Audit levels, as in the seed: basic keeps the essential events, standard is
// comprehensive, enterprise keeps everything.
var levelTypes = map[string][]string{
	"basic": {sdk.EventToolExecution, sdk.EventAuthentication, sdk.EventAuthorizationDecisions},
	"standard": {sdk.EventToolExecution, sdk.EventResourceAccess, sdk.EventPromptRequest,
		sdk.EventAuthentication, sdk.EventAuthorizationDecisions, sdk.EventPolicyViolations, sdk.EventSession},
	"enterprise": append(append([]string{}, sdk.EventTypes...), sdk.EventSession),
}

// framework is one compliance regime: the event types it requires and the
// retention it imposes on them.
type framework struct {
	id            string
	retentionDays int
	eventTypes    []string
}

var seedFrameworks = map[string]framework{
	"sox": {"sox", 2555, // 7 years
		[]string{sdk.EventToolExecution, sdk.EventAuthorizationDecisions, sdk.EventPolicyViolations}},
	"gdpr": {"gdpr", 2190, // 6 years
		[]string{sdk.EventResourceAccess, sdk.EventAuthentication, sdk.EventSecurityThreats}},
	"hipaa": {"hipaa", 2190, // 6 years
		[]string{sdk.EventResourceAccess, sdk.EventAuthentication, sdk.EventAuthorizationDecisions}},
	"soc2": {"soc2", 365,
		[]string{sdk.EventAuthentication, sdk.EventAuthorizationDecisions, sdk.EventPolicyViolations,
			sdk.EventSecurityThreats, sdk.EventCompliance}},
	"pci_dss": {"pci_dss", 365,
		[]string{sdk.EventAuthentication, sdk.EventAuthorizationDecisions, sdk.EventResourceAccess,
			sdk.EventPolicyViolations, sdk.EventSecurityThreats}},
}

// frameworkID accepts "PCI-DSS", "pci_dss", "SOC 2", "soc2", ... .
func frameworkID(name string) (string, bool) {
	n := normalize(name)
	switch n {
	case "sox", "gdpr", "hipaa", "soc2":
		return n, true
	case "pcidss", "pci":
		return "pci_dss", true
	}
	return "", false
}

func normalize(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			out = append(out, c+'a'-'A')
		case (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'):
			out = append(out, c)
		}
	}
	return string(out)
}

// Which findings of pii_tokenizer bring a framework into play.
var piiFrameworks = map[string]string{
	"email": "gdpr", "phone": "gdpr", "ip_address": "gdpr", "ssn": "gdpr", "iban": "gdpr",
	"credit_card": "pci_dss",
}

// level is a data classification, in ascending order of sensitivity.
type level int

const (
	levelPublic level = iota
	levelInternal
	levelConfidential
	levelSecret
	levelRestricted
)

var levelNames = []string{"PUBLIC", "INTERNAL", "CONFIDENTIAL", "SECRET", "RESTRICTED"}

func (l level) String() string { return levelNames[l] }

// json is the level's name as a JSON string.
func (l level) json() string { return levelJSON[l] }

var levelJSON = func() (q [levelRestricted + 1]string) {
	for i, n := range levelNames {
		q[i] = `"` + n + `"`
	}
	return q
}()

// levelByName accepts a level's name in any case and spelling ("Secret",
// "confidential"). It runs for every event, so the common spellings are
// matched without normalizing (which allocates).
func levelByName(s string) (level, bool) {
	if s == "" {
		return 0, false
	}
	for i, n := range levelNames {
		if s == n {
			return level(i), true
		}
	}
	for i, n := range levelNames {
		if normalize(n) == normalize(s) {
			return level(i), true
		}
	}
	return 0, false
}

// frameworkIDs is every framework in its canonical order (the order events
// list them in); a set of frameworks is a bit mask over it.
var frameworkIDs = [...]string{"sox", "gdpr", "hipaa", "soc2", "pci_dss"}

type frameworkSet uint8

func frameworkBit(id string) frameworkSet {
	for i, f := range frameworkIDs {
		if f == id {
			return 1 << i
		}
	}
	return 0
}

// seedPIILevels: personal data is confidential, identifiers that enable
// fraud or are regulated (SSN, card, IBAN) restricted, credentials secret.
var seedPIILevels = map[string]level{
	"email": levelConfidential, "phone": levelConfidential, "ip_address": levelConfidential,
	"ssn": levelRestricted, "credit_card": levelRestricted, "iban": levelRestricted,
}

const piiSecretsGroup = "secrets"

// severities accepted in events, lower case; aliases map to these.
var severities = map[string]string{
	"info": "info", "informational": "info", "low": "low", "medium": "medium", "warning": "warning",
	"warn": "warning", "high": "high", "critical": "critical",
}

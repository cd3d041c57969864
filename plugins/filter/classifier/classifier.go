// Package classifier is the classifier filter: it sets or checks each audit
// event's type and severity, classifies its data, tags the compliance
// frameworks that apply with the retention that follows, routes it to an
// index, applies the audit level and minimises its fields.
package classifier

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition describes the classifier filter to the host.
var Definition = &sdk.Definition{
	Name:    "classifier",
	Kind:    sdk.KindFilter,
	Version: "0.1.0",
	Summary: "Audit level, event type, severity, data classification, compliance, retention and index routing",
	Description: "Sets event_type (from the MCP method when missing) and severity, or checks them; classifies data as " +
		"PUBLIC, INTERNAL, CONFIDENTIAL, SECRET or RESTRICTED from the event type, the \"pii\" counts pii_tokenizer wrote, " +
		"and tool/resource rules; tags the enabled compliance frameworks (SOX, GDPR, HIPAA, SOC 2, PCI-DSS) that apply " +
		"and sets retention_days to the longest applicable retention; routes to an index; drops the event types the " +
		"audit level does not keep; minimises fields per type and truncates result. The record envelope (type, " +
		"severity, classification) follows the body. The host's SENTINEL_FEATURE_COMPLIANCE toggle bypasses this filter.",
	Config: sdk.Schema{Fields: []sdk.Field{
		{Name: "audit_level", Type: sdk.TypeString, Default: defaultAuditLevel, Enum: []string{"basic", "standard", "enterprise"},
			Description: "Which event types pass: basic (tool executions, authentication, authorization), standard (adds " +
				"resource access, prompts, policy violations), enterprise (all ten MCP event types, and custom types when " +
				"unknown_event_types = \"pass\"). Other events are dropped and counted in get_audit_summary.",
			Example: `"enterprise"`},
		{Name: "frameworks", Type: sdk.TypeStringList,
			Description: "Compliance frameworks in force: sox (7-year retention), gdpr (6), hipaa (6), soc2 (1), pci_dss (1). " +
				"An event is tagged with each one that requires its type, that its PII findings bring in (personal data: " +
				"gdpr; cards: pci_dss) or that a rule names.",
			Example: `["sox", "gdpr", "hipaa"]`},
		{Name: "real_time_monitoring", Type: sdk.TypeBool, Default: true,
			Description: "Emit an mcp_security_threats alert event (correlated to the original) for failed authentications " +
				"and high or critical policy violations, and raise threats with confidence above 0.8 to critical. " +
				"Alerts pass only where the audit level keeps security threats (enterprise)."},
		{Name: "retention_days", Type: sdk.TypeInt, Default: defaultRetentionDays,
			Description: "Retention for custom event types, which have no retention of their own.", Example: `365`},
		{Name: "default_classification", Type: sdk.TypeString, Default: "INTERNAL",
			Enum:        levelNames,
			Description: "Classification of event types that the seed does not rate higher (tools, resources, prompts, rate limits, compliance)."},
		{Name: "max_result_chars", Type: sdk.TypeInt, Default: defaultMaxResultChars,
			Description: "Truncate result to this many characters (an object or array becomes the string of its first " +
				"characters) and set result_truncated; 0 keeps results whole.", Example: `4000`},
		{Name: "minimize_fields", Type: sdk.TypeBool, Default: true,
			Description: "Keep only each type's fields (see event_type.fields) besides the identity, correlation and " +
				"classification fields every event keeps."},
		{Name: "unknown_event_types", Type: sdk.TypeString, Default: "reject", Enum: []string{"reject", "pass"},
			Description: "What to do with an event_type outside the ten MCP types: reject (dead-letter it) or pass it at the enterprise level."},
		{Name: "pii_classification", Type: sdk.TypeStringMap,
			Description: "Classification implied by a pii_tokenizer finding type, or \"secrets\" for every secret and " +
				"credential type. Defaults: email, phone, ip_address CONFIDENTIAL; ssn, credit_card, iban RESTRICTED; secrets SECRET.",
			Example: `{ email = "RESTRICTED", secrets = "RESTRICTED" }`},
		{Name: "event_type", Type: sdk.TypeBlockList,
			Description: "Overrides one event type's index, retention, kept fields, default severity or base classification.",
			Fields: []sdk.Field{
				{Name: "name", Type: sdk.TypeString, Required: true, Description: "The event type, e.g. mcp_tool_execution.", Example: `"mcp_tool_execution"`},
				{Name: "index", Type: sdk.TypeString, Description: "Destination index or stream for the type.", Example: `"audit-tools"`},
				{Name: "retention_days", Type: sdk.TypeInt, Description: "Retention before frameworks lengthen it.", Example: `180`},
				{Name: "fields", Type: sdk.TypeStringList, Description: "Type-specific fields kept by minimisation; an empty list keeps the seed's.", Example: `["tool_name", "arguments", "success"]`},
				{Name: "severity", Type: sdk.TypeString, Description: "Severity of events of this type that carry none.", Example: `"medium"`},
				{Name: "classification", Type: sdk.TypeString, Description: "Base classification of the type.", Example: `"CONFIDENTIAL"`},
			}},
		{Name: "framework", Type: sdk.TypeBlockList,
			Description: "Overrides one framework's retention or the event types it requires.",
			Fields: []sdk.Field{
				{Name: "name", Type: sdk.TypeString, Required: true, Description: "sox, gdpr, hipaa, soc2 or pci_dss.", Example: `"pci_dss"`},
				{Name: "retention_days", Type: sdk.TypeInt, Description: "Retention the framework imposes.", Example: `730`},
				{Name: "event_types", Type: sdk.TypeStringList, Description: "Event types the framework requires.", Example: `["mcp_resource_access", "mcp_authentication_events"]`},
			}},
		{Name: "rule", Type: sdk.TypeBlockList,
			Description: "Classifies events by tool name or resource URI (path.Match globs; both must match when both are set).",
			Fields: []sdk.Field{
				{Name: "tool", Type: sdk.TypeString, Description: "Tool name pattern.", Example: `"patient_*"`},
				{Name: "resource", Type: sdk.TypeString, Description: "Resource URI pattern.", Example: `"file:///hr/*"`},
				{Name: "classification", Type: sdk.TypeString, Description: "Minimum classification of matching events.", Example: `"RESTRICTED"`},
				{Name: "frameworks", Type: sdk.TypeStringList, Description: "Frameworks (from frameworks) that apply to matching events.", Example: `["hipaa"]`},
			}},
	}},
	Operations: []sdk.Operation{
		{Name: sdk.OpGetStatus, Description: "audit_level, active_events, real_time_monitoring, compliance_frameworks, retention_days and counters."},
		{Name: "get_audit_summary", Description: "Event types kept, frameworks, and counts by type, classification and framework, filtered and alerts."},
	},
	New: func() sdk.Plugin { return &Classifier{} },
}

// Classifier is one configured classifier instance.
type Classifier struct {
	cfg            Config
	active         map[string]bool
	types          map[string]*typePolicy
	customPolicy   *typePolicy
	frameworks     map[string]framework
	frameworkOrder []string
	pii            map[string]piiEffect // by pii_tokenizer finding type
	secretLevel    level                // of finding types pii does not name
	rules          []rule
	resourceRules  bool // some rule matches resources
	maxResult      int
	minimize       bool
	realtime       bool
	passUnknown    bool
	enabled        frameworkSet
	compliance     [1 << len(frameworkIDs)]complianceSet // by framework set
	keys           keyTable                              // member keys the filter knows

	// per-record scratch, reused: Process runs on one goroutine
	mem []member
	out []byte // the body being rewritten

	mu    sync.Mutex // guards stats; Invoke runs beside Process
	stats stats
}

// piiEffect is what one pii finding type brings to an event.
type piiEffect struct {
	level      level
	frameworks frameworkSet
}

// Validate checks a configuration without side effects.
func (c *Classifier) Validate(sc sdk.Config) error {
	var cfg Config
	if err := sc.Decode(&cfg); err != nil {
		return err
	}
	cfg.frameworksFromEnv()
	return cfg.Validate()
}

// Configure resolves the seed defaults and overrides into lookup tables once.
func (c *Classifier) Configure(_ context.Context, sc sdk.Config) error {
	var cfg Config
	if err := sc.Decode(&cfg); err != nil {
		return err
	}
	cfg.frameworksFromEnv()
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.applyDefaults()
	c.cfg = cfg
	c.maxResult, c.minimize, c.realtime = *cfg.MaxResultChars, *cfg.MinimizeFields, *cfg.RealTimeMonitoring
	c.passUnknown = cfg.UnknownEventTypes == "pass"
	def, _ := levelByName(cfg.DefaultClassification)

	c.frameworks = map[string]framework{}
	for _, name := range cfg.Frameworks {
		id, _ := frameworkID(name)
		c.frameworks[id] = seedFrameworks[id]
	}
	for _, o := range cfg.FrameworkRules {
		id, _ := frameworkID(o.Name)
		f, enabled := c.frameworks[id]
		if !enabled {
			continue // overriding a framework not in force changes nothing
		}
		if o.RetentionDays > 0 {
			f.retentionDays = o.RetentionDays
		}
		if len(o.EventTypes) > 0 {
			f.eventTypes = o.EventTypes
		}
		c.frameworks[id] = f
	}
	c.frameworkOrder = c.frameworkOrder[:0]
	c.enabled = 0
	for _, id := range frameworkIDs {
		if _, ok := c.frameworks[id]; ok {
			c.frameworkOrder = append(c.frameworkOrder, id)
			c.enabled |= frameworkBit(id)
		}
	}
	for set := range c.compliance {
		cs := complianceSet{ids: []string{}, set: frameworkSet(set)}
		for _, id := range c.frameworkOrder {
			if frameworkSet(set)&frameworkBit(id) != 0 {
				cs.ids = append(cs.ids, id)
				cs.retentionDays = max(cs.retentionDays, c.frameworks[id].retentionDays)
			}
		}
		cs.joined = strings.Join(cs.ids, ",")
		js, _ := json.Marshal(cs.ids)
		cs.json = string(js)
		c.compliance[set] = cs
	}

	c.types = map[string]*typePolicy{}
	for name, d := range seedTypes {
		p := &typePolicy{name: name, index: d.index, retentionDays: d.retentionDays, classification: d.classification, severity: d.severity}
		if d.classification == levelInternal {
			p.classification = def
		}
		if d.fields != nil {
			p.fields = set(d.fields)
		}
		c.types[name] = p
	}
	c.customPolicy = &typePolicy{index: "mcp-audit", retentionDays: cfg.RetentionDays, classification: def, severity: "info"}
	for _, o := range cfg.EventTypes {
		p := c.types[o.Name]
		if p == nil {
			cp := *c.customPolicy
			p = &cp
			p.name = o.Name
			c.types[o.Name] = p
		}
		if o.Index != "" {
			p.index = o.Index
		}
		if o.RetentionDays > 0 {
			p.retentionDays = o.RetentionDays
		}
		if len(o.Fields) > 0 {
			p.fields = set(o.Fields)
		}
		if o.Severity != "" {
			p.severity = severities[strings.ToLower(o.Severity)]
		}
		if o.Classification != "" {
			p.classification, _ = levelByName(o.Classification)
		}
	}
	for _, id := range c.frameworkOrder {
		for _, t := range c.frameworks[id].eventTypes {
			if p := c.types[t]; p != nil {
				p.frameworks = append(p.frameworks, id)
				p.frameworkSet |= frameworkBit(id)
			}
		}
	}

	c.active = set(levelTypes[cfg.AuditLevel])
	for _, o := range cfg.EventTypes {
		if _, seeded := seedTypes[o.Name]; !seeded && cfg.AuditLevel == "enterprise" {
			c.active[o.Name] = true
		}
	}

	c.pii = map[string]piiEffect{}
	for k, l := range seedPIILevels {
		c.pii[k] = piiEffect{level: l, frameworks: frameworkBit(piiFrameworks[k])}
	}
	c.secretLevel = levelSecret
	for k, name := range cfg.PIIClassification {
		l, _ := levelByName(name)
		if k == piiSecretsGroup {
			c.secretLevel = l
		} else {
			e := c.pii[k]
			e.level = l
			c.pii[k] = e
		}
	}

	c.rules = c.rules[:0]
	c.resourceRules = false
	for _, r := range cfg.Rules {
		c.resourceRules = c.resourceRules || r.Resource != ""
		rr := rule{tool: r.Tool, resource: r.Resource}
		rr.level, rr.hasLevel = levelByName(r.Classification)
		for _, f := range r.Frameworks {
			id, _ := frameworkID(f)
			rr.frameworks |= frameworkBit(id)
		}
		c.rules = append(c.rules, rr)
	}
	c.resolvePolicies()
	c.stats = newStats()
	return nil
}

// resolvePolicies works out once, for every policy, what classifying and
// rewriting an event of its type would otherwise look up per event.
func (c *Classifier) resolvePolicies() {
	names := c.buildKeys()
	for _, p := range c.policies() {
		p.active = c.active[p.name]
		p.nameJSON = string(sdk.AppendJSONString(nil, p.name))
		p.indexJSON = string(sdk.AppendJSONString(nil, p.index))
		for set, cs := range c.compliance {
			// the longest applicable retention wins
			p.retention[set] = strconv.Itoa(max(p.retentionDays, cs.retentionDays))
		}
		p.actions = c.actionsFor(p, names)
	}
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// Process classifies every record; events the audit level does not keep are
// dropped and counted, bad events rejected with the reason.
func (c *Classifier) Process(_ context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	if c.types == nil {
		return nil, fmt.Errorf("classifier: Process before Configure")
	}
	out := &sdk.Batch{Seq: in.Seq, Records: make([]*sdk.Record, 0, len(in.Records))}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range in.Records {
		alert, drop, reason := c.classify(r)
		switch {
		case reason != "":
			out.Reject(i, "classifier: "+reason)
			c.stats.rejected++
			continue
		case drop:
			continue
		}
		out.Records = append(out.Records, r)
		if alert != nil {
			if _, _, reason := c.classify(alert); reason == "" {
				out.Records = append(out.Records, alert)
				c.stats.alerts++
			}
		}
	}
	return out, nil
}

// classify updates r in place and returns an alert record to emit after it.
func (c *Classifier) classify(r *sdk.Record) (alert *sdk.Record, drop bool, reason string) {
	var ev event
	if err := c.read(r.Body, &ev); err != nil {
		return nil, false, err.Error()
	}
	v, drop, reason := c.decide(&ev)
	if reason != "" {
		return nil, false, reason
	}
	if drop {
		c.countFiltered(&v)
		return nil, true, ""
	}
	r.Body = c.rewrite(&ev, v, v.pol)
	r.Type, r.Severity, r.Classification = v.typ, v.severity, v.level.String()
	if r.Attributes == nil {
		r.Attributes = make(map[string]string, 3)
	}
	r.Attributes["index"] = v.index
	r.Attributes["retention_days"] = v.retention
	r.Attributes["compliance"] = v.compliance.joined
	c.countProcessed(&v)
	if v.alert != "" && c.active[sdk.EventSecurityThreats] {
		alert = c.alertRecord(r, &ev, v)
	}
	return alert, false, ""
}

// alertRecord builds the seed's real-time alert: a security threat event
// correlated to the event that raised it.
func (c *Classifier) alertRecord(r *sdk.Record, ev *event, v verdict) *sdk.Record {
	// The alert's id derives from the original's, so a replayed event raises
	// the same alert and destinations deduplicate it.
	sum := sha256.Sum256([]byte("alert\x00" + r.ID))
	body := map[string]any{
		"event_id":          sdk.DeterministicID(r.Time, [10]byte(sum[:10])),
		"event_type":        sdk.EventSecurityThreats,
		"timestamp":         r.Time.UTC().Format(time.RFC3339Nano),
		"severity":          v.alertSv,
		"alert_type":        v.alert,
		"threat_type":       v.alert,
		"original_event_id": r.ID,
		"correlation_id":    r.ID,
		"auto_generated":    true,
		"details":           strings.ReplaceAll(v.alert, "_", " ") + " detected",
	}
	for i := range ev.members {
		switch m := &ev.members[i]; m.id {
		case keyUserID, keySessionID, keyClientID, keyMCPEndpoint, keySourceIP, keyServer, keyTraceID:
			body[fixedKeys[m.id]] = json.RawMessage(m.value(ev.body))
		}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil
	}
	a, err := sdk.NewRecord(raw)
	if err != nil {
		return nil
	}
	return a
}

// Invoke answers get_status and get_audit_summary in the seed's shapes.
func (c *Classifier) Invoke(_ context.Context, op string, _ json.RawMessage) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	frameworks := append([]string{}, c.frameworkOrder...)
	active := c.activeList()
	switch op {
	case sdk.OpGetStatus:
		return map[string]any{
			"operation":             op,
			"audit_level":           c.cfg.AuditLevel,
			"active_events":         active,
			"real_time_monitoring":  c.realtime,
			"compliance_frameworks": frameworks,
			"retention_days":        c.cfg.RetentionDays,
			"retention_by_type":     c.retentionByType(),
			"events_processed":      sum(c.byType(false)),
			"events_filtered":       sum(c.byType(true)),
			"events_rejected":       c.stats.rejected,
			"alerts_generated":      c.stats.alerts,
		}, nil
	case "get_audit_summary":
		return map[string]any{
			"operation":                op,
			"audit_level":              c.cfg.AuditLevel,
			"total_event_types":        len(active),
			"event_types":              active,
			"compliance_frameworks":    frameworks,
			"real_time_monitoring":     c.realtime,
			"total_events":             sum(c.byType(false)),
			"events_by_type":           c.byType(false),
			"filtered_by_type":         c.byType(true),
			"events_by_classification": c.stats.byClassName(),
			"events_by_framework":      c.stats.byFrameworkID(),
			"events_rejected":          c.stats.rejected,
			"alerts_generated":         c.stats.alerts,
		}, nil
	}
	return nil, sdk.ErrUnknownOperation(op)
}

func (c *Classifier) activeList() []string {
	out := []string{}
	for _, t := range sdk.EventTypes {
		if c.active[t] {
			out = append(out, t)
		}
	}
	var custom []string
	for t := range c.active {
		if _, seeded := seedTypes[t]; !seeded {
			custom = append(custom, t)
		}
	}
	sort.Strings(custom)
	return append(out, custom...)
}

// retentionByType is each kept type's retention with the frameworks in force.
func (c *Classifier) retentionByType() map[string]int {
	out := map[string]int{}
	for t, p := range c.types {
		if !c.active[t] {
			continue
		}
		d := p.retentionDays
		for _, f := range p.frameworks {
			d = max(d, c.frameworks[f].retentionDays)
		}
		out[t] = d
	}
	return out
}

var (
	_ sdk.Plugin     = (*Classifier)(nil)
	_ sdk.Configurer = (*Classifier)(nil)
	_ sdk.Validator  = (*Classifier)(nil)
	_ sdk.Invoker    = (*Classifier)(nil)
)

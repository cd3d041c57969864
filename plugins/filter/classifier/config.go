package classifier

import (
	"os"
	"path"
	"sort"
	"strings"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Config is the classifier block; the schema in classifier.go documents it.
type Config struct {
	AuditLevel            string            `json:"audit_level"`
	Frameworks            []string          `json:"frameworks"`
	RealTimeMonitoring    *bool             `json:"real_time_monitoring"`
	RetentionDays         int               `json:"retention_days"`
	DefaultClassification string            `json:"default_classification"`
	MaxResultChars        *int              `json:"max_result_chars"`
	MinimizeFields        *bool             `json:"minimize_fields"`
	UnknownEventTypes     string            `json:"unknown_event_types"`
	PIIClassification     map[string]string `json:"pii_classification"`
	EventTypes            []EventTypeConfig `json:"event_type"`
	FrameworkRules        []FrameworkConfig `json:"framework"`
	Rules                 []RuleConfig      `json:"rule"`
}

// EventTypeConfig overrides one event type's policy.
type EventTypeConfig struct {
	Name           string   `json:"name"`
	Index          string   `json:"index"`
	RetentionDays  int      `json:"retention_days"`
	Fields         []string `json:"fields"`
	Severity       string   `json:"severity"`
	Classification string   `json:"classification"`
}

// FrameworkConfig overrides one framework's retention or required types.
type FrameworkConfig struct {
	Name          string   `json:"name"`
	RetentionDays int      `json:"retention_days"`
	EventTypes    []string `json:"event_types"`
}

// RuleConfig classifies events by tool name or resource URI (glob patterns).
type RuleConfig struct {
	Tool           string   `json:"tool"`
	Resource       string   `json:"resource"`
	Classification string   `json:"classification"`
	Frameworks     []string `json:"frameworks"`
}

const (
	defaultAuditLevel     = "standard"
	defaultRetentionDays  = 365
	defaultMaxResultChars = 1000
)

func (c *Config) applyDefaults() {
	if c.AuditLevel == "" {
		c.AuditLevel = defaultAuditLevel
	}
	if c.RetentionDays == 0 {
		c.RetentionDays = defaultRetentionDays
	}
	if c.DefaultClassification == "" {
		c.DefaultClassification = "INTERNAL"
	}
	if c.UnknownEventTypes == "" {
		c.UnknownEventTypes = "reject"
	}
	if c.RealTimeMonitoring == nil {
		t := true
		c.RealTimeMonitoring = &t
	}
	if c.MinimizeFields == nil {
		t := true
		c.MinimizeFields = &t
	}
	if c.MaxResultChars == nil {
		n := defaultMaxResultChars
		c.MaxResultChars = &n
	}
}

// Validate checks the configuration; each error names its argument so the
// host can point at the line.
func (c *Config) Validate() error {
	if c.AuditLevel != "" && levelTypes[c.AuditLevel] == nil {
		return sdk.Fieldf("audit_level", "must be one of \"basic\", \"standard\", \"enterprise\", got %q", c.AuditLevel)
	}
	enabled := map[string]bool{}
	for _, f := range c.Frameworks {
		id, ok := frameworkID(f)
		if !ok {
			return sdk.Fieldf("frameworks", "unknown framework %q (want sox, gdpr, hipaa, soc2, pci_dss)", f)
		}
		enabled[id] = true
	}
	if c.RetentionDays < 0 {
		return sdk.Fieldf("retention_days", "must not be negative")
	}
	if c.DefaultClassification != "" {
		if _, ok := levelByName(c.DefaultClassification); !ok {
			return sdk.Fieldf("default_classification", "unknown classification %q (want %s)", c.DefaultClassification, strings.Join(levelNames, ", "))
		}
	}
	if c.MaxResultChars != nil && *c.MaxResultChars < 0 {
		return sdk.Fieldf("max_result_chars", "must not be negative (0 turns truncation off)")
	}
	switch c.UnknownEventTypes {
	case "", "reject", "pass":
	default:
		return sdk.Fieldf("unknown_event_types", "must be \"reject\" or \"pass\", got %q", c.UnknownEventTypes)
	}
	names := make([]string, 0, len(c.PIIClassification))
	for k := range c.PIIClassification {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, ok := levelByName(c.PIIClassification[k]); !ok {
			return sdk.Fieldf("pii_classification", "%s: unknown classification %q (want %s)", k, c.PIIClassification[k], strings.Join(levelNames, ", "))
		}
	}
	seen := map[string]bool{}
	for _, et := range c.EventTypes {
		if _, ok := seedTypes[et.Name]; !ok && !(c.UnknownEventTypes == "pass" && et.Name != "") {
			return sdk.Fieldf("event_type.name", "unknown event type %q (want one of %s)", et.Name, strings.Join(sdk.EventTypes, ", "))
		}
		if seen[et.Name] {
			return sdk.Fieldf("event_type.name", "event type %q is configured twice", et.Name)
		}
		seen[et.Name] = true
		if et.RetentionDays < 0 {
			return sdk.Fieldf("event_type.retention_days", "%s: must not be negative", et.Name)
		}
		if et.Severity != "" && severities[strings.ToLower(et.Severity)] == "" {
			return sdk.Fieldf("event_type.severity", "%s: unknown severity %q (want info, low, medium, warning, high, critical)", et.Name, et.Severity)
		}
		if et.Classification != "" {
			if _, ok := levelByName(et.Classification); !ok {
				return sdk.Fieldf("event_type.classification", "%s: unknown classification %q (want %s)", et.Name, et.Classification, strings.Join(levelNames, ", "))
			}
		}
	}
	for _, f := range c.FrameworkRules {
		if _, ok := frameworkID(f.Name); !ok {
			return sdk.Fieldf("framework.name", "unknown framework %q (want sox, gdpr, hipaa, soc2, pci_dss)", f.Name)
		}
		if f.RetentionDays < 0 {
			return sdk.Fieldf("framework.retention_days", "%s: must not be negative", f.Name)
		}
		for _, t := range f.EventTypes {
			if _, ok := seedTypes[t]; !ok {
				return sdk.Fieldf("framework.event_types", "%s: unknown event type %q", f.Name, t)
			}
		}
	}
	for i, r := range c.Rules {
		if r.Tool == "" && r.Resource == "" {
			return sdk.Fieldf("rule.tool", "rule %d: set tool or resource (a glob such as \"db_*\" or \"file:///hr/*\")", i+1)
		}
		for _, pat := range []string{r.Tool, r.Resource} {
			if _, err := path.Match(pat, ""); err != nil {
				return sdk.Fieldf("rule.tool", "rule %d: bad pattern %q: %v", i+1, pat, err)
			}
		}
		if r.Classification != "" {
			if _, ok := levelByName(r.Classification); !ok {
				return sdk.Fieldf("rule.classification", "rule %d: unknown classification %q (want %s)", i+1, r.Classification, strings.Join(levelNames, ", "))
			}
		}
		for _, f := range r.Frameworks {
			id, ok := frameworkID(f)
			if !ok {
				return sdk.Fieldf("rule.frameworks", "rule %d: unknown framework %q", i+1, f)
			}
			if !enabled[id] {
				return sdk.Fieldf("rule.frameworks", "rule %d: framework %q is not in frameworks; enable it there first", i+1, f)
			}
		}
	}
	return nil
}

// frameworksFromEnv honours the seed's COMPLIANCE_FRAMEWORK (e.g. "SOX,GDPR")
// when the configuration names no frameworks itself.
func (c *Config) frameworksFromEnv() {
	if len(c.Frameworks) > 0 {
		return
	}
	for _, f := range strings.Split(os.Getenv("COMPLIANCE_FRAMEWORK"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			c.Frameworks = append(c.Frameworks, f)
		}
	}
}

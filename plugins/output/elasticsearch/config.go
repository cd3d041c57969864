package elasticsearch

import (
	"net/url"
	"strings"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Index modes.
const (
	ModeDataStream = "data_stream"
	ModeMonthly    = "monthly"
)

// Config is the elasticsearch block.
type Config struct {
	Endpoints       []string          `json:"endpoints"`
	APIKey          string            `json:"api_key,omitempty"`
	Username        string            `json:"username,omitempty"`
	Password        string            `json:"password,omitempty"`
	IndexMode       string            `json:"index_mode,omitempty"`
	Namespace       string            `json:"namespace,omitempty"`
	IndexPrefix     string            `json:"index_prefix,omitempty"`
	Flavor          string            `json:"flavor,omitempty"`
	Retention       sdk.Duration      `json:"retention,omitempty"`
	RetentionByType map[string]string `json:"retention_by_type,omitempty"`
	httpout.Options
}

var defaults = httpout.Defaults{
	MaxRequestBytes:  5_000_000, // well under http.max_content_length (100 MB) and the 5–10 MB sweet spot
	MaxRequestEvents: 2000,
	Concurrency:      4,
	Timeout:          60 * time.Second,
}

func (c *Config) Defaults() {
	c.Options.Normalize(defaults)
	if c.IndexMode == "" {
		c.IndexMode = ModeDataStream
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.IndexPrefix == "" {
		c.IndexPrefix = "mcp"
	}
	if c.Flavor == "" {
		c.Flavor = "auto"
	}
	if c.Retention <= 0 {
		c.Retention = sdk.Duration(365 * 24 * time.Hour)
	}
}

// Validate checks the block without side effects.
func (c *Config) Validate() error {
	if len(c.Endpoints) == 0 {
		return sdk.Fieldf("endpoints", "required: at least one URL, e.g. [\"https://es.example.com:9200\"]")
	}
	for _, e := range c.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return sdk.Fieldf("endpoints", "must be http(s) URLs, got %q", e)
		}
	}
	if c.APIKey != "" && (c.Username != "" || c.Password != "") {
		return sdk.Fieldf("api_key", "use api_key or username/password, not both")
	}
	if (c.Username == "") != (c.Password == "") {
		return sdk.Fieldf("username", "username and password go together")
	}
	switch c.IndexMode {
	case ModeDataStream, ModeMonthly:
	default:
		return sdk.Fieldf("index_mode", "must be %q or %q", ModeDataStream, ModeMonthly)
	}
	// Data stream names: logs-<dataset>-<namespace>, lowercase, no '-' in the parts.
	if strings.ContainsAny(c.Namespace, "-\\/*?\"<>| ,#:") || strings.ToLower(c.Namespace) != c.Namespace {
		return sdk.Fieldf("namespace", "must be lowercase without '-', spaces or \\/*?\"<>|,#:")
	}
	if strings.ContainsAny(c.IndexPrefix, "\\/*?\"<>| ,#:") || strings.ToLower(c.IndexPrefix) != c.IndexPrefix {
		return sdk.Fieldf("index_prefix", "must be a lowercase index name part")
	}
	switch c.Flavor {
	case "auto", "elasticsearch", "opensearch":
	default:
		return sdk.Fieldf("flavor", "must be \"auto\", \"elasticsearch\" or \"opensearch\"")
	}
	for t, v := range c.RetentionByType {
		if _, err := sdk.ParseDuration(v); err != nil {
			return sdk.Fieldf("retention_by_type", "%s: %v", t, err)
		}
	}
	return c.Options.Validate()
}

func schema() sdk.Schema {
	f := []sdk.Field{
		{Name: "endpoints", Type: sdk.TypeStringList, Required: true, Description: "Elasticsearch or OpenSearch node URLs; requests rotate among them.", Example: `["https://es-1.example.com:9200", "https://es-2.example.com:9200"]`},
		{Name: "api_key", Type: sdk.TypeString, Sensitive: true, Description: "Elasticsearch API key (the base64 `id:api_key` form), sent as `Authorization: ApiKey <key>`.", Example: `env("ES_API_KEY")`},
		{Name: "username", Type: sdk.TypeString, Description: "Basic-auth user (OpenSearch security plugin, or Elasticsearch native realm)."},
		{Name: "password", Type: sdk.TypeString, Sensitive: true, Description: "Basic-auth password.", Example: `env("ES_PASSWORD")`},
		{Name: "index_mode", Type: sdk.TypeString, Default: ModeDataStream, Enum: []string{ModeDataStream, ModeMonthly}, Description: "data_stream: one data stream per event type, `logs-mcp.<type>-<namespace>` (e.g. logs-mcp.tools-default). monthly: one index per type and month, `<index_prefix>-<type>-YYYY-MM` (e.g. mcp-tools-2026-11)."},
		{Name: "namespace", Type: sdk.TypeString, Default: "default", Description: "Data stream namespace (environment or tenant)."},
		{Name: "index_prefix", Type: sdk.TypeString, Default: "mcp", Description: "First part of monthly index names."},
		{Name: "flavor", Type: sdk.TypeString, Default: "auto", Enum: []string{"auto", "elasticsearch", "opensearch"}, Description: "What `sentinel setup elasticsearch` installs lifecycle for: ILM / data stream lifecycle (elasticsearch) or ISM (opensearch); auto asks the cluster."},
		{Name: "retention", Type: sdk.TypeDuration, Default: "365d", Description: "How long events are kept, used by `sentinel setup elasticsearch` for the lifecycle it installs."},
		{Name: "retention_by_type", Type: sdk.TypeStringMap, Description: "Retention per event type, overriding retention (follow the classifier's retention).", Example: `{ mcp_security_threats = "2555d", mcp_rate_limiting_events = "30d" }`},
	}
	return sdk.Schema{Fields: append(f, httpout.Fields(defaults)...)}
}

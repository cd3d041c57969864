package splunk_hec

import (
	"net/url"
	"strings"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Config is the splunk_hec block.
type Config struct {
	Endpoint        string       `json:"endpoint"`
	Token           string       `json:"token"`
	Index           string       `json:"index,omitempty"`
	Source          string       `json:"source,omitempty"`
	Sourcetype      string       `json:"sourcetype,omitempty"`
	Hostname        string       `json:"hostname,omitempty"`
	IndexedFields   []string     `json:"indexed_fields,omitempty"`
	Ack             bool         `json:"ack,omitempty"`
	AckPollInterval sdk.Duration `json:"ack_poll_interval,omitempty"`
	AckTimeout      sdk.Duration `json:"ack_timeout,omitempty"`
	HealthCheck     *bool        `json:"health_check,omitempty"`
	httpout.Options
}

var defaults = httpout.Defaults{
	MaxRequestBytes:  1_000_000, // Splunk Cloud stacks and old max_content_length: 1 MB
	MaxRequestEvents: 1000,
	Concurrency:      4,
	Timeout:          30 * time.Second,
}

var defaultIndexedFields = []string{"event_type", "severity", "server", "tool_name", "user_id", "classification", "success"}

func (c *Config) Defaults() {
	c.Options.Normalize(defaults)
	if c.Sourcetype == "" {
		c.Sourcetype = "mcp:audit"
	}
	if c.Source == "" {
		c.Source = "sentinel"
	}
	if c.IndexedFields == nil {
		c.IndexedFields = defaultIndexedFields
	}
	if c.AckPollInterval <= 0 {
		c.AckPollInterval = sdk.Duration(10 * time.Second)
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = sdk.Duration(5 * time.Minute)
	}
	if c.HealthCheck == nil {
		t := true
		c.HealthCheck = &t
	}
}

// baseURL accepts the HEC base URL, tolerating a pasted /services/collector path.
func (c *Config) baseURL() string {
	u := strings.TrimRight(c.Endpoint, "/")
	for _, suffix := range []string{"/services/collector/event/1.0", "/services/collector/event", "/services/collector"} {
		u = strings.TrimSuffix(u, suffix)
	}
	return u
}

// Validate checks the block without side effects.
func (c *Config) Validate() error {
	if c.Endpoint == "" {
		return sdk.Fieldf("endpoint", "required: the HEC base URL, e.g. \"https://splunk.example.com:8088\"")
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return sdk.Fieldf("endpoint", "must be an http(s) URL, got %q", c.Endpoint)
	}
	if c.Token == "" {
		return sdk.Fieldf("token", "required: the HEC token (a GUID)")
	}
	if strings.HasPrefix(c.Token, "Splunk ") {
		return sdk.Fieldf("token", "give the token alone; the \"Splunk \" prefix is added")
	}
	if c.Ack && c.AckTimeout > 0 && c.AckPollInterval > c.AckTimeout {
		return sdk.Fieldf("ack_poll_interval", "longer than ack_timeout")
	}
	return c.Options.Validate()
}

func schema() sdk.Schema {
	f := []sdk.Field{
		{Name: "endpoint", Type: sdk.TypeString, Required: true, Description: "HEC base URL: https://<host>:8088 for Splunk Enterprise, https://http-inputs-<stack>.splunkcloud.com for Splunk Cloud. Events go to <endpoint>/services/collector/event.", Example: `"https://splunk.example.com:8088"`},
		{Name: "token", Type: sdk.TypeString, Required: true, Sensitive: true, Description: "HEC token, sent as `Authorization: Splunk <token>`.", Example: `env("SPLUNK_HEC_TOKEN")`},
		{Name: "index", Type: sdk.TypeString, Description: "Splunk index; empty uses the token's default. An event's own `index` field wins.", Example: `"mcp_audit"`},
		{Name: "source", Type: sdk.TypeString, Default: "sentinel", Description: "Splunk source of every event."},
		{Name: "sourcetype", Type: sdk.TypeString, Default: "mcp:audit", Description: "Splunk sourcetype of every event."},
		{Name: "hostname", Type: sdk.TypeString, Description: "Splunk host of every event; default this machine's hostname."},
		{Name: "indexed_fields", Type: sdk.TypeStringList, Default: defaultIndexedFields, Description: "Event fields also sent as index-time `fields` (fast tstats searches). Objects are flattened to dotted names; values become strings or lists of strings."},
		{Name: "ack", Type: sdk.TypeBool, Default: false, Description: "Use indexer acknowledgement (Splunk Enterprise; the token must have it enabled): records are confirmed upstream only once Splunk reports them indexed."},
		{Name: "ack_poll_interval", Type: sdk.TypeDuration, Default: "10s", Description: "How often to ask /services/collector/ack about pending acknowledgements."},
		{Name: "ack_timeout", Type: sdk.TypeDuration, Default: "5m", Description: "How long to wait for an acknowledgement before sending the events again (Splunk may take ~2 min to flush a small tail)."},
		{Name: "health_check", Type: sdk.TypeBool, Default: true, Description: "Probe /services/collector/health at start; a rejected token stops start-up, an unreachable Splunk only warns."},
	}
	return sdk.Schema{Fields: append(f, httpout.Fields(defaults)...)}
}

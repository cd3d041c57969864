package microsoft_sentinel

import (
	"net/url"
	"strings"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout"
	"github.com/sentinel-audit/sentinel/sdk"
)

// maxCallBytes is the Logs Ingestion API's limit per call.
const maxCallBytes = 1_000_000

// Config is the microsoft_sentinel block.
type Config struct {
	Endpoint       string `json:"endpoint"`
	DCRImmutableID string `json:"dcr_immutable_id"`
	Stream         string `json:"stream"`
	TenantID       string `json:"tenant_id"`
	ClientID       string `json:"client_id"`
	ClientSecret   string `json:"client_secret"`
	AuthorityHost  string `json:"authority_host,omitempty"`
	TokenURL       string `json:"token_url,omitempty"`
	Scope          string `json:"scope,omitempty"`
	APIVersion     string `json:"api_version,omitempty"`
	EventVendor    string `json:"event_vendor,omitempty"`
	EventProduct   string `json:"event_product,omitempty"`
	httpout.Options
}

var defaults = httpout.Defaults{
	MaxRequestBytes:  maxCallBytes,
	MaxRequestEvents: 5000,
	Concurrency:      5, // Microsoft's own clients send 5 in parallel
	Timeout:          60 * time.Second,
}

func (c *Config) Defaults() {
	c.Options.Normalize(defaults)
	if c.AuthorityHost == "" {
		c.AuthorityHost = "https://login.microsoftonline.com"
	}
	if c.Scope == "" {
		c.Scope = "https://monitor.azure.com//.default"
	}
	if c.APIVersion == "" {
		c.APIVersion = "2023-01-01"
	}
	if c.EventVendor == "" {
		c.EventVendor = "Sentinel"
	}
	if c.EventProduct == "" {
		c.EventProduct = "MCP Audit"
	}
}

// tokenEndpoint is the Entra ID v2 token URL, unless token_url overrides it.
func (c *Config) tokenEndpoint() string {
	if c.TokenURL != "" {
		return c.TokenURL
	}
	return strings.TrimRight(c.AuthorityHost, "/") + "/" + url.PathEscape(c.TenantID) + "/oauth2/v2.0/token"
}

func (c *Config) ingestURL() string {
	return strings.TrimRight(c.Endpoint, "/") + "/dataCollectionRules/" + url.PathEscape(c.DCRImmutableID) +
		"/streams/" + url.PathEscape(c.Stream) + "?api-version=" + url.QueryEscape(c.APIVersion)
}

// Validate checks the block without side effects.
func (c *Config) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"endpoint", c.Endpoint}, {"dcr_immutable_id", c.DCRImmutableID}, {"stream", c.Stream},
		{"tenant_id", c.TenantID}, {"client_id", c.ClientID}, {"client_secret", c.ClientSecret},
	} {
		if f.v == "" {
			return sdk.Fieldf(f.name, "required")
		}
	}
	for _, f := range []struct{ name, v string }{{"endpoint", c.Endpoint}, {"authority_host", c.AuthorityHost}, {"token_url", c.TokenURL}} {
		if f.v == "" {
			continue
		}
		if u, err := url.Parse(f.v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return sdk.Fieldf(f.name, "must be an http(s) URL, got %q", f.v)
		}
	}
	if !strings.HasPrefix(c.DCRImmutableID, "dcr-") {
		return sdk.Fieldf("dcr_immutable_id", "is the DCR's immutableId, which starts with \"dcr-\" (not its resource name)")
	}
	if !strings.HasPrefix(c.Stream, "Custom-") && !strings.HasPrefix(c.Stream, "Microsoft-") {
		return sdk.Fieldf("stream", "is a stream declared in the DCR, e.g. \"Custom-MCPAudit\"")
	}
	if c.MaxRequestBytes > maxCallBytes {
		return sdk.Fieldf("max_request_bytes", "the Logs Ingestion API takes at most 1,000,000 bytes per call")
	}
	return c.Options.Validate()
}

func schema() sdk.Schema {
	f := []sdk.Field{
		{Name: "endpoint", Type: sdk.TypeString, Required: true, Description: "Logs ingestion URL: the data collection endpoint's (DCE) or the DCR's own logsIngestion endpoint.", Example: `"https://mcp-dce-a1b2.eastus-1.ingest.monitor.azure.com"`},
		{Name: "dcr_immutable_id", Type: sdk.TypeString, Required: true, Description: "The data collection rule's immutableId (dcr-...).", Example: `"dcr-00000000000000000000000000000000"`},
		{Name: "stream", Type: sdk.TypeString, Required: true, Description: "The DCR stream the rows are declared in.", Example: `"Custom-MCPAudit"`},
		{Name: "tenant_id", Type: sdk.TypeString, Required: true, Description: "Microsoft Entra tenant of the app registration.", Example: `"72f988bf-86f1-41af-91ab-2d7cd011db47"`},
		{Name: "client_id", Type: sdk.TypeString, Required: true, Description: "Application (client) id; it needs Monitoring Metrics Publisher on the DCR.", Example: `env("AZURE_CLIENT_ID")`},
		{Name: "client_secret", Type: sdk.TypeString, Required: true, Sensitive: true, Description: "Client secret of the app registration.", Example: `env("AZURE_CLIENT_SECRET")`},
		{Name: "authority_host", Type: sdk.TypeString, Default: "https://login.microsoftonline.com", Description: "Entra ID authority: https://login.microsoftonline.us (US Gov), https://login.chinacloudapi.cn (China)."},
		{Name: "token_url", Type: sdk.TypeString, Description: "Full token endpoint URL, overriding authority_host/tenant_id (a proxy, a test server)."},
		{Name: "scope", Type: sdk.TypeString, Default: "https://monitor.azure.com//.default", Description: "OAuth scope: https://monitor.azure.us//.default or https://monitor.azure.cn//.default in sovereign clouds."},
		{Name: "api_version", Type: sdk.TypeString, Default: "2023-01-01", Description: "Logs Ingestion API version."},
		{Name: "event_vendor", Type: sdk.TypeString, Default: "Sentinel", Description: "ASIM EventVendor of every row."},
		{Name: "event_product", Type: sdk.TypeString, Default: "MCP Audit", Description: "ASIM EventProduct of every row."},
	}
	return sdk.Schema{Fields: append(f, httpout.Fields(defaults)...)}
}

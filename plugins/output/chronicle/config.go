package chronicle

import (
	"net/url"
	"strings"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Modes.
const (
	ModeUnstructured = "unstructured"
	ModeUDM          = "udm"
)

// regions maps a SecOps region to its ingestion host.
var regions = map[string]string{
	"us":                      "malachiteingestion-pa.googleapis.com",
	"europe":                  "europe-malachiteingestion-pa.googleapis.com",
	"europe-west2":            "europe-west2-malachiteingestion-pa.googleapis.com",
	"europe-west3":            "europe-west3-malachiteingestion-pa.googleapis.com",
	"europe-west6":            "europe-west6-malachiteingestion-pa.googleapis.com",
	"europe-west9":            "europe-west9-malachiteingestion-pa.googleapis.com",
	"europe-west12":           "europe-west12-malachiteingestion-pa.googleapis.com",
	"asia-southeast1":         "asia-southeast1-malachiteingestion-pa.googleapis.com",
	"asia-northeast1":         "asia-northeast1-malachiteingestion-pa.googleapis.com",
	"asia-south1":             "asia-south1-malachiteingestion-pa.googleapis.com",
	"australia-southeast1":    "australia-southeast1-malachiteingestion-pa.googleapis.com",
	"me-west1":                "me-west1-malachiteingestion-pa.googleapis.com",
	"me-central1":             "me-central1-malachiteingestion-pa.googleapis.com",
	"me-central2":             "me-central2-malachiteingestion-pa.googleapis.com",
	"northamerica-northeast2": "northamerica-northeast2-malachiteingestion-pa.googleapis.com",
	"southamerica-east1":      "southamerica-east1-malachiteingestion-pa.googleapis.com",
}

// Config is the chronicle block.
type Config struct {
	Endpoint        string            `json:"endpoint,omitempty"`
	Region          string            `json:"region,omitempty"`
	CustomerID      string            `json:"customer_id"`
	LogType         string            `json:"log_type,omitempty"`
	CredentialsFile string            `json:"credentials_file"`
	Mode            string            `json:"mode,omitempty"`
	Namespace       string            `json:"namespace,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	Scope           string            `json:"scope,omitempty"`
	ThrottleWait    sdk.Duration      `json:"throttle_wait,omitempty"`
	VendorName      string            `json:"vendor_name,omitempty"`
	ProductName     string            `json:"product_name,omitempty"`
	httpout.Options
}

var defaults = httpout.Defaults{
	MaxRequestBytes:  1_000_000,
	MaxRequestEvents: 5000,
	Concurrency:      4,
	Timeout:          60 * time.Second,
}

func (c *Config) Defaults() {
	c.Options.Normalize(defaults)
	if c.Region == "" {
		c.Region = "us"
	}
	if c.Endpoint == "" {
		if host, ok := regions[c.Region]; ok {
			c.Endpoint = "https://" + host
		}
	}
	if c.Mode == "" {
		c.Mode = ModeUnstructured
	}
	if c.Scope == "" {
		c.Scope = "https://www.googleapis.com/auth/malachite-ingestion"
	}
	if c.ThrottleWait <= 0 {
		c.ThrottleWait = sdk.Duration(5 * time.Minute)
	}
	if c.VendorName == "" {
		c.VendorName = "Sentinel"
	}
	if c.ProductName == "" {
		c.ProductName = "MCP Audit"
	}
}

// Validate checks the block without side effects.
func (c *Config) Validate() error {
	if c.CustomerID == "" {
		return sdk.Fieldf("customer_id", "required: the SecOps customer (instance) id")
	}
	if c.CredentialsFile == "" {
		return sdk.Fieldf("credentials_file", "required: a service-account JSON key file")
	}
	if _, ok := regions[c.Region]; !ok && c.Endpoint == "" {
		return sdk.Fieldf("region", "unknown region %q; set endpoint instead", c.Region)
	}
	if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return sdk.Fieldf("endpoint", "must be an http(s) URL, got %q", c.Endpoint)
	}
	switch c.Mode {
	case ModeUnstructured:
		if c.LogType == "" {
			return sdk.Fieldf("log_type", "required in unstructured mode: a log type with a parser in your SecOps instance")
		}
	case ModeUDM:
	default:
		return sdk.Fieldf("mode", "must be %q or %q", ModeUnstructured, ModeUDM)
	}
	return c.Options.Validate()
}

func (c *Config) path() string {
	base := strings.TrimRight(c.Endpoint, "/")
	if c.Mode == ModeUDM {
		return base + "/v2/udmevents:batchCreate"
	}
	return base + "/v2/unstructuredlogentries:batchCreate"
}

func schema() sdk.Schema {
	f := []sdk.Field{
		{Name: "region", Type: sdk.TypeString, Default: "us", Description: "SecOps region, choosing the default endpoint: us, europe, europe-west2, europe-west3, europe-west6, europe-west9, europe-west12, asia-southeast1, asia-northeast1, asia-south1, australia-southeast1, me-west1, me-central1, me-central2, northamerica-northeast2, southamerica-east1."},
		{Name: "endpoint", Type: sdk.TypeString, Description: "Ingestion API base URL, overriding region (a proxy, a test server).", Example: `"https://europe-malachiteingestion-pa.googleapis.com"`},
		{Name: "customer_id", Type: sdk.TypeString, Required: true, Description: "SecOps customer id (a UUID).", Example: `"c8c65bfa-5f2c-42d4-9189-64bb7b939f2c"`},
		{Name: "log_type", Type: sdk.TypeString, Description: "Log type of unstructured entries; it selects the SecOps parser.", Example: `"MCP_AUDIT"`},
		{Name: "credentials_file", Type: sdk.TypeString, Required: true, Sensitive: true, Description: "Service-account JSON key file; its token_uri is where tokens are fetched.", Example: `"/etc/sentinel/secops-sa.json"`},
		{Name: "mode", Type: sdk.TypeString, Default: ModeUnstructured, Enum: []string{ModeUnstructured, ModeUDM}, Description: "unstructured: the audit event JSON as log_text, parsed by SecOps' parser for log_type. udm: events mapped to UDM here (see README) and sent as udmevents."},
		{Name: "namespace", Type: sdk.TypeString, Description: "Asset namespace of unstructured entries."},
		{Name: "labels", Type: sdk.TypeStringMap, Description: "Ingestion labels of unstructured batches.", Example: `{ env = "prod" }`},
		{Name: "scope", Type: sdk.TypeString, Default: "https://www.googleapis.com/auth/malachite-ingestion", Description: "OAuth scope of the service-account token."},
		{Name: "throttle_wait", Type: sdk.TypeDuration, Default: "5m", Description: "Least wait after a 429 when no Retry-After is given: SecOps burst limits are 5-minute windows, and Google asks to retry after five minutes."},
		{Name: "vendor_name", Type: sdk.TypeString, Default: "Sentinel", Description: "UDM metadata.vendor_name."},
		{Name: "product_name", Type: sdk.TypeString, Default: "MCP Audit", Description: "UDM metadata.product_name."},
	}
	return sdk.Schema{Fields: append(f, httpout.Fields(defaults)...)}
}

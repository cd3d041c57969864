package mcp_tap

import (
	"net"
	"net/url"

	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/deliver"
	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/tap"
	"github.com/sentinel-audit/sentinel/sdk"
)

// IngestSocket is the default ingest endpoint's file name in the component's data dir.
const IngestSocket = "ingest.sock"

// Config is the mcp_tap block.
type Config struct {
	Listen             string            `json:"listen"`
	Upstream           string            `json:"upstream"`
	UpstreamCAFile     string            `json:"upstream_ca_file"`
	UpstreamServerName string            `json:"upstream_server_name"`
	Server             string            `json:"server"`
	Ingest             string            `json:"ingest"`
	IngestToken        string            `json:"ingest_token"`
	TokenHashKey       string            `json:"token_hash_key"`
	MaxMessageSize     sdk.Size          `json:"max_message_size"`
	MaxPayload         sdk.Size          `json:"max_payload"`
	BatchSize          int               `json:"batch_size"`
	Policy             *tap.PolicyConfig `json:"policy"`
}

var schema = sdk.Schema{Fields: []sdk.Field{
	{Name: "listen", Type: sdk.TypeString, Example: `"127.0.0.1:7070"`,
		Description: "Address of the Streamable HTTP reverse proxy (with `upstream`). MCP clients connect here instead of to the server; traffic is forwarded unchanged, SSE streamed as it comes."},
	{Name: "upstream", Type: sdk.TypeString, Example: `"http://127.0.0.1:3001/mcp"`,
		Description: "URL of the MCP server's endpoint behind the proxy (http or https). Requests to `/` or to this path go to it; other paths (legacy `/sse`, `/message`, `/.well-known/...`) go to the same host."},
	{Name: "upstream_ca_file", Type: sdk.TypeString, Example: `"/etc/sentinel/upstream-ca.pem"`,
		Description: "PEM file of CA certificates to trust for an https upstream, instead of the system roots."},
	{Name: "upstream_server_name", Type: sdk.TypeString, Example: `"mcp.internal"`,
		Description: "TLS server name to verify the upstream certificate against, when it differs from the URL's host."},
	{Name: "server", Type: sdk.TypeString, Example: `"crm"`,
		Description: "Name recorded in events' `server` field until the server reports its own serverInfo; defaults to the upstream URL."},
	{Name: "ingest", Type: sdk.TypeString, Example: `"127.0.0.1:7071"`,
		Description: "Where `sentinel wrap` processes deliver stdio events: a unix socket path, or host:port for TCP. Default: `ingest.sock` in the component's data directory. Set to \"off\" to disable."},
	{Name: "ingest_token", Type: sdk.TypeString, Sensitive: true, Example: `env("SENTINEL_INGEST_TOKEN")`,
		Description: "Bearer token wrappers must present to the ingest endpoint (recommended for TCP)."},
	{Name: "token_hash_key", Type: sdk.TypeString, Sensitive: true, Example: `env("SENTINEL_TOKEN_HASH_KEY")`,
		Description: "Key of the HMAC-SHA256 that fingerprints bearer tokens in mcp_oauth2_token_usage events. Default: a random key kept in the data directory. Tokens themselves are never recorded."},
	{Name: "max_message_size", Type: sdk.TypeSize, Default: "16MiB", Example: `"16MiB"`,
		Description: "Largest message parsed for events; longer ones are still forwarded whole and recorded as oversize policy violations."},
	{Name: "max_payload", Type: sdk.TypeSize, Default: "4KiB", Example: `"4KiB"`,
		Description: "Bytes of tool arguments and results copied into events; longer results are truncated (result_truncated = true)."},
	{Name: "batch_size", Type: sdk.TypeInt, Default: 500, Example: "500",
		Description: "Most events returned by one poll."},
	{Name: "policy", Type: sdk.TypeBlock, Description: "Tool-call policy. Every decision emits mcp_authorization_decisions; denials mcp_policy_violations; throttling mcp_rate_limiting_events.",
		Fields: []sdk.Field{
			{Name: "mode", Type: sdk.TypeString, Default: "audit", Enum: []string{"audit", "enforce"},
				Description: "`audit` records decisions only; `enforce` answers denied or throttled calls with a JSON-RPC error (-32010 denied, -32011 rate limited) instead of forwarding them."},
			{Name: "allow_tools", Type: sdk.TypeStringList, Example: `["lookup_*", "read_file"]`,
				Description: "Tool names or globs allowed; when set, any other tool is denied."},
			{Name: "deny_tools", Type: sdk.TypeStringList, Example: `["delete_*"]`,
				Description: "Tool names or globs denied; checked before allow_tools."},
			{Name: "session_calls_per_minute", Type: sdk.TypeInt, Example: "120",
				Description: "Tool calls allowed per session per minute (token bucket, burst of the same size); 0 = unlimited."},
			{Name: "client_calls_per_minute", Type: sdk.TypeInt, Example: "600",
				Description: "Tool calls allowed per client (clientInfo name/version, else token hash or address) per minute; 0 = unlimited."},
		}},
}}

func (c *Config) validate() error {
	if (c.Listen == "") != (c.Upstream == "") {
		if c.Listen == "" {
			return sdk.Fieldf("listen", "required with upstream")
		}
		return sdk.Fieldf("upstream", "required with listen")
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return sdk.Fieldf("listen", "want host:port: %v", err)
		}
		u, err := url.Parse(c.Upstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return sdk.Fieldf("upstream", "want an http(s) URL, got %q", c.Upstream)
		}
	}
	if c.Ingest != "" && c.Ingest != "off" {
		if _, err := deliver.ParseAddress(c.Ingest); err != nil {
			return sdk.Fieldf("ingest", "%v", err)
		}
	}
	if c.BatchSize < 0 {
		return sdk.Fieldf("batch_size", "must not be negative")
	}
	if c.Policy != nil {
		if err := c.Policy.Validate(); err != nil {
			return err
		}
	}
	return nil
}

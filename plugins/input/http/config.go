package http

import (
	"net"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

const (
	defaultListen     = "127.0.0.1:8088"
	defaultMaxBody    = 10 << 20
	defaultAckTimeout = 30 * time.Second
)

// Config is the http input's arguments.
type Config struct {
	// Listen is the address to serve on.
	Listen string `json:"listen"`
	// Token, when set, is required as `Authorization: Bearer <token>`.
	Token string `json:"token"`
	// MaxBody is the largest accepted request body.
	MaxBody sdk.Size `json:"max_body"`
	// AckTimeout is how long a request waits for its events to be delivered.
	AckTimeout sdk.Duration `json:"ack_timeout"`
	// TLSCert and TLSKey are PEM files; both or neither.
	TLSCert string `json:"tls_cert"`
	TLSKey  string `json:"tls_key"`
}

func (c *Config) Defaults() {
	if c.Listen == "" {
		c.Listen = defaultListen
	}
	if c.MaxBody == 0 {
		c.MaxBody = defaultMaxBody
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = sdk.Duration(defaultAckTimeout)
	}
}

// Validate reports arguments that cannot work, pointing at the argument.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return sdk.Fieldf("listen", "must be host:port, e.g. \"127.0.0.1:8088\": %v", err)
	}
	if c.MaxBody < 1 {
		return sdk.Fieldf("max_body", "must be positive")
	}
	if c.AckTimeout.Std() <= 0 {
		return sdk.Fieldf("ack_timeout", "must be positive")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		if c.TLSCert == "" {
			return sdk.Fieldf("tls_cert", "tls_key is set: tls_cert is needed too")
		}
		return sdk.Fieldf("tls_key", "tls_cert is set: tls_key is needed too")
	}
	return nil
}

var configSchema = sdk.Schema{Fields: []sdk.Field{
	{
		Name: "listen", Type: sdk.TypeString, Default: defaultListen,
		Description: "Address (host:port) the HTTP server listens on. Keep it on loopback unless a token " +
			"and TLS are set.",
		Example: `"0.0.0.0:8088"`,
	},
	{
		Name: "token", Type: sdk.TypeString, Sensitive: true,
		Description: "Bearer token clients must send as `Authorization: Bearer <token>`; requests without " +
			"it get 401. Unset: no authentication.",
		Example: `env("SENTINEL_HTTP_TOKEN")`,
	},
	{
		Name: "max_body", Type: sdk.TypeSize, Default: "10MiB",
		Description: "Largest accepted request body; a larger one gets 413 and nothing of it is accepted.",
		Example:     `"1MiB"`,
	},
	{
		Name: "ack_timeout", Type: sdk.TypeDuration, Default: "30s",
		Description: "How long a request waits for the pipeline to deliver its events before it is answered " +
			"503 with Retry-After (the client retries; events may then arrive twice, never zero times).",
		Example: `"10s"`,
	},
	{
		Name: "tls_cert", Type: sdk.TypeString,
		Description: "PEM certificate file: serve HTTPS. Needs tls_key.",
		Example:     `"/etc/sentinel/tls/server.crt"`,
	},
	{
		Name: "tls_key", Type: sdk.TypeString,
		Description: "PEM private key file of tls_cert.",
		Example:     `"/etc/sentinel/tls/server.key"`,
	},
}}

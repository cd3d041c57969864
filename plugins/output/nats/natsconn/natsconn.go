// Package natsconn holds what the nats input and output share: the
// connection arguments (servers, credentials, TLS), their schema and
// validation, and the connect call with reconnection that never gives up.
package natsconn

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	natsclient "github.com/nats-io/nats.go"

	"github.com/sentinel-audit/sentinel/sdk"
)

// DefaultURL is a local nats-server on its standard port.
const DefaultURL = "nats://127.0.0.1:4222"

const defaultConnectTimeout = 5 * time.Second

// TLS is the optional `tls` block.
type TLS struct {
	CAFile   string `json:"ca_file"`
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
}

// Config is the connection part of a nats component's arguments.
type Config struct {
	URL            string       `json:"url"`
	Servers        []string     `json:"servers"`
	CredsFile      string       `json:"creds_file"`
	NkeySeedFile   string       `json:"nkey_seed_file"`
	Token          string       `json:"token"`
	User           string       `json:"user"`
	Password       string       `json:"password"`
	TLS            *TLS         `json:"tls"`
	ConnectTimeout sdk.Duration `json:"connect_timeout"`
}

// ApplyDefaults fills what the host's schema defaults would, for callers
// (tests, `sentinel call`) that hand raw JSON.
func (c *Config) ApplyDefaults() {
	if c.URL == "" && len(c.Servers) == 0 {
		c.URL = DefaultURL
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = sdk.Duration(defaultConnectTimeout)
	}
}

// ServerURLs is every seed server, url first.
func (c *Config) ServerURLs() []string {
	var out []string
	for _, u := range append(strings.Split(c.URL, ","), c.Servers...) {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// Validate reports connection arguments that cannot work, without touching
// the network or reading the credential files.
func (c *Config) Validate() error {
	urls := c.ServerURLs()
	if len(urls) == 0 {
		return sdk.Fieldf("url", "a NATS server URL is required, e.g. %q", DefaultURL)
	}
	for _, u := range urls {
		if i := strings.Index(u, "://"); i >= 0 {
			switch u[:i] {
			case "nats", "tls", "ws", "wss":
			default:
				return sdk.Fieldf("url", "unsupported scheme in %q: use nats://, tls://, ws:// or wss://", u)
			}
		}
	}
	methods := 0
	for _, set := range []bool{c.CredsFile != "", c.NkeySeedFile != "", c.Token != "", c.User != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		return sdk.Fieldf("creds_file", "choose one of creds_file, nkey_seed_file, token, user/password")
	}
	if c.Password != "" && c.User == "" {
		return sdk.Fieldf("password", "password needs user")
	}
	if c.TLS != nil && (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return sdk.Fieldf("tls.cert_file", "cert_file and key_file go together (client certificate)")
	}
	if c.ConnectTimeout.Std() < 0 {
		return sdk.Fieldf("connect_timeout", "must not be negative")
	}
	return nil
}

// Connect dials NATS. The connection retries the initial connect and
// reconnects forever in the background, so a NATS outage never stops the
// host: publishes and fetches fail (retryably) until it is back.
func Connect(c Config, name string, log hclog.Logger) (*natsclient.Conn, error) {
	opts := []natsclient.Option{
		natsclient.Name(name),
		natsclient.Timeout(c.ConnectTimeout.Std()),
		natsclient.RetryOnFailedConnect(true),
		natsclient.MaxReconnects(-1),
		natsclient.ReconnectWait(time.Second),
		natsclient.DisconnectErrHandler(func(_ *natsclient.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "error", err)
			}
		}),
		natsclient.ReconnectHandler(func(nc *natsclient.Conn) {
			log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
		}),
		natsclient.ErrorHandler(func(_ *natsclient.Conn, _ *natsclient.Subscription, err error) {
			log.Warn("nats async error", "error", err)
		}),
	}
	switch {
	case c.CredsFile != "":
		opts = append(opts, natsclient.UserCredentials(c.CredsFile))
	case c.NkeySeedFile != "":
		opt, err := natsclient.NkeyOptionFromSeed(c.NkeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nkey_seed_file: %w", err)
		}
		opts = append(opts, opt)
	case c.Token != "":
		opts = append(opts, natsclient.Token(c.Token))
	case c.User != "":
		opts = append(opts, natsclient.UserInfo(c.User, c.Password))
	}
	if c.TLS != nil {
		tc, err := tlsConfig(*c.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, natsclient.Secure(tc))
	}
	nc, err := natsclient.Connect(strings.Join(c.ServerURLs(), ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	return nc, nil
}

func tlsConfig(t TLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pool, err := sdk.CertPool(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Fields is the schema of the connection arguments, shared by both plugins.
var Fields = []sdk.Field{
	{
		Name: "url", Type: sdk.TypeString, Default: DefaultURL,
		Description: "NATS server URL (nats://, tls://, ws:// or wss://), or several separated by commas. " +
			"The client learns the rest of the cluster from the server it reaches.",
		Example: `"nats://nats-1.internal:4222"`,
	},
	{
		Name: "servers", Type: sdk.TypeStringList,
		Description: "More seed server URLs, tried with url in random order (a cluster's members).",
		Example:     `["nats://nats-2.internal:4222", "nats://nats-3.internal:4222"]`,
	},
	{
		Name: "creds_file", Type: sdk.TypeString,
		Description: "NATS credentials file (user JWT and nkey seed, as made by nsc) for decentralised auth.",
		Example:     `"/etc/sentinel/nats.creds"`,
	},
	{
		Name: "nkey_seed_file", Type: sdk.TypeString,
		Description: "File holding an nkey seed (SU...) for nkey authentication.",
		Example:     `"/etc/sentinel/nats.nk"`,
	},
	{
		Name: "token", Type: sdk.TypeString, Sensitive: true,
		Description: "Authentication token.",
		Example:     `env("NATS_TOKEN")`,
	},
	{
		Name: "user", Type: sdk.TypeString,
		Description: "User name for user/password authentication.",
		Example:     `"sentinel"`,
	},
	{
		Name: "password", Type: sdk.TypeString, Sensitive: true,
		Description: "Password for user.",
		Example:     `env("NATS_PASSWORD")`,
	},
	{
		Name: "tls", Type: sdk.TypeBlock,
		Description: "TLS to the servers: ca_file to trust a private CA, cert_file and key_file for a client " +
			"certificate (mutual TLS). Use tls:// URLs, or a server that requires TLS.",
		Fields: []sdk.Field{
			{Name: "ca_file", Type: sdk.TypeString, Description: "PEM file of the CA certificates to trust.", Example: `"/etc/sentinel/nats-ca.pem"`},
			{Name: "cert_file", Type: sdk.TypeString, Description: "PEM client certificate.", Example: `"/etc/sentinel/nats-client.pem"`},
			{Name: "key_file", Type: sdk.TypeString, Description: "PEM private key of cert_file.", Example: `"/etc/sentinel/nats-client-key.pem"`},
		},
	},
	{
		Name: "connect_timeout", Type: sdk.TypeDuration, Default: "5s",
		Description: "Deadline of one connection attempt. Connections are retried forever in the background; " +
			"while NATS is unreachable the component reports retryable failures.",
		Example: `"10s"`,
	},
}

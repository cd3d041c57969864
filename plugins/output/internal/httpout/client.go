// Package httpout is the delivery machinery every HTTP SIEM output shares:
// an HTTP client with TLS options, gzip, request splitting by bytes (before
// compression) and count, a few requests in flight, split-on-413, isolation of
// bad records by per-item status or bisection, Retry-After parsing, jittered
// backoff and the sent/retried/dead-lettered counters. Each output supplies
// only its encoding and how to read its destination's answers.
package httpout

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/sdk"
)

// TLSConfig is the `tls {}` block every output accepts.
type TLSConfig struct {
	CAFile             string `json:"ca_file,omitempty"`
	CertFile           string `json:"cert_file,omitempty"`
	KeyFile            string `json:"key_file,omitempty"`
	ServerName         string `json:"server_name,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

// Options are the delivery arguments shared by every HTTP output; outputs
// embed it in their config struct so the JSON keys sit at the block's top level.
type Options struct {
	TLS              TLSConfig         `json:"tls"`
	Timeout          sdk.Duration      `json:"timeout"`
	Compression      string            `json:"compression"`
	MaxRequestBytes  sdk.Size          `json:"max_request_bytes"`
	MaxRequestEvents int               `json:"max_request_events"`
	Concurrency      int               `json:"concurrency"`
	Headers          map[string]string `json:"headers,omitempty"`
}

// Defaults are the per-destination defaults of Options.
type Defaults struct {
	MaxRequestBytes  int64
	MaxRequestEvents int
	Concurrency      int
	Timeout          time.Duration
}

// Fields documents Options for a plugin's schema, with the destination's defaults.
func Fields(d Defaults) []sdk.Field {
	return []sdk.Field{
		{Name: "tls", Type: sdk.TypeBlock, Description: "TLS settings for connections to the destination.", Fields: []sdk.Field{
			{Name: "ca_file", Type: sdk.TypeString, Description: "PEM file of CA certificates to trust instead of the system pool (private CA, self-signed).", Example: `"/etc/sentinel/ca.pem"`},
			{Name: "cert_file", Type: sdk.TypeString, Description: "PEM client certificate for mutual TLS; needs key_file.", Example: `"/etc/sentinel/client.pem"`},
			{Name: "key_file", Type: sdk.TypeString, Description: "PEM private key of cert_file.", Sensitive: true, Example: `"/etc/sentinel/client-key.pem"`},
			{Name: "server_name", Type: sdk.TypeString, Description: "Name to verify the server certificate against, when it differs from the URL's host."},
			{Name: "insecure_skip_verify", Type: sdk.TypeBool, Default: false, Description: "Do not verify the server certificate. For tests only: anyone on the path can read and change the audit stream. A warning is logged."},
		}},
		{Name: "timeout", Type: sdk.TypeDuration, Default: d.Timeout.String(), Description: "Deadline of one HTTP request, response included; a timeout is retried."},
		{Name: "compression", Type: sdk.TypeString, Default: "gzip", Enum: []string{"gzip", "none"}, Description: "Request body compression."},
		{Name: "max_request_bytes", Type: sdk.TypeSize, Default: d.MaxRequestBytes, Description: "Cap on one request's body before compression; a batch is sent as several requests under it."},
		{Name: "max_request_events", Type: sdk.TypeInt, Default: d.MaxRequestEvents, Description: "Cap on the number of events in one request."},
		{Name: "concurrency", Type: sdk.TypeInt, Default: d.Concurrency, Description: "Requests of one batch in flight at once."},
		{Name: "headers", Type: sdk.TypeStringMap, Sensitive: true, Description: "Extra HTTP headers sent with every request (a proxy's header, for example); sensitive, as they may carry credentials.", Example: `{ "X-Tenant" = "soc" }`},
	}
}

// Normalize fills zero values with the destination's defaults.
func (o *Options) Normalize(d Defaults) {
	if o.Timeout <= 0 {
		o.Timeout = sdk.Duration(d.Timeout)
	}
	if o.Compression == "" {
		o.Compression = "gzip"
	}
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = sdk.Size(d.MaxRequestBytes)
	}
	if o.MaxRequestEvents <= 0 {
		o.MaxRequestEvents = d.MaxRequestEvents
	}
	if o.Concurrency <= 0 {
		o.Concurrency = d.Concurrency
	}
}

// Validate checks Options; field names match the schema.
func (o *Options) Validate() error {
	switch o.Compression {
	case "", "gzip", "none":
	default:
		return sdk.Fieldf("compression", "must be \"gzip\" or \"none\"")
	}
	if (o.TLS.CertFile == "") != (o.TLS.KeyFile == "") {
		return sdk.Fieldf("tls.cert_file", "cert_file and key_file go together")
	}
	if o.MaxRequestBytes < 0 || o.MaxRequestEvents < 0 || o.Concurrency < 0 {
		return sdk.Fieldf("max_request_bytes", "caps must not be negative")
	}
	return nil
}

// Client posts request bodies, gzipped when configured.
type Client struct {
	HTTP    *http.Client
	Gzip    bool
	Headers map[string]string
	Stats   *Stats // counts requests and bytes when set
	gzPool  sync.Pool
	bufPool sync.Pool
}

// NewClient builds the HTTP client from Options, loading certificates once.
func NewClient(o Options, stats *Stats, log hclog.Logger) (*Client, error) {
	tlsCfg, err := o.TLS.Build()
	if err != nil {
		return nil, err
	}
	if o.TLS.InsecureSkipVerify && log != nil {
		log.Warn("tls.insecure_skip_verify is set: the destination's certificate is not verified")
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   max(o.Concurrency, 2) * 2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &Client{
		HTTP:    &http.Client{Transport: tr, Timeout: o.Timeout.Std()},
		Gzip:    o.Compression != "none",
		Headers: o.Headers,
		Stats:   stats,
	}, nil
}

// Build turns the block into a *tls.Config.
func (t TLSConfig) Build() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pool, err := sdk.CertPool(t.CAFile)
		if err != nil {
			return nil, sdk.Fieldf("tls.ca_file", "%v", err)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, sdk.Fieldf("tls.cert_file", "load client certificate: %v", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Reply is what the destination answered to one request.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
	// Err is a transport error (refused, reset, timeout): no answer at all.
	Err error
	// WireBytes is the size of the body as sent (after compression).
	WireBytes int
}

// Do sends body with method to url; the body is gzipped when the client is
// configured to. The answer's body is read (up to 4 MiB) and returned.
func (c *Client) Do(ctx context.Context, method, url string, header http.Header, body []byte) Reply {
	return c.do(ctx, method, url, header, body, c.Gzip)
}

// DoPlain is Do without compression, for small control requests (HEC ack
// polls, OAuth token requests) that some servers only take uncompressed.
func (c *Client) DoPlain(ctx context.Context, method, url string, header http.Header, body []byte) Reply {
	return c.do(ctx, method, url, header, body, false)
}

func (c *Client) do(ctx context.Context, method, url string, header http.Header, body []byte, compress bool) Reply {
	payload := body
	gz := compress && len(body) > 0
	var buf *bytes.Buffer
	if gz {
		buf = c.getBuf()
		defer c.bufPool.Put(buf)
		zw, _ := c.gzPool.Get().(*gzip.Writer)
		if zw == nil {
			zw, _ = gzip.NewWriterLevel(buf, gzip.BestSpeed)
		} else {
			zw.Reset(buf)
		}
		_, _ = zw.Write(body)
		if err := zw.Close(); err != nil {
			return Reply{Err: fmt.Errorf("gzip: %w", err)}
		}
		c.gzPool.Put(zw)
		payload = buf.Bytes()
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return Reply{Err: fmt.Errorf("build request: %w", err)}
	}
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if c.Stats != nil {
		c.Stats.Requests.Add(1)
		c.Stats.BytesRaw.Add(int64(len(body)))
		c.Stats.BytesWire.Add(int64(len(payload)))
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Reply{Err: err, WireBytes: len(payload)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return Reply{Err: fmt.Errorf("read response: %w", err), Status: resp.StatusCode, WireBytes: len(payload)}
	}
	return Reply{Status: resp.StatusCode, Header: resp.Header, Body: b, WireBytes: len(payload)}
}

func (c *Client) getBuf() *bytes.Buffer {
	if b, ok := c.bufPool.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

// Close releases idle connections.
func (c *Client) Close() { c.HTTP.CloseIdleConnections() }

// Brief is the answer's body cut to a length fit for a dead-letter reason.
func (r Reply) Brief() string {
	if r.Err != nil {
		return r.Err.Error()
	}
	b := bytes.TrimSpace(r.Body)
	if len(b) > 512 {
		b = append(b[:512:512], "..."...)
	}
	if len(b) == 0 {
		return fmt.Sprintf("HTTP %d", r.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", r.Status, b)
}

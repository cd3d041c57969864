// Package deliver carries tap events from a `sentinel wrap` process to the
// mcp_tap input's ingest endpoint. The MCP session never waits on it: events
// go into a bounded queue, and whatever cannot be sent (queue full, endpoint
// down, wrapper exiting) is appended to a spool file and sent once the
// endpoint is back. What the spool cannot take (disk full) is printed to
// stderr, one event per line, to be recovered. Nothing is dropped silently.
package deliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// IngestPath is where the mcp_tap input accepts events (NDJSON POST). It
// answers 200 only once the host has delivered the batch.
const IngestPath = "/v1/events"

// Endpoint is a parsed ingest address.
type Endpoint struct {
	URL    string // http://host:port/v1/events, or http://unix/v1/events
	Socket string // unix socket path, when the address is one
}

// ParseAddress reads an ingest address: a unix socket ("unix:/p/ingest.sock",
// or any path), "host:port", or an http(s) URL.
func ParseAddress(addr string) (Endpoint, error) {
	switch {
	case addr == "":
		return Endpoint{}, errors.New("empty ingest address")
	case strings.HasPrefix(addr, "unix:"):
		return Endpoint{URL: "http://unix" + IngestPath, Socket: strings.TrimPrefix(strings.TrimPrefix(addr, "unix:"), "//")}, nil
	case strings.HasPrefix(addr, "http://"), strings.HasPrefix(addr, "https://"):
		u := strings.TrimRight(addr, "/")
		if !strings.HasSuffix(u, IngestPath) {
			u += IngestPath
		}
		return Endpoint{URL: u}, nil
	case strings.ContainsRune(addr, '/') || strings.HasSuffix(addr, ".sock"):
		return Endpoint{URL: "http://unix" + IngestPath, Socket: addr}, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return Endpoint{}, fmt.Errorf("ingest address %q: want a socket path, host:port or URL", addr)
	}
	return Endpoint{URL: "http://" + addr + IngestPath}, nil
}

// Client posts batches of events to an ingest endpoint. Send is not safe for
// concurrent use (the sink calls it from one goroutine).
type Client struct {
	ep    Endpoint
	token string
	http  *http.Client
	// body is reused from batch to batch: a new multi-hundred-KB buffer per
	// batch would be garbage the wrapper's collector has to chase.
	body bytes.Buffer
}

// NewClient builds a client; timeout bounds one batch, host ack included.
func NewClient(ep Endpoint, token string, timeout time.Duration) *Client {
	tr := &http.Transport{MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second}
	if ep.Socket != "" {
		sock := ep.Socket
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
	}
	return &Client{ep: ep, token: token, http: &http.Client{Transport: tr, Timeout: timeout}}
}

// Send delivers events (JSON objects) and returns once the host acknowledged them.
func (c *Client) Send(ctx context.Context, events [][]byte) error {
	c.body.Reset()
	for _, e := range events {
		c.body.Write(e)
		c.body.WriteByte('\n')
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.ep.URL, bytes.NewReader(c.body.Bytes()))
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			// the transport may still read a body it was given after an
			// error: leave that buffer to it
			c.body = bytes.Buffer{}
		}
	}()
	req.Header.Set("Content-Type", "application/x-ndjson")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ingest: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	ok = true // the ingest answers only after reading the whole body
	return nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

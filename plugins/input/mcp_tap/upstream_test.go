package mcp_tap_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// closeWithin runs close and fails the test, with a goroutine dump, when it
// does not return within d: teardown must never hang a test run.
func closeWithin(t testing.TB, what string, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		var dump strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&dump, 2)
		t.Errorf("%s did not end within %s; goroutines:\n%s", what, d, dump.String())
	}
}

// startUpstream serves h like httptest.NewServer, but every request context
// is cancelled when the test ends, before the server is closed: handlers
// that wait on their request (SSE streams, hanging POSTs) end then, so
// Close cannot wait forever on one.
func startUpstream(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	base, cancel := context.WithCancel(context.Background())
	up := httptest.NewUnstartedServer(h)
	up.Config.BaseContext = func(net.Listener) context.Context { return base }
	up.Start()
	t.Cleanup(func() {
		cancel()
		up.CloseClientConnections()
		closeWithin(t, "upstream server Close", 5*time.Second, up.Close)
	})
	return up
}

// connectClient connects a go-sdk client and closes its session when the
// test ends (before the proxy and the upstream, registered earlier, stop).
func connectClient(t testing.TB, ctx context.Context, tr mcp.Transport, opts *mcp.ClientSessionOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "tap-test", Version: "1"}, nil)
	sess, err := c.Connect(ctx, tr, opts)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { closeWithin(t, "client session Close", 10*time.Second, func() { sess.Close() }) })
	return sess
}

// httpTrace records every HTTP exchange a client made, so that a failure
// shows what went over the wire (which request failed and how).
type httpTrace struct {
	rt http.RoundTripper
	mu sync.Mutex
	lg []string
}

func newHTTPTrace(t testing.TB, rt http.RoundTripper) *httpTrace {
	tr := &httpTrace{rt: rt}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("HTTP exchanges:\n%s", tr.String())
		}
	})
	return tr
}

func (h *httpTrace) log(format string, args ...any) {
	h.mu.Lock()
	h.lg = append(h.lg, time.Now().Format("15:04:05.000000")+" "+fmt.Sprintf(format, args...))
	h.mu.Unlock()
}

func (h *httpTrace) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.lg, "\n")
}

func (h *httpTrace) RoundTrip(r *http.Request) (*http.Response, error) {
	var head []byte
	if r.GetBody != nil {
		if b, err := r.GetBody(); err == nil {
			head, _ = io.ReadAll(io.LimitReader(b, 160))
			b.Close()
		}
	}
	resp, err := h.rt.RoundTrip(r)
	if err != nil {
		h.log("%s %s %s -> error %v", r.Method, r.URL.Path, head, err)
		return nil, err
	}
	h.log("%s %s %s -> %d %s", r.Method, r.URL.Path, head, resp.StatusCode, resp.Header.Get("Content-Type"))
	resp.Body = &tracedBody{ReadCloser: resp.Body, h: h, what: r.Method + " " + string(bytes.TrimSpace(head[:min(len(head), 60)]))}
	return resp, nil
}

// tracedBody logs how a response body ended.
type tracedBody struct {
	io.ReadCloser
	h    *httpTrace
	what string
	n    int
	once sync.Once
}

func (b *tracedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += n
	if err != nil {
		b.once.Do(func() { b.h.log("  body of %s ended after %d bytes: %v", b.what, b.n, err) })
	}
	return n, err
}

// quickClient is an HTTP client whose requests give up after a few seconds:
// a raw request to a broken proxy fails the test instead of hanging it.
func quickClient(t testing.TB) *http.Client {
	return &http.Client{Transport: newClientTransport(t), Timeout: 10 * time.Second}
}

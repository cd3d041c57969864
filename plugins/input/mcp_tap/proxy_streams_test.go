package mcp_tap_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sentinel-audit/sentinel/examples/mcp/crm"
)

// proxyFor starts an mcp_tap proxy in front of upstream and returns its host
// and address.
func proxyFor(t *testing.T, upstream string, extra map[string]any) (*host, string) {
	t.Helper()
	cfg := map[string]any{"listen": "127.0.0.1:0", "upstream": upstream, "ingest": "off"}
	for k, v := range extra {
		cfg[k] = v
	}
	h := startHost(t, shortDir(t), cfg)
	return h, h.status(t)["listen"].(string)
}

// toolEvent waits for the tool execution event of name.
func toolEvent(t *testing.T, h *host, name string) map[string]any {
	t.Helper()
	var ev map[string]any
	waitFor(t, name+" event", func() bool {
		for _, e := range h.ofType("mcp_tool_execution") {
			if e["tool_name"] == name {
				ev = e
				return true
			}
		}
		return false
	})
	return ev
}

func violations(h *host, reason string) []map[string]any {
	var out []map[string]any
	for _, e := range h.ofType("mcp_policy_violations") {
		if e["reason"] == reason {
			out = append(out, e)
		}
	}
	return out
}

// TestHTTPProxyResumesSSEStreamWithLastEventID: the server closes a tools/call
// response stream before answering (SEP-1699 polling); the go-sdk client
// resumes it through the proxy with GET + Last-Event-ID and gets the answer
// there. The proxy must pass the header, keep the request open across the
// break, and close it with the answer that came on the resumed stream.
func TestHTTPProxyResumesSSEStreamWithLastEventID(t *testing.T) {
	var resumes atomic.Int32
	resumed := make(chan struct{}, 1)
	newServer := func(*http.Request) *mcp.Server {
		s := crm.NewServer(".")
		mcp.AddTool(s, &mcp.Tool{Name: "slow_report", Description: "answers after its stream was closed"},
			func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
				req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{RetryAfter: 10 * time.Millisecond})
				select { // answer once the client is back, so the answer can only come on the resumed stream
				case <-resumed:
				case <-time.After(5 * time.Second):
				case <-ctx.Done():
				}
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "report ready"}}}, nil, nil
			})
		return s
	}
	mcpHandler := mcp.NewStreamableHTTPHandler(newServer, &mcp.StreamableHTTPOptions{EventStore: mcp.NewMemoryEventStore(nil)})
	up := startUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.Header.Get("Last-Event-ID") != "" {
			resumes.Add(1)
			select {
			case resumed <- struct{}{}:
			default:
			}
		}
		mcpHandler.ServeHTTP(w, r)
	}))
	h, addr := proxyFor(t, up.URL+"/mcp", nil)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	trace := newHTTPTrace(t, newClientTransport(t))
	sess := connectClient(t, ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp",
		HTTPClient: &http.Client{Transport: trace}}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: "slow_report", Arguments: map[string]any{}})
	if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "report ready" {
		t.Fatalf("call: %v %+v", err, res)
	}
	if resumes.Load() == 0 {
		t.Fatal("the upstream never saw a GET with Last-Event-ID")
	}
	ev := toolEvent(t, h, "slow_report")
	if ev["status"] != "success" || ev["success"] != true || !strings.Contains(string(mustJSON(ev["result"])), "report ready") {
		t.Fatalf("the resumed answer did not close the call: %v", ev)
	}
	if v := violations(h, "unmatched_response"); len(v) != 0 {
		t.Fatalf("answer on the resumed stream seen as unmatched: %v", v)
	}
}

// TestHTTPProxyLegacySSETransport runs the go-sdk HTTP+SSE client and server
// (GET stream, endpoint event, POSTs to the session URL) through the proxy.
func TestHTTPProxyLegacySSETransport(t *testing.T) {
	up := startUpstream(t, mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return crm.NewServer(".") }, nil))
	h, addr := proxyFor(t, up.URL+"/sse", nil)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	trace := newHTTPTrace(t, newClientTransport(t))
	sess := connectClient(t, ctx, &mcp.SSEClientTransport{Endpoint: "http://" + addr + "/sse",
		HTTPClient: &http.Client{Transport: trace}}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	crmScenario(t, ctx, sess)
	sess.Close()
	checkScenarioEvents(t, h, "2025-11-25")

	var sessionEnd map[string]any
	waitFor(t, "session end when the SSE stream closes", func() bool {
		for _, e := range h.ofType("mcp_session_events") {
			if e["action"] == "end" {
				sessionEnd = e
				return true
			}
		}
		return false
	})
	if sessionEnd["reason"] != "stream_closed" {
		t.Fatalf("session end %v", sessionEnd)
	}
	// one session: the GET stream's, found again from each POST's sessionid
	calls := h.ofType("mcp_tool_execution")
	sid, mcpSID := calls[0]["session_id"], calls[0]["mcp.session.id"]
	if mcpSID == nil || mcpSID == "" {
		t.Fatalf("no legacy session id on %v", calls[0])
	}
	for _, e := range append(calls, sessionEnd) {
		if e["session_id"] != sid || e["mcp.session.id"] != mcpSID {
			t.Fatalf("events of one legacy session differ: %v vs %v/%v", e, sid, mcpSID)
		}
	}
	if v := violations(h, "unmatched_response"); len(v) != 0 {
		t.Fatalf("answers on the SSE stream seen as unmatched: %v", v)
	}
}

// testCA is a certificate authority made for one test, and a server
// certificate for 127.0.0.1 it signed.
type testCA struct {
	caPEM  []byte
	server tls.Certificate
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sentinel test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mcp.internal"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), DNSNames: []string{"mcp.internal"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		server: tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey},
	}
}

// TestHTTPProxyTLSUpstreamWithCustomCA: an https upstream whose certificate a
// private CA signed is reached with upstream_ca_file (and upstream_server_name);
// without the CA the proxy refuses it and records why.
func TestHTTPProxyTLSUpstreamWithCustomCA(t *testing.T) {
	ca := newTestCA(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return crm.NewServer(".") }, nil)
	tlsUp := startTLSUpstream(t, mcpHandler, ca.server)

	for _, tc := range []struct {
		name string
		cfg  map[string]any
	}{
		{"ca_file", map[string]any{"upstream_ca_file": caFile}},
		{"ca_file_and_server_name", map[string]any{"upstream_ca_file": caFile, "upstream_server_name": "mcp.internal"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, addr := proxyFor(t, tlsUp+"/mcp", tc.cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			sess := connectClient(t, ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp",
				HTTPClient: &http.Client{Transport: newClientTransport(t)}}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			crmScenario(t, ctx, sess)
			sess.Close()
			checkScenarioEvents(t, h, "2025-11-25")
		})
	}

	t.Run("without_ca", func(t *testing.T) {
		h, addr := proxyFor(t, tlsUp+"/mcp", nil)
		resp, err := quickClient(t).Post("http://"+addr+"/mcp", "application/json",
			strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("status %d for an upstream signed by an unknown CA", resp.StatusCode)
		}
		waitFor(t, "upstream_unavailable event", func() bool { return len(h.ofType("mcp_compliance_events")) == 1 })
		ev := h.ofType("mcp_compliance_events")[0]
		if ev["reason"] != "upstream_unavailable" || !strings.Contains(ev["error"].(string), "certificate") {
			t.Fatalf("%v", ev)
		}
	})
}

// startTLSUpstream serves h over TLS with cert until the test ends.
func startTLSUpstream(t *testing.T, h http.Handler, cert tls.Certificate) string {
	t.Helper()
	base, stop := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		BaseContext: func(net.Listener) context.Context { return base }}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() {
		stop() // ends handlers that wait on their request
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	})
	return "https://" + ln.Addr().String()
}

// proxyHandlers counts the proxy's request goroutines still running.
func proxyHandlers() int {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	return strings.Count(b.String(), "mcp_tap.(*proxy).ServeHTTP")
}

// TestHTTPProxyClientDisconnectMidStream: a 2026-07-28 client gives up on a
// tools/call while the server is still working. Closing the response stream
// is the cancellation: the proxy must end the exchange (no handler left
// behind, the upstream request cancelled too) and record the call cancelled.
func TestHTTPProxyClientDisconnectMidStream(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	var upstreamCancelled atomic.Bool
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	newServer := func(*http.Request) *mcp.Server {
		s := crm.NewServer(".")
		mcp.AddTool(s, &mcp.Tool{Name: "long_export", Description: "works until released"},
			func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
				started <- struct{}{}
				select {
				case <-release:
				case <-ctx.Done():
				}
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
			})
		return s
	}
	// a stateless go-sdk server cancels a handler whose stream closed only when
	// asked to; without it, its session waits for the handler to finish
	mcpHandler := mcp.NewStreamableHTTPHandler(newServer, &mcp.StreamableHTTPOptions{Stateless: true, PropagateRequestCancellation: true})
	up := startUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mcpHandler.ServeHTTP(w, r)
		if r.Context().Err() != nil {
			upstreamCancelled.Store(true)
		}
	}))
	h, addr := proxyFor(t, up.URL+"/mcp", nil)
	before := proxyHandlers()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	trace := newHTTPTrace(t, newClientTransport(t))
	sess := connectClient(t, ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp",
		HTTPClient: &http.Client{Transport: trace}}, &mcp.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
	callCtx, giveUp := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := sess.CallTool(callCtx, &mcp.CallToolParams{Name: "long_export", Arguments: map[string]any{}})
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the tool never started")
	}
	giveUp()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("call after giving up: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client's call did not return after cancelling")
	}

	ev := toolEvent(t, h, "long_export")
	if ev["status"] != "cancelled" || ev["success"] != false || ev["reason"] != "stream_closed" {
		t.Fatalf("abandoned call recorded as %v", ev)
	}
	waitFor(t, "proxy handlers to end", func() bool { return proxyHandlers() <= before })
	waitFor(t, "upstream request cancelled", upstreamCancelled.Load)

	// the proxy still serves the session's next call
	if _, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: "lookup_customer", Arguments: map[string]any{"customer_id": "C-1001"}}); err != nil {
		t.Fatalf("next call: %v", err)
	}
}

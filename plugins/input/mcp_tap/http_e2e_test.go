package mcp_tap_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sentinel-audit/sentinel/examples/mcp/crm"
)

// bearer adds a token to every request, as an OAuth client would.
type bearer struct {
	token string
	rt    http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.rt.RoundTrip(r)
}

func TestHTTPProxyGoSDKBothGenerations(t *testing.T) {
	const token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImF1ZCI6Im1jcCJ9.sig"
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			var mu sync.Mutex
			seenAuth := map[string]int{}
			// go-sdk serves 2026-07-28 over HTTP only from a stateless handler
			opts := &mcp.StreamableHTTPOptions{Stateless: version >= "2026-07-28"}
			mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return crm.NewServer(".") }, opts)
			up := startUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seenAuth[r.Header.Get("Authorization")]++
				mu.Unlock()
				mcpHandler.ServeHTTP(w, r)
			}))
			h := startHost(t, shortDir(t), map[string]any{"listen": "127.0.0.1:0", "upstream": up.URL + "/mcp", "ingest": "off"})
			addr := h.status(t)["listen"].(string)

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			trace := newHTTPTrace(t, bearer{token, newClientTransport(t)})
			tr := &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp", HTTPClient: &http.Client{Transport: trace}}
			sess := connectClient(t, ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: version})
			if got := sess.InitializeResult().ProtocolVersion; got != version {
				t.Fatalf("negotiated %s", got)
			}
			crmScenario(t, ctx, sess)
			sess.Close()
			checkScenarioEvents(t, h, version)

			mu.Lock()
			if seenAuth["Bearer "+token] == 0 || len(seenAuth) != 1 {
				t.Fatalf("upstream saw Authorization %v", seenAuth)
			}
			mu.Unlock()
			use := h.ofType("mcp_oauth2_token_usage")
			if len(use) == 0 {
				t.Fatal("no token usage event")
			}
			for _, e := range h.all() {
				if strings.Contains(string(mustJSON(e)), token) {
					t.Fatalf("token leaked into %v", e)
				}
			}
			if th, _ := use[0]["token_hash"].(string); !strings.HasPrefix(th, "hmac-sha256:") {
				t.Fatalf("token usage %v", use[0])
			}
			claims := use[0]["details"].(map[string]any)["claims"].(map[string]any)
			if claims["sub"] != "alice" {
				t.Fatalf("claims %v", claims)
			}
			if version == "2025-11-25" {
				calls := h.ofType("mcp_tool_execution")
				if calls[0]["mcp.session.id"] == nil || calls[0]["mcp.session.id"] != calls[1]["mcp.session.id"] {
					t.Fatalf("session ids %v / %v", calls[0]["mcp.session.id"], calls[1]["mcp.session.id"])
				}
				waitFor(t, "session end on DELETE", func() bool {
					for _, e := range h.ofType("mcp_session_events") {
						if e["action"] == "end" && e["reason"] == "deleted" {
							return true
						}
					}
					return false
				})
			}
		})
	}
}

// newClientTransport is an HTTP transport of the test's own: connections
// from other tests (http.DefaultTransport is shared) are never reused, and
// its idle connections are closed when the test ends.
func newClientTransport(t testing.TB) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func TestHTTPProxyRecordsAuthChallenge(t *testing.T) {
	up := startUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", scope="crm.read"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}))
	h := startHost(t, shortDir(t), map[string]any{"listen": "127.0.0.1:0", "upstream": up.URL + "/mcp", "ingest": "off"})
	addr := h.status(t)["listen"].(string)
	resp, err := quickClient(t).Post("http://"+addr+"/mcp", "application/json",
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata") {
		t.Fatalf("client got %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	waitFor(t, "auth event", func() bool { return len(h.ofType("mcp_authentication_events")) == 1 })
	ev := h.ofType("mcp_authentication_events")[0]
	ch := ev["details"].(map[string]any)["challenge"].(map[string]any)
	if ev["http_status"] != 401.0 || ch["scope"] != "crm.read" || !strings.HasSuffix(ch["resource_metadata"].(string), "oauth-protected-resource") {
		t.Fatalf("%v", ev)
	}
}

package microsoft_sentinel

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout/httpouttest"
)

// fakeAzure is Entra ID's token endpoint plus the Logs Ingestion API as
// Microsoft documents them: client-credentials tokens, Bearer auth with the
// monitor audience, JSON arrays of rows up to 1 MB, 204 on success, 413, 429
// with Retry-After, and 400 for a row the DCR cannot take.
type fakeAzure struct {
	tenant, clientID, secret, dcr, stream string
	expiresIn                             int

	mu        sync.Mutex
	tokens    map[string]bool
	issued    atomic.Int32
	revokeAll atomic.Bool
	script    []int
	rows      []map[string]any
	requests  int
}

func newFakeAzure() *fakeAzure {
	return &fakeAzure{tenant: "t-1", clientID: "app-1", secret: "s3cret", dcr: "dcr-0123456789abcdef", stream: "Custom-MCPAudit",
		expiresIn: 3599, tokens: map[string]bool{}}
}

func (s *fakeAzure) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/"+s.tenant+"/oauth2/v2.0/token":
		s.token(w, r)
	case r.URL.Path == "/dataCollectionRules/"+s.dcr+"/streams/"+s.stream:
		s.ingest(w, r)
	default:
		w.Header().Set("x-ms-error-code", "NotFound")
		w.WriteHeader(404)
		_, _ = io.WriteString(w, `{"error":{"code":"NotFound","message":"Data collection rule or stream not found"}}`)
	}
}

func (s *fakeAzure) token(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(b))
	w.Header().Set("Content-Type", "application/json")
	if form.Get("grant_type") != "client_credentials" || form.Get("client_id") != s.clientID || form.Get("client_secret") != s.secret {
		w.WriteHeader(401)
		_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
		return
	}
	if form.Get("scope") != "https://monitor.azure.com//.default" {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"error":"invalid_scope"}`)
		return
	}
	tok := fmt.Sprintf("eyJ0eXAi.token-%d", s.issued.Add(1))
	s.mu.Lock()
	s.tokens[tok] = true
	s.mu.Unlock()
	fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":%d,"ext_expires_in":%d,"access_token":%q}`, s.expiresIn, s.expiresIn, tok)
}

func (s *fakeAzure) ingest(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, msg string) {
		w.Header().Set("x-ms-error-code", code)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`, code, msg)
	}
	if r.URL.Query().Get("api-version") != "2023-01-01" {
		fail(400, "InvalidApiVersion", "api-version missing")
		return
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	valid := s.tokens[tok] && !s.revokeAll.Load()
	s.requests++
	var scripted int
	if len(s.script) > 0 {
		scripted, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	if !valid {
		fail(401, "InvalidToken", "The provided token is invalid or expired")
		return
	}
	if scripted != 0 {
		if scripted == 429 {
			w.Header().Set("Retry-After", "11")
		}
		fail(scripted, "Scripted", "scripted failure")
		return
	}
	body, err := httpouttest.Body(r)
	if err != nil || len(body) > 1_000_000 {
		fail(413, "ContentLengthLimitExceeded", "Maximum request size is 1 MB")
		return
	}
	var rows []map[string]any
	if err := json.Unmarshal(body, &rows); err != nil {
		fail(400, "InvalidContent", "body must be a JSON array")
		return
	}
	for _, row := range rows {
		if row["TimeGenerated"] == nil || row["EventOriginalUid"] == "poison" {
			fail(400, "InvalidContent", "row does not match the stream declaration")
			return
		}
	}
	s.mu.Lock()
	s.rows = append(s.rows, rows...)
	s.mu.Unlock()
	w.WriteHeader(204)
}

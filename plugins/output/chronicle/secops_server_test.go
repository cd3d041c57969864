package chronicle

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout/httpouttest"
)

// fakeSecOps is Google's OAuth token endpoint (RFC 7523 JWT bearer, with the
// signature checked against the service account's public key) plus the
// Ingestion API v2 as documented: 1 MB requests, 200 with an empty object,
// batch-id deduplication of byte-identical batches, 400 for invalid
// payloads, 429 when over the burst limit.
type fakeSecOps struct {
	pub      *rsa.PublicKey
	email    string
	tokenURI string

	mu       sync.Mutex
	tokens   map[string]bool
	issued   int
	script   []int
	batches  map[[32]byte]bool
	entries  []map[string]any
	events   []map[string]any
	bodies   [][]byte
	deduped  int
	requests int
}

// writeServiceAccount makes a real RSA key and writes a key file whose token_uri points at us.
func (s *fakeSecOps) writeServiceAccount(t testing.TB, tokenURI string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	s.pub, s.email, s.tokenURI = &key.PublicKey, "sentinel@proj.iam.gserviceaccount.com", tokenURI
	sa, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "proj", "private_key_id": "k1", "client_email": s.email,
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "token_uri": tokenURI,
	})
	p := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(p, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newFakeSecOps() *fakeSecOps {
	return &fakeSecOps{tokens: map[string]bool{}, batches: map[[32]byte]bool{}}
}

func (s *fakeSecOps) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/custom/token":
		s.token(w, r)
	case "/v2/unstructuredlogentries:batchCreate", "/v2/udmevents:batchCreate":
		s.ingest(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *fakeSecOps) token(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(b))
	bad := func(msg string) {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":"invalid_grant","error_description":%q}`, msg)
	}
	if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		bad("grant_type")
		return
	}
	parts := strings.Split(form.Get("assertion"), ".")
	if len(parts) != 3 {
		bad("assertion")
		return
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(s.pub, crypto.SHA256, sum[:], sig); err != nil {
		bad("Invalid JWT Signature.")
		return
	}
	var claims map[string]any
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(cb, &claims)
	if claims["iss"] != s.email || claims["aud"] != s.tokenURI || claims["scope"] != "https://www.googleapis.com/auth/malachite-ingestion" {
		bad(fmt.Sprintf("claims %v", claims))
		return
	}
	s.mu.Lock()
	s.issued++
	tok := fmt.Sprintf("ya29.token-%d", s.issued)
	s.tokens[tok] = true
	s.mu.Unlock()
	fmt.Fprintf(w, `{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, tok)
}

func (s *fakeSecOps) ingest(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	ok := s.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	var scripted int
	if len(s.script) > 0 {
		scripted, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	fail := func(status int, msg string) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%d,"message":%q,"status":"INVALID_ARGUMENT"}}`, status, msg)
	}
	if !ok {
		fail(401, "Request had invalid authentication credentials.")
		return
	}
	body, err := httpouttest.Body(r)
	if err != nil || len(body) > 1<<20 {
		fail(413, "request too large")
		return
	}
	if scripted != 0 {
		fail(scripted, "scripted")
		return
	}
	var req struct {
		CustomerID string           `json:"customer_id"`
		LogType    string           `json:"log_type"`
		Entries    []map[string]any `json:"entries"`
		Events     []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.CustomerID == "" {
		fail(400, "invalid JSON payload")
		return
	}
	if strings.HasSuffix(r.URL.Path, "unstructuredlogentries:batchCreate") && req.LogType != "MCP_AUDIT" {
		fail(400, "invalid log type: "+req.LogType)
		return
	}
	for _, ev := range req.Events {
		md, _ := ev["metadata"].(map[string]any)
		if md["event_type"] == nil || md["event_type"] == "USER_RESOURCE_ACCESS" && (ev["principal"] == nil || ev["target"] == nil) ||
			strings.Contains(fmt.Sprint(md["description"]), "poison") {
			fail(400, "invalid UDM event")
			return
		}
	}
	sum := sha256.Sum256(body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, body)
	if s.batches[sum] {
		s.deduped++ // same batch id: not forwarded again
	} else {
		s.batches[sum] = true
		s.entries = append(s.entries, req.Entries...)
		s.events = append(s.events, req.Events...)
	}
	_, _ = io.WriteString(w, "{}")
}

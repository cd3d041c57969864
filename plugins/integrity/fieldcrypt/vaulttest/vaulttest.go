// Package vaulttest runs an HTTP server that speaks the part of HashiCorp
// Vault's transit API that fieldcrypt uses, with real AES-256-GCM keys and
// versions, token checks and injectable failures, for tests.
package vaulttest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a fake Vault with one transit mount.
type Server struct {
	*httptest.Server
	Token     string // the only accepted X-Vault-Token
	Mount     string
	Namespace string        // when set, X-Vault-Namespace must equal it
	Delay     time.Duration // before each answer: a slow Vault (set before requests)

	mu       sync.Mutex
	keys     map[string]*transitKey
	failures []int // statuses to answer with, one per coming request
	calls    map[string]int
}

type transitKey struct {
	versions   map[int]cipher.AEAD
	latest     int
	minDecrypt int
}

// Start runs a fake Vault over plain HTTP with mount "transit" and token
// "root-token"; it is closed when the test ends.
func Start(t testing.TB) *Server {
	s := newServer()
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

// StartTLS runs it over HTTPS and writes its CA certificate to a PEM file,
// whose path it returns.
func StartTLS(t testing.TB) (*Server, string) {
	s := newServer()
	s.Server = httptest.NewUnstartedServer(s)
	// Handshakes refused by clients that lack the CA are expected here.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	ca := filepath.Join(t.TempDir(), "vault-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return s, ca
}

func newServer() *Server {
	return &Server{Token: "root-token", Mount: "transit", keys: map[string]*transitKey{}, calls: map[string]int{}}
}

// Rotate adds a key version, as POST <mount>/keys/<name>/rotate does.
func (s *Server) Rotate(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.key(name).rotate()
}

// SetMinDecryptionVersion is the key config of the same name.
func (s *Server) SetMinDecryptionVersion(name string, v int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key(name).minDecrypt = v
}

// FailNext answers the next len(statuses) requests with those statuses.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, statuses...)
}

// Calls counts requests by operation ("encrypt", "decrypt"), answered or not.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (s *Server) key(name string) *transitKey {
	k := s.keys[name]
	if k == nil {
		k = &transitKey{versions: map[int]cipher.AEAD{}, minDecrypt: 1}
		k.rotate()
		s.keys[name] = k
	}
	return k
}

func (k *transitKey) rotate() int {
	raw := make([]byte, 32)
	rand.Read(raw)
	block, _ := aes.NewCipher(raw)
	a, _ := cipher.NewGCM(block)
	k.latest++
	k.versions[k.latest] = a
	return k.latest
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func fail(w http.ResponseWriter, status int, msgs ...string) {
	reply(w, status, map[string]any{"errors": msgs})
}

func ok(w http.ResponseWriter, data map[string]any) {
	reply(w, http.StatusOK, map[string]any{
		"request_id": "00000000-0000-0000-0000-000000000000", "lease_id": "", "renewable": false,
		"lease_duration": 0, "data": data, "wrap_info": nil, "warnings": nil, "auth": nil,
	})
}

// ServeHTTP answers /v1/<mount>/{encrypt,decrypt}/<key> and
// /v1/<mount>/keys/<key>/{rotate,config} like Vault does.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.Delay > 0 {
		select {
		case <-time.After(s.Delay):
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rest, found := strings.CutPrefix(r.URL.Path, "/v1/"+s.Mount+"/")
	parts := strings.Split(rest, "/")
	if found && len(parts) >= 2 {
		s.calls[parts[0]]++
	}
	if len(s.failures) > 0 {
		status := s.failures[0]
		s.failures = s.failures[1:]
		msg := http.StatusText(status)
		if status == http.StatusServiceUnavailable {
			msg = "Vault is sealed"
		}
		fail(w, status, msg)
		return
	}
	if r.Header.Get("X-Vault-Token") != s.Token || r.Header.Get("X-Vault-Namespace") != s.Namespace {
		fail(w, http.StatusForbidden, "permission denied")
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		fail(w, http.StatusMethodNotAllowed, "1 error occurred:\n\t* unsupported operation\n\n")
		return
	}
	if !found || len(parts) < 2 {
		fail(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", strings.TrimPrefix(r.URL.Path, "/v1/")))
		return
	}
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	str := func(k string) string { v, _ := req[k].(string); return v }
	switch {
	case len(parts) == 2 && parts[0] == "encrypt":
		pt, err := base64.StdEncoding.DecodeString(str("plaintext"))
		if err != nil {
			fail(w, http.StatusBadRequest, "failed to base64-decode plaintext")
			return
		}
		k := s.key(parts[1]) // encrypt creates a missing key (upsert)
		nonce := make([]byte, 12)
		rand.Read(nonce)
		ct := k.versions[k.latest].Seal(nonce, nonce, pt, nil)
		ok(w, map[string]any{"ciphertext": fmt.Sprintf("vault:v%d:%s", k.latest, base64.StdEncoding.EncodeToString(ct)), "key_version": k.latest})
	case len(parts) == 2 && parts[0] == "decrypt":
		k := s.keys[parts[1]]
		if k == nil {
			fail(w, http.StatusBadRequest, "encryption key not found")
			return
		}
		f := strings.SplitN(str("ciphertext"), ":", 3)
		if len(f) != 3 || f[0] != "vault" || !strings.HasPrefix(f[1], "v") {
			fail(w, http.StatusBadRequest, "invalid ciphertext: no prefix")
			return
		}
		ver, err := strconv.Atoi(f[1][1:])
		if err != nil {
			fail(w, http.StatusBadRequest, "invalid ciphertext: version number could not be decoded")
			return
		}
		if ver < k.minDecrypt {
			fail(w, http.StatusBadRequest, "ciphertext or signature version is disallowed by policy (too old)")
			return
		}
		a := k.versions[ver]
		raw, err := base64.StdEncoding.DecodeString(f[2])
		if a == nil || err != nil || len(raw) < 12+16 {
			fail(w, http.StatusBadRequest, "invalid ciphertext: could not decode")
			return
		}
		pt, err := a.Open(nil, raw[:12], raw[12:], nil)
		if err != nil {
			fail(w, http.StatusBadRequest, "cipher: message authentication failed")
			return
		}
		ok(w, map[string]any{"plaintext": base64.StdEncoding.EncodeToString(pt)})
	case len(parts) == 3 && parts[0] == "keys" && parts[2] == "rotate":
		k := s.key(parts[1])
		ok(w, map[string]any{"name": parts[1], "latest_version": k.rotate(), "type": "aes256-gcm96"})
	case len(parts) == 3 && parts[0] == "keys" && parts[2] == "config":
		k := s.key(parts[1])
		if v, isNum := req["min_decryption_version"].(float64); isNum {
			k.minDecrypt = int(v)
		}
		ok(w, map[string]any{"name": parts[1], "min_decryption_version": k.minDecrypt, "latest_version": k.latest})
	default:
		fail(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", strings.TrimPrefix(r.URL.Path, "/v1/")))
	}
}

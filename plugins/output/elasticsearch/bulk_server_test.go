package elasticsearch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout/httpouttest"
)

// fakeES answers _bulk the way Elasticsearch documents it: NDJSON action and
// source lines, per-item statuses in a 200 answer, 409 for a create whose
// _id exists, 413 above http.max_content_length, 401 without credentials.
// Documents whose mcp.tool_name is "bad" fail mapping (400); "hot" ones are
// rejected with 429 for their first throttle attempts.
type fakeES struct {
	auth         string
	maxContent   int
	distribution string
	throttle     int

	mu        sync.Mutex
	docs      map[string]map[string]any // index/_id → source
	attempts  map[string]int
	requests  int
	script    []int // statuses for the next requests
	puts      map[string]json.RawMessage
	ismSeqNo  map[string]int
	lastQuery string
}

func newFakeES(auth string) *fakeES {
	return &fakeES{auth: auth, docs: map[string]map[string]any{}, attempts: map[string]int{},
		puts: map[string]json.RawMessage{}, ismSeqNo: map[string]int{}}
}

func (s *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.auth != "" && r.Header.Get("Authorization") != s.auth {
		w.WriteHeader(401)
		_, _ = io.WriteString(w, `{"error":{"type":"security_exception","reason":"unable to authenticate"},"status":401}`)
		return
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/":
		dist := ""
		if s.distribution != "" {
			dist = fmt.Sprintf(`,"distribution":%q`, s.distribution)
		}
		fmt.Fprintf(w, `{"name":"n1","version":{"number":"9.1.0"%s}}`, dist)
	case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/_plugins/_ism/policies/"):
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, exists := s.ismSeqNo[r.URL.Path]; exists && r.URL.Query().Get("if_seq_no") != fmt.Sprint(s.ismSeqNo[r.URL.Path]) {
			w.WriteHeader(409)
			_, _ = io.WriteString(w, `{"error":{"type":"version_conflict_engine_exception"}}`)
			return
		}
		b, _ := io.ReadAll(r.Body)
		s.puts[r.URL.Path] = b
		s.ismSeqNo[r.URL.Path]++
		_, _ = io.WriteString(w, `{"_id":"x"}`)
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/_plugins/_ism/policies/"):
		s.mu.Lock()
		defer s.mu.Unlock()
		fmt.Fprintf(w, `{"_id":"x","_seq_no":%d,"_primary_term":1}`, s.ismSeqNo[r.URL.Path])
	case r.Method == "PUT":
		b, _ := io.ReadAll(r.Body)
		if !json.Valid(b) {
			w.WriteHeader(400)
			return
		}
		s.mu.Lock()
		s.puts[r.URL.Path] = b
		s.mu.Unlock()
		_, _ = io.WriteString(w, `{"acknowledged":true}`)
	case r.Method == "POST" && r.URL.Path == "/_bulk":
		s.bulk(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *fakeES) bulk(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.lastQuery = r.URL.RawQuery
	if len(s.script) > 0 {
		st := s.script[0]
		s.script = s.script[1:]
		s.mu.Unlock()
		if st == 429 {
			w.Header().Set("Retry-After", "3")
		}
		w.WriteHeader(st)
		_, _ = fmt.Fprintf(w, `{"error":{"type":"scripted"},"status":%d}`, st)
		return
	}
	s.mu.Unlock()
	if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		w.WriteHeader(406)
		return
	}
	body, err := httpouttest.Body(r)
	if err != nil {
		w.WriteHeader(400)
		return
	}
	if s.maxContent > 0 && len(body) > s.maxContent {
		w.WriteHeader(413)
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	var items []map[string]any
	anyErr := false
	s.mu.Lock()
	defer s.mu.Unlock()
	for sc.Scan() {
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || !sc.Scan() {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"error":{"type":"illegal_argument_exception","reason":"Malformed action/metadata line"}}`)
			return
		}
		meta, ok := action["create"]
		if !ok {
			w.WriteHeader(400)
			return
		}
		var src map[string]any
		_ = json.Unmarshal(sc.Bytes(), &src)
		key := meta.Index + "/" + meta.ID
		tool, _ := src["mcp"].(map[string]any)["tool_name"].(string)
		s.attempts[key]++
		item := map[string]any{"status": 201}
		switch {
		case tool == "bad":
			item = map[string]any{"status": 400, "error": map[string]any{"type": "document_parsing_exception", "reason": "failed to parse field [mcp.cost] of type [double]"}}
		case tool == "hot" && s.attempts[key] <= s.throttle:
			item = map[string]any{"status": 429, "error": map[string]any{"type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation"}}
		case s.docs[key] != nil:
			item = map[string]any{"status": 409, "error": map[string]any{"type": "version_conflict_engine_exception", "reason": "document already exists"}}
		default:
			s.docs[key] = src
		}
		if item["status"] != 201 {
			anyErr = true
		}
		items = append(items, map[string]any{"create": item})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": anyErr, "items": items})
}

package fluentbit_test

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// hecReceiver speaks Splunk HEC's event endpoint: Splunk token auth, gzip,
// concatenated JSON events, HEC's JSON replies and status codes.
type hecReceiver struct {
	*httptest.Server
	token string

	mu     sync.Mutex
	mode   string // "ok", "unavailable" (503), "bad-token" (403, code 4)
	events map[string]map[string]any
	posts  int
	total  int // events received, duplicates included
}

func newHECReceiver(t *testing.T) *hecReceiver {
	r := &hecReceiver{token: "11111111-2222-3333-4444-555555555555", mode: "ok", events: map[string]map[string]any{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *hecReceiver) setMode(m string) {
	r.mu.Lock()
	r.mode = m
	r.mu.Unlock()
}

func reply(w http.ResponseWriter, status, code int, text string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"text": text, "code": code})
}

func (r *hecReceiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Authorization") != "Splunk "+r.token {
		reply(w, http.StatusUnauthorized, 2, "Token is required")
		return
	}
	if strings.HasPrefix(req.URL.Path, "/services/collector/health") {
		reply(w, http.StatusOK, 17, "HEC is healthy")
		return
	}
	if req.URL.Path != "/services/collector/event" || req.Method != http.MethodPost {
		http.NotFound(w, req)
		return
	}
	r.mu.Lock()
	mode := r.mode
	r.posts++
	r.mu.Unlock()
	switch mode {
	case "unavailable":
		reply(w, http.StatusServiceUnavailable, 9, "Server is busy")
		return
	case "bad-token":
		reply(w, http.StatusForbidden, 4, "Invalid token")
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			reply(w, http.StatusBadRequest, 6, "Invalid data format")
			return
		}
		body = zr
	}
	dec := json.NewDecoder(body)
	var got []map[string]any
	for dec.More() {
		var ev map[string]any
		if err := dec.Decode(&ev); err != nil {
			reply(w, http.StatusBadRequest, 6, "Invalid data format")
			return
		}
		got = append(got, ev)
	}
	if len(got) == 0 {
		reply(w, http.StatusBadRequest, 5, "No data")
		return
	}
	r.mu.Lock()
	r.total += len(got)
	for _, ev := range got {
		inner, _ := ev["event"].(map[string]any)
		id, _ := inner["event_id"].(string)
		r.events[id] = ev
	}
	r.mu.Unlock()
	reply(w, http.StatusOK, 0, "Success")
}

func (r *hecReceiver) totalEvents() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

func (r *hecReceiver) received() map[string]map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]map[string]any, len(r.events))
	for k, v := range r.events {
		out[k] = v
	}
	return out
}

package splunk_hec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout/httpouttest"
)

// fakeHEC behaves as Splunk documents HEC: token auth, concatenated JSON
// envelopes, the reply-code table, max_content_length (413), channels and
// indexer acknowledgement. Events before an invalid one are kept, as
// Splunk may do.
type fakeHEC struct {
	token       string
	maxContent  int
	ackEnabled  bool
	ackAfter    int  // polls before an ackId reads true
	ackNever    bool // acks never arrive
	ackDisabled bool // /ack answers code 14
	delay       time.Duration
	light       bool // keep only event ids (long tests measure our memory, not the receiver's)

	mu       sync.Mutex
	script   []scripted // answers for the next requests, before normal handling
	events   []map[string]any
	requests int
	bodies   [][]byte
	headers  []http.Header
	ids      map[string]int
	nextAck  map[string]int64
	ackPolls map[int64]int
}

type scripted struct {
	status     int
	body       string
	retryAfter string
}

func newFakeHEC(token string) *fakeHEC {
	return &fakeHEC{token: token, nextAck: map[string]int64{}, ackPolls: map[int64]int{}}
}

func reply(w http.ResponseWriter, status, code int, text string, extra ...any) {
	m := map[string]any{"text": text, "code": code}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(m)
}

func (s *fakeHEC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	auth := r.Header.Get("Authorization")
	switch r.URL.Path {
	case "/services/collector/health/1.0", "/services/collector/health":
		if auth != "Splunk "+s.token {
			reply(w, 400, 21, "Invalid token")
			return
		}
		reply(w, 200, 17, "HEC is healthy")
		return
	case "/services/collector/ack":
		s.serveAck(w, r)
		return
	case "/services/collector/event":
	default:
		http.NotFound(w, r)
		return
	}
	switch {
	case auth == "":
		reply(w, 401, 2, "Token is required")
		return
	case auth != "Splunk "+s.token:
		reply(w, 403, 4, "Invalid token")
		return
	}
	s.mu.Lock()
	s.requests++
	if len(s.script) > 0 {
		sc := s.script[0]
		s.script = s.script[1:]
		s.mu.Unlock()
		if sc.retryAfter != "" {
			w.Header().Set("Retry-After", sc.retryAfter)
		}
		w.WriteHeader(sc.status)
		_, _ = io.WriteString(w, sc.body)
		return
	}
	s.mu.Unlock()
	body, err := httpouttest.Body(r)
	if err != nil {
		reply(w, 400, 6, "Invalid data format")
		return
	}
	if s.maxContent > 0 && len(body) > s.maxContent {
		http.Error(w, "Content-Length of "+strconv.Itoa(len(body))+" too large (maximum is "+strconv.Itoa(s.maxContent)+")", 413)
		return
	}
	channel := r.Header.Get("X-Splunk-Request-Channel")
	if s.ackEnabled && channel == "" {
		reply(w, 400, 10, "Data channel is missing")
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var accepted []map[string]any
	for i := 0; ; i++ {
		var ev map[string]any
		err := dec.Decode(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		bad := ""
		switch {
		case err != nil:
			bad = "Invalid data format"
		case ev["event"] == nil:
			reply(w, 400, 12, "Event field is required", "invalid-event-number", i)
			s.keep(accepted, body, r.Header)
			return
		default:
			if m, ok := ev["event"].(map[string]any); ok && m["poison"] == true {
				bad = "Invalid data format"
			}
		}
		if bad != "" {
			s.keep(accepted, body, r.Header)
			reply(w, 400, 6, bad, "invalid-event-number", i)
			return
		}
		accepted = append(accepted, ev)
	}
	s.keep(accepted, body, r.Header)
	if s.ackEnabled {
		s.mu.Lock()
		id := s.nextAck[channel]
		s.nextAck[channel]++
		s.mu.Unlock()
		reply(w, 200, 0, "Success", "ackId", id)
		return
	}
	reply(w, 200, 0, "Success")
}

func (s *fakeHEC) keep(evs []map[string]any, body []byte, h http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.light {
		if s.ids == nil {
			s.ids = map[string]int{}
		}
		for _, ev := range evs {
			if e, ok := ev["event"].(map[string]any); ok {
				s.ids[fmt.Sprint(e["event_id"])]++
			}
		}
		return
	}
	s.events = append(s.events, evs...)
	s.bodies = append(s.bodies, body)
	s.headers = append(s.headers, h.Clone())
}

func (s *fakeHEC) serveAck(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Splunk "+s.token {
		reply(w, 403, 4, "Invalid token")
		return
	}
	if s.ackDisabled {
		reply(w, 400, 14, "ACK is disabled")
		return
	}
	if r.URL.Query().Get("channel") == "" {
		reply(w, 400, 10, "Data channel is missing")
		return
	}
	var req struct {
		Acks []int64 `json:"acks"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		reply(w, 400, 6, "Invalid data format")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for _, id := range req.Acks {
		s.ackPolls[id]++
		out[fmt.Sprint(id)] = !s.ackNever && s.ackPolls[id] > s.ackAfter
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"acks": out})
}

func (s *fakeHEC) stored() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.light {
		return s.ids
	}
	m := map[string]int{}
	for _, ev := range s.events {
		if e, ok := ev["event"].(map[string]any); ok {
			m[fmt.Sprint(e["event_id"])]++
		}
	}
	return m
}

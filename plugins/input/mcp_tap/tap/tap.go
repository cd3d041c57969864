package tap

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
)

// Config is what a Tap needs; the zero value of each field has a sane meaning.
type Config struct {
	Transport string // network.transport: "pipe" for stdio, "tcp" for HTTP
	Protocol  string // network.protocol.name: "http" or empty
	Server    string // the server's name until it names itself: its command or upstream URL
	Endpoint  string // mcp_endpoint of every event
	// MaxMessage bounds what is parsed of one message (forwarding is unbounded).
	MaxMessage int
	// MaxPayload bounds arguments and results copied into events.
	MaxPayload int
	Policy     *Policy
	Inventory  *Inventory
	// Emit receives each event as a JSON object. It must not block the caller
	// for long: the session waits on it.
	Emit func(event []byte)
	Now  func() time.Time
}

// DefaultMaxPayload is how many bytes of arguments and results events carry.
const DefaultMaxPayload = 4 << 10

// Tap observes any number of sessions that share a policy, an inventory of
// tool definitions and an event sink.
type Tap struct {
	cfg   Config
	stats Stats
}

// New builds a Tap.
func New(cfg Config) *Tap {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = DefaultMaxMessage
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	if cfg.Emit == nil {
		cfg.Emit = func([]byte) {}
	}
	return &Tap{cfg: cfg}
}

// Config returns the tap's configuration.
func (t *Tap) Config() Config { return t.cfg }

// Stats returns the live counters.
func (t *Tap) Stats() *Stats { return &t.stats }

func (t *Tap) emit(ev *Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		// only a NaN duration could do this; count it rather than lose it quietly
		t.stats.EncodeErrors.Add(1)
		return
	}
	t.stats.countEvent(ev.EventType)
	t.cfg.Emit(b)
}

// Stats counts what the tap saw, for get_status and for tests that check
// malformed traffic was counted and not just forwarded.
type Stats struct {
	MessagesC2S, MessagesS2C atomic.Uint64
	BytesC2S, BytesS2C       atomic.Uint64
	Requests, Notifications  atomic.Uint64
	Responses                atomic.Uint64
	Batches                  atomic.Uint64
	NonJSON, InvalidJSONRPC  atomic.Uint64
	Oversize                 atomic.Uint64
	Unmatched, DuplicateIDs  atomic.Uint64
	UnknownMethods           atomic.Uint64
	Cancelled, NoResponse    atomic.Uint64
	Denied, Throttled        atomic.Uint64
	EncodeErrors             atomic.Uint64
	// GapBytes counts bytes forwarded but not observed: the observer fell
	// too far behind (each gap is also an event).
	Gaps, GapBytes atomic.Uint64

	mu     sync.Mutex
	events map[string]uint64
}

func (s *Stats) countMessage(d Direction, n int) {
	if d == ClientToServer {
		s.MessagesC2S.Add(1)
		s.BytesC2S.Add(uint64(n))
	} else {
		s.MessagesS2C.Add(1)
		s.BytesS2C.Add(uint64(n))
	}
}

func (s *Stats) countEvent(typ string) {
	s.mu.Lock()
	if s.events == nil {
		s.events = map[string]uint64{}
	}
	s.events[typ]++
	s.mu.Unlock()
}

// Snapshot returns the counters as a map, for status operations and logs.
func (s *Stats) Snapshot() map[string]any {
	s.mu.Lock()
	events := make(map[string]uint64, len(s.events))
	for k, v := range s.events {
		events[k] = v
	}
	s.mu.Unlock()
	return map[string]any{
		"messages_client_to_server": s.MessagesC2S.Load(),
		"messages_server_to_client": s.MessagesS2C.Load(),
		"bytes_client_to_server":    s.BytesC2S.Load(),
		"bytes_server_to_client":    s.BytesS2C.Load(),
		"requests":                  s.Requests.Load(),
		"notifications":             s.Notifications.Load(),
		"responses":                 s.Responses.Load(),
		"batches":                   s.Batches.Load(),
		"non_json":                  s.NonJSON.Load(),
		"invalid_jsonrpc":           s.InvalidJSONRPC.Load(),
		"oversize":                  s.Oversize.Load(),
		"unmatched_responses":       s.Unmatched.Load(),
		"duplicate_ids":             s.DuplicateIDs.Load(),
		"unknown_methods":           s.UnknownMethods.Load(),
		"cancelled":                 s.Cancelled.Load(),
		"no_response":               s.NoResponse.Load(),
		"denied":                    s.Denied.Load(),
		"throttled":                 s.Throttled.Load(),
		"encode_errors":             s.EncodeErrors.Load(),
		"observation_gaps":          s.Gaps.Load(),
		"observation_gap_bytes":     s.GapBytes.Load(),
		"events":                    events,
	}
}

// EventCount is how many events of a type were emitted.
func (s *Stats) EventCount(typ string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events[typ]
}

package tap

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// SessionInfo is what the transport knows about a session before any message.
type SessionInfo struct {
	ID              string // the tap's session id; minted when empty
	MCPSessionID    string // Mcp-Session-Id or the legacy sessionId, when the protocol has one
	SourceIP        string
	ClientID        string // identity fallback when clientInfo is absent (address, token hash)
	TokenHash       string
	ProtocolVersion string // MCP-Protocol-Version header, if any
}

// Verdict tells the transport what to do with a client message.
type Verdict struct {
	// Deny means: do not forward; send Reply (a JSON-RPC error) to the sender.
	Deny  bool
	Reply []byte
}

type pendKey struct {
	dir Direction
	id  string
}

// pending is a request waiting for its response.
type pending struct {
	dir         Direction
	method      string
	id          json.RawMessage
	start       time.Time
	params      *params
	traceID     string
	spanID      string
	correlation string
	listCursor  bool
}

// Session correlates the messages of one MCP session (stdio process, HTTP
// session or stateless exchange). Both directions may call it concurrently.
type Session struct {
	t *Tap

	mu           sync.Mutex
	info         SessionInfo
	client       *Implementation
	server       *Implementation
	protocol     string
	pending      map[pendKey]*pending
	started      time.Time
	startEmitted bool
	ended        bool
	buckets      *sessionBuckets
	// orphans are responses observed before their request: each pump
	// forwards first and observes after, so a fast peer's answer can be seen
	// before the request that caused it. They wait here for it.
	orphans map[pendKey]orphan
}

type orphan struct {
	msg  *message
	size int
}

// maxOrphans bounds responses waiting for a request; beyond it the oldest
// are recorded as unmatched.
const maxOrphans = 256

// NewSession starts observing a session.
func (t *Tap) NewSession(info SessionInfo) *Session {
	now := t.cfg.Now()
	if info.ID == "" {
		info.ID = sdk.NewID(now)
	}
	return &Session{
		t: t, info: info, protocol: info.ProtocolVersion,
		pending: map[pendKey]*pending{}, started: now,
		buckets: t.cfg.Policy.newSessionBuckets(),
	}
}

// ID is the tap's id of the session.
func (s *Session) ID() string { return s.info.ID }

// SetMCPSessionID records an Mcp-Session-Id learnt from a response header.
func (s *Session) SetMCPSessionID(id string) {
	s.mu.Lock()
	s.info.MCPSessionID = id
	s.mu.Unlock()
}

// SetProtocolVersion records a version learnt from a header.
func (s *Session) SetProtocolVersion(v string) {
	if v == "" {
		return
	}
	s.mu.Lock()
	s.protocol = v
	s.mu.Unlock()
}

// Protocol is the protocol version the session speaks, as far as the tap
// has learnt it (header, initialize, or per-request _meta).
func (s *Session) Protocol() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.protocol
}

// Message observes one complete message (an object or a batch array) and
// returns what to do with it; only client requests can be denied.
func (s *Session) Message(dir Direction, raw []byte) Verdict {
	st := &s.t.stats
	st.countMessage(dir, len(raw))
	switch firstByte(raw) {
	case '[':
		s.batch(dir, raw)
		return Verdict{}
	case '{':
	default:
		st.NonJSON.Add(1)
		s.violation(dir, "", "non_json", SeverityLow, map[string]any{"bytes": len(raw), "prefix": prefix(raw)})
		return Verdict{}
	}
	var m message
	if err := parseMessage(raw, &m); err != nil {
		st.NonJSON.Add(1)
		s.violation(dir, "", "invalid_json", SeverityLow, map[string]any{"bytes": len(raw), "prefix": prefix(raw), "parse_error": err.Error()})
		return Verdict{}
	}
	return s.handle(dir, &m, len(raw))
}

// Oversize observes a message too large to parse, from its first bytes.
func (s *Session) Oversize(dir Direction, head []byte, size int) {
	st := &s.t.stats
	st.countMessage(dir, size)
	st.Oversize.Add(1)
	id, method := sniff(head)
	s.violation(dir, method, "oversize_message", SeverityMedium, map[string]any{"bytes": size, "limit": s.t.cfg.MaxMessage})
	if method == "" && id != nil {
		// most likely a large result: close its request so the call is not lost
		s.response(dir, &message{ID: id, Result: json.RawMessage(`{"_sentinel":"oversize"}`)}, size)
	} else if method != "" && id != nil {
		s.request(dir, &message{ID: id, Method: method})
	}
}

// Gap records n bytes that were forwarded but could not be observed: an
// audit trail with a hole must say where the hole is.
func (s *Session) Gap(dir Direction, n int) {
	s.t.stats.Gaps.Add(1)
	s.t.stats.GapBytes.Add(uint64(n))
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := s.baseLocked(sdk.EventCompliance, SeverityHigh, dir, "", s.t.cfg.Now())
	ev.Reason = "observation_gap"
	ev.Details = map[string]any{"bytes": n}
	s.t.emit(ev)
}

func (s *Session) batch(dir Direction, raw []byte) {
	s.t.stats.Batches.Add(1)
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		s.t.stats.NonJSON.Add(1)
		s.violation(dir, "", "invalid_json", SeverityLow, map[string]any{"bytes": len(raw), "prefix": prefix(raw), "batch": true})
		return
	}
	s.violation(dir, "", "batch", SeverityLow, map[string]any{"items": len(items), "bytes": len(raw)})
	for _, it := range items {
		var m message
		if firstByte(it) != '{' || parseMessage(it, &m) != nil {
			s.t.stats.InvalidJSONRPC.Add(1)
			s.violation(dir, "", "invalid_jsonrpc", SeverityLow, map[string]any{"prefix": prefix(it), "batch": true})
			continue
		}
		// a batch cannot be partly refused without rewriting it: observe only
		s.handle(dir, &m, len(it))
	}
}

func (s *Session) handle(dir Direction, m *message, size int) Verdict {
	switch m.kind() {
	case kindRequest:
		return s.request(dir, m)
	case kindNotification:
		s.notification(dir, m)
	case kindResponse:
		s.response(dir, m, size)
	default:
		s.t.stats.InvalidJSONRPC.Add(1)
		s.violation(dir, m.Method, "invalid_jsonrpc", SeverityLow, map[string]any{"bytes": size})
	}
	return Verdict{}
}

func (s *Session) request(dir Direction, m *message) Verdict {
	t := s.t
	t.stats.Requests.Add(1)
	now := t.cfg.Now()
	p := decodeParams(m.Params)
	key := pendKey{dir, idKey(m.ID)}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.learnMeta(p)
	if !knownRequests[m.Method] {
		t.stats.UnknownMethods.Add(1)
		s.violationLocked(dir, m.Method, "unknown_method", SeverityLow, map[string]any{"id": idString(m.ID)})
	}
	if _, dup := s.pending[key]; dup {
		t.stats.DuplicateIDs.Add(1)
		s.violationLocked(dir, m.Method, "duplicate_request_id", SeverityMedium, map[string]any{"id": idString(m.ID)})
	}
	pd := &pending{dir: dir, method: m.Method, id: bytes.Clone(m.ID), start: now, params: p, listCursor: p.Cursor != nil}
	pd.traceID, pd.spanID = traceContext(p.Meta)
	if p.RequestState != "" {
		pd.correlation = mrtrCorrelation(p.RequestState)
	}
	if m.Method == "tools/call" && dir == ClientToServer && t.cfg.Policy != nil {
		if v := s.authorize(pd, now); v.Deny {
			return v
		}
	}
	if o, ok := s.orphans[pendKey{dir, key.id}]; ok {
		// its answer already went by: close it now, duration unknown (~0)
		delete(s.orphans, pendKey{dir, key.id})
		s.finish(pd, o.msg, "", "", now)
		return Verdict{}
	}
	s.pending[key] = pd
	return Verdict{}
}

func (s *Session) notification(dir Direction, m *message) {
	t := s.t
	t.stats.Notifications.Add(1)
	if !knownNotifications[m.Method] {
		t.stats.UnknownMethods.Add(1)
		s.violation(dir, m.Method, "unknown_method", SeverityLow, nil)
		return
	}
	if m.Method != "notifications/cancelled" {
		return
	}
	p := decodeParams(m.Params)
	if len(p.RequestID) == 0 {
		return
	}
	s.Cancel(dir, p.RequestID, p.Reason)
}

// Cancel closes a request that will get no response: a notifications/cancelled
// from its sender, or (2026-07-28 over HTTP) its response stream closing.
func (s *Session) Cancel(dir Direction, id json.RawMessage, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := pendKey{dir, idKey(id)}
	pd := s.pending[key]
	if pd == nil {
		return
	}
	delete(s.pending, key)
	s.t.stats.Cancelled.Add(1)
	s.finish(pd, nil, "cancelled", reason, s.t.cfg.Now())
}

func (s *Session) response(dir Direction, m *message, size int) {
	t := s.t
	t.stats.Responses.Add(1)
	now := t.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	key := pendKey{dir.Reverse(), idKey(m.ID)}
	pd := s.pending[key]
	if pd == nil {
		if s.orphans == nil {
			s.orphans = map[pendKey]orphan{}
		}
		if len(s.orphans) >= maxOrphans {
			s.flushOrphansLocked()
		}
		s.orphans[key] = orphan{msg: m.clone(), size: size} // m aliases the caller's buffer
		return
	}
	delete(s.pending, key)
	s.finish(pd, m, "", "", now)
}

// Close ends observation: requests still waiting are closed as no_response
// (so nothing in flight is lost), and with end set a session-end event
// carrying details (exit code, signal, reason) is emitted.
func (s *Session) Close(end bool, reason string, details map[string]any) {
	now := s.t.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	s.flushOrphansLocked()
	for k, pd := range s.pending {
		delete(s.pending, k)
		s.t.stats.NoResponse.Add(1)
		s.finish(pd, nil, "no_response", reason, now)
	}
	if !end {
		return
	}
	ev := s.baseLocked(EventSession, SeverityInfo, ClientToServer, "", now)
	ev.Direction = ""
	ev.Action, ev.Reason = "end", reason
	ev.DurationMS = ptr(ms(now.Sub(s.started)))
	ev.Client, ev.ServerInfo = s.client, s.server
	ev.Details = details
	s.t.emit(ev)
}

// flushOrphansLocked records responses that never found their request.
func (s *Session) flushOrphansLocked() {
	for k, o := range s.orphans {
		delete(s.orphans, k)
		s.t.stats.Unmatched.Add(1)
		s.violationLocked(k.dir.Reverse(), "", "unmatched_response", SeverityLow, map[string]any{"id": idString(o.msg.ID), "bytes": o.size})
	}
}

// NewEvent builds an event carrying the session's identity, for transports
// that record their own observations (HTTP status, tokens).
func (s *Session) NewEvent(typ, severity string) *Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := s.baseLocked(typ, severity, ClientToServer, "", s.t.cfg.Now())
	ev.Direction = ""
	return ev
}

// Emit sends a transport-built event.
func (s *Session) Emit(ev *Event) { s.t.emit(ev) }

func (s *Session) baseLocked(typ, severity string, dir Direction, method string, now time.Time) *Event {
	ev := newEvent(now, typ, severity)
	ev.SessionID = s.info.ID
	ev.MCPSessionID = s.info.MCPSessionID
	ev.ClientID = s.clientIDLocked()
	ev.SourceIP = s.info.SourceIP
	ev.ClientAddress = s.info.SourceIP
	ev.TokenHash = s.info.TokenHash
	ev.Server = s.serverNameLocked()
	ev.MCPEndpoint = s.t.cfg.Endpoint
	ev.Method, ev.MethodName = method, method
	ev.Direction = dir.String()
	ev.ProtocolVersion = s.protocol
	ev.NetworkTransport = s.t.cfg.Transport
	ev.NetworkProtocol = s.t.cfg.Protocol
	return ev
}

func (s *Session) clientIDLocked() string {
	if id := s.client.id(); id != "" {
		return id
	}
	return s.info.ClientID
}

func (s *Session) serverNameLocked() string {
	if s.server != nil && s.server.Name != "" {
		return s.server.Name
	}
	return s.t.cfg.Server
}

func (s *Session) violation(dir Direction, method, reason, severity string, details map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violationLocked(dir, method, reason, severity, details)
}

func (s *Session) violationLocked(dir Direction, method, reason, severity string, details map[string]any) {
	ev := s.baseLocked(sdk.EventPolicyViolations, severity, dir, method, s.t.cfg.Now())
	ev.Reason = reason
	ev.Details = details
	s.t.emit(ev)
}

// learnMeta picks the 2026-07-28 per-request envelope out of params._meta.
func (s *Session) learnMeta(p *params) {
	if v := metaString(p.Meta, metaProtocolVersion); v != "" {
		s.protocol = v
	}
	if raw, ok := p.Meta[metaClientInfo]; ok && s.client == nil {
		var ci Implementation
		if json.Unmarshal(raw, &ci) == nil && ci.Name != "" {
			s.client = &ci
		}
	}
}

func prefix(b []byte) string {
	const n = 64
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

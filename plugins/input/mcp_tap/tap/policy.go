package tap

import (
	"encoding/json"
	"fmt"
	"path"
	"sync"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// JSON-RPC error codes the tap answers with in enforce mode. They sit in the
// implementation-defined range, clear of the codes 2026-07-28 reserves and of
// those SDKs give a meaning of their own (go-sdk reads -32001, -32003, -32004
// and -32005 as transport states, -32002 is resource-not-found).
const (
	CodeDenied    = -32010
	CodeThrottled = -32011
)

// PolicyConfig is the `policy {}` block of an mcp_tap input.
type PolicyConfig struct {
	Mode                  string   `json:"mode"`
	AllowTools            []string `json:"allow_tools"`
	DenyTools             []string `json:"deny_tools"`
	SessionCallsPerMinute int      `json:"session_calls_per_minute"`
	ClientCallsPerMinute  int      `json:"client_calls_per_minute"`
}

// Validate reports a policy that cannot work, naming the argument.
func (c PolicyConfig) Validate() error {
	switch c.Mode {
	case "", "audit", "enforce":
	default:
		return sdk.Fieldf("policy.mode", "must be \"audit\" or \"enforce\", not %q", c.Mode)
	}
	for field, globs := range map[string][]string{"policy.allow_tools": c.AllowTools, "policy.deny_tools": c.DenyTools} {
		for _, g := range globs {
			if _, err := path.Match(g, ""); err != nil {
				return sdk.Fieldf(field, "bad glob %q: %v", g, err)
			}
		}
	}
	if c.SessionCallsPerMinute < 0 || c.ClientCallsPerMinute < 0 {
		return sdk.Fieldf("policy", "rate limits must not be negative")
	}
	return nil
}

// Policy decides tool calls: allow/deny by name or glob, and token-bucket
// rate limits per session and per client.
type Policy struct {
	cfg     PolicyConfig
	enforce bool

	mu      sync.Mutex
	clients map[string]*bucket
}

// NewPolicy checks and builds a policy.
func NewPolicy(cfg PolicyConfig) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Policy{cfg: cfg, enforce: cfg.Mode == "enforce", clients: map[string]*bucket{}}, nil
}

// Mode is "audit" or "enforce".
func (p *Policy) Mode() string {
	if p.enforce {
		return "enforce"
	}
	return "audit"
}

// toolAllowed applies deny first, then allow (an empty allow list allows all).
func (p *Policy) toolAllowed(name string) (bool, string) {
	for _, g := range p.cfg.DenyTools {
		if ok, _ := path.Match(g, name); ok {
			return false, "deny_tools:" + g
		}
	}
	if len(p.cfg.AllowTools) == 0 {
		return true, "default_allow"
	}
	for _, g := range p.cfg.AllowTools {
		if ok, _ := path.Match(g, name); ok {
			return true, "allow_tools:" + g
		}
	}
	return false, "not_in_allow_tools"
}

// bucket is a token bucket refilled at perMinute tokens a minute, holding as many.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(now time.Time, perMinute int) bool {
	if b.last.IsZero() {
		b.tokens, b.last = float64(perMinute), now
	}
	b.tokens += now.Sub(b.last).Minutes() * float64(perMinute)
	if b.tokens > float64(perMinute) {
		b.tokens = float64(perMinute)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

const maxClientBuckets = 10000

func (p *Policy) clientTake(client string, now time.Time) bool {
	if p.cfg.ClientCallsPerMinute <= 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.clients[client]
	if b == nil {
		if len(p.clients) >= maxClientBuckets {
			p.clients = map[string]*bucket{} // forget idle clients rather than grow without bound
		}
		b = &bucket{}
		p.clients[client] = b
	}
	return b.take(now, p.cfg.ClientCallsPerMinute)
}

type sessionBuckets struct{ calls bucket }

func (p *Policy) newSessionBuckets() *sessionBuckets {
	if p == nil || p.cfg.SessionCallsPerMinute <= 0 {
		return nil
	}
	return &sessionBuckets{}
}

// authorize decides a client's tools/call. Called with s.mu held.
func (s *Session) authorize(pd *pending, now time.Time) Verdict {
	pol := s.t.cfg.Policy
	name := pd.params.Name
	allowed, rule := pol.toolAllowed(name)

	ev := s.baseLocked(sdk.EventAuthorizationDecisions, SeverityInfo, pd.dir, pd.method, now)
	ev.ToolName, ev.ToolNameAttr, ev.RequestID = name, name, idString(pd.id)
	ev.TraceID, ev.SpanID = pd.traceID, pd.spanID
	ev.Action, ev.Reason = "allow", rule
	ev.Details = map[string]any{"mode": pol.Mode()}
	if !allowed {
		ev.Action, ev.Severity = "deny", SeverityMedium
	}
	s.t.emit(ev)

	if !allowed {
		s.t.stats.Denied.Add(1)
		v := s.baseLocked(sdk.EventPolicyViolations, SeverityMedium, pd.dir, pd.method, now)
		v.ToolName, v.ToolNameAttr, v.RequestID = name, name, idString(pd.id)
		v.Reason = "tool_denied"
		v.Details = map[string]any{"rule": rule, "mode": pol.Mode(), "enforced": pol.enforce}
		s.t.emit(v)
		if pol.enforce {
			return Verdict{Deny: true, Reply: errorReply(pd.id, CodeDenied, fmt.Sprintf("tool %q is denied by policy", name))}
		}
		return Verdict{}
	}

	scope := ""
	limit := 0
	if s.buckets != nil && !s.buckets.calls.take(now, pol.cfg.SessionCallsPerMinute) {
		scope, limit = "session", pol.cfg.SessionCallsPerMinute
	} else if !pol.clientTake(s.clientIDLocked(), now) {
		scope, limit = "client", pol.cfg.ClientCallsPerMinute
	}
	if scope == "" {
		return Verdict{}
	}
	s.t.stats.Throttled.Add(1)
	r := s.baseLocked(sdk.EventRateLimiting, SeverityMedium, pd.dir, pd.method, now)
	r.ToolName, r.ToolNameAttr, r.RequestID = name, name, idString(pd.id)
	r.Reason = scope + "_rate_exceeded"
	r.Action = "observed"
	if pol.enforce {
		r.Action = "rejected"
	}
	r.Details = map[string]any{"scope": scope, "calls_per_minute": limit, "mode": pol.Mode()}
	s.t.emit(r)
	if pol.enforce {
		return Verdict{Deny: true, Reply: errorReply(pd.id, CodeThrottled, fmt.Sprintf("rate limit of %d tool calls per minute per %s exceeded", limit, scope))}
	}
	return Verdict{}
}

func errorReply(id json.RawMessage, code int, msg string) []byte {
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   rpcError        `json:"error"`
	}{"2.0", id, rpcError{Code: code, Message: msg}})
	return b
}

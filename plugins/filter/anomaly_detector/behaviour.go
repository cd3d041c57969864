package anomaly_detector

import (
	"strings"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// behaviour holds the sliding-window detectors' state. Every map is an LRU
// capped at max_keys, and every per-key structure has a fixed size, so memory
// is bounded whatever the traffic.
type behaviour struct {
	cfg        *Config
	authClient *lru[*burst]
	authIP     *lru[*burst]
	rateLimits *lru[*burst]
	policy     *lru[*burst]
	errServer  *lru[*rateWindow]
	errTool    *lru[*rateWindow]
	toolKey    []byte // scratch for errTool's server/tool keys
	denials    *lru[*denial]
	clients    *lru[*profile]
}

// denial remembers the last refusal a client met, for escalation checks.
type denial struct {
	first, last mark
	count       int
	reason      string
}

// profile is a client's baseline: which tools it uses and how fast it calls.
type profile struct {
	tools       map[string]struct{}
	calls       int
	bucketStart time.Time
	count       int     // calls in the current minute
	ewma        float64 // calls per minute, smoothed over completed minutes
	minutes     int     // completed minutes observed
	spikeFired  bool
	first       mark // first call of the current minute
}

// maxToolsPerClient caps a client's tool set; a client using more distinct
// tools than this has no meaningful "first use" any more.
const maxToolsPerClient = 512

func newBehaviour(cfg *Config) *behaviour {
	n := cfg.MaxKeys
	burstOf := func(k int) func() *burst { return func() *burst { return newBurst(k) } }
	rw := func() *rateWindow { return newRateWindow(maxErrorSamples) }
	return &behaviour{
		cfg:        cfg,
		authClient: newLRU(n, burstOf(cfg.AuthFailureThreshold)),
		authIP:     newLRU(n, burstOf(cfg.AuthFailureThreshold)),
		rateLimits: newLRU(n, burstOf(cfg.RateLimitThreshold)),
		policy:     newLRU(n, burstOf(cfg.PolicyViolationThreshold)),
		errServer:  newLRU(n, rw),
		errTool:    newLRU(n, rw),
		denials:    newLRU(n, func() *denial { return &denial{} }),
		clients:    newLRU(n, func() *profile { return &profile{tools: map[string]struct{}{}} }),
	}
}

// keys reports the number of keys each detector tracks, for get_status.
func (b *behaviour) keys() map[string]int {
	return map[string]int{
		"auth_failure_client": b.authClient.len(), "auth_failure_ip": b.authIP.len(),
		"rate_limit": b.rateLimits.len(), "policy_violation": b.policy.len(),
		"error_rate_server": b.errServer.len(), "error_rate_tool": b.errTool.len(),
		"denials": b.denials.len(), "client_profiles": b.clients.len(),
	}
}

func (b *behaviour) evicted() uint64 {
	return b.authClient.evicted + b.authIP.evicted + b.rateLimits.evicted + b.policy.evicted +
		b.errServer.evicted + b.errTool.evicted + b.denials.evicted + b.clients.evicted
}

// observe runs every windowed detector that applies to e.
func (b *behaviour) observe(e *event, raise func(*threat)) {
	switch e.Type {
	case sdk.EventAuthentication:
		if e.failed() || isDenialAction(e.Action) {
			b.authFailure(e, raise)
		}
		if isDenialAction(e.Action) && e.Action != "authentication_required" {
			b.deny(e)
		}
	case sdk.EventAuthorizationDecisions:
		if e.failed() || isDenialAction(e.Action) {
			b.deny(e)
		}
	case sdk.EventPolicyViolations:
		b.policyViolation(e, raise)
		if e.Reason == "tool_denied" {
			b.deny(e)
		}
	case sdk.EventRateLimiting:
		b.rateLimit(e, raise)
	case sdk.EventToolExecution:
		b.errorRate(e, raise)
		b.escalation(e, raise)
		b.toolPattern(e, raise)
	case sdk.EventResourceAccess, sdk.EventPromptRequest:
		b.errorRate(e, raise)
	}
}

func isDenialAction(a string) bool {
	switch strings.ToLower(a) {
	case "deny", "denied", "block", "blocked", "reject", "rejected", "forbidden", "insufficient_scope",
		"authentication_required", "failure", "failed":
		return true
	}
	return false
}

func (b *behaviour) burstThreat(reason, category, owasp, severity string, key string, threshold int, window time.Duration,
	first, last mark, src *event) *threat {
	ev := evidence{Count: threshold, Threshold: float64(threshold), Window: window.String(), Key: key}
	ev.span(first, last)
	return &threat{reason: reason, category: category, owasp: owasp, severity: severity, confidence: 0.7,
		src: src, at: last.at, evidence: ev}
}

func (b *behaviour) authFailure(e *event, raise func(*threat)) {
	c := b.cfg
	w := c.AuthFailureWindow.Std()
	if first, last, ok := b.authClient.get(e.client()).add(e.mark(), w); ok {
		raise(b.burstThreat("auth_failure_burst", "credential_attack", "MCP07", "high", "client:"+e.client(),
			c.AuthFailureThreshold, w, first, last, e))
	}
	if e.SourceIP == "" {
		return
	}
	if first, last, ok := b.authIP.get(e.SourceIP).add(e.mark(), w); ok {
		src := &event{SourceIP: e.SourceIP, Server: e.Server, MCPEndpoint: e.MCPEndpoint}
		raise(b.burstThreat("auth_failure_burst", "credential_attack", "MCP07", "high", "source_ip:"+e.SourceIP,
			c.AuthFailureThreshold, w, first, last, src))
	}
}

func (b *behaviour) rateLimit(e *event, raise func(*threat)) {
	c := b.cfg
	w := c.RateLimitWindow.Std()
	if first, last, ok := b.rateLimits.get(e.client()).add(e.mark(), w); ok {
		raise(b.burstThreat("rate_limit_abuse", "resource_abuse", "MCP07", "medium", "client:"+e.client(),
			c.RateLimitThreshold, w, first, last, e))
	}
}

func (b *behaviour) policyViolation(e *event, raise func(*threat)) {
	c := b.cfg
	w := c.PolicyViolationWindow.Std()
	if first, last, ok := b.policy.get(e.client()).add(e.mark(), w); ok {
		t := b.burstThreat("policy_violation_spike", "policy_evasion", "MCP02", "high", "client:"+e.client(),
			c.PolicyViolationThreshold, w, first, last, e)
		t.details = map[string]any{"last_reason": e.Reason}
		raise(t)
	}
}

func (b *behaviour) errorRate(e *event, raise func(*threat)) {
	if e.Success == nil && e.Error == "" {
		return // no outcome: nothing to rate
	}
	c := b.cfg
	w := c.ErrorRateWindow.Std()
	o := outcome{mark: e.mark(), failed: e.failed()}
	// spiked adds the outcome to win and says whether the window now spikes.
	// Keys and the alert's source are built only then: this runs per event.
	spiked := func(win *rateWindow) (ev evidence, ok bool) {
		win.add(o)
		if !o.failed {
			return ev, false
		}
		total, failed, first, last := win.within(e.at, w)
		rate := float64(failed) / float64(total)
		if total < c.ErrorRateMinCalls || rate < c.ErrorRateThreshold {
			return ev, false
		}
		ev = evidence{Count: failed, Total: total, Rate: rate, Threshold: c.ErrorRateThreshold, Window: w.String()}
		ev.span(first, last)
		win.reset()
		return ev, true
	}
	spike := func(ev evidence, key string, src *event) {
		ev.Key = key
		raise(&threat{reason: "error_rate_spike", category: "service_degradation", owasp: "MCP08", severity: "medium",
			confidence: 0.6, src: src, at: e.at, evidence: ev, details: map[string]any{"last_error": e.Error}})
	}
	if e.Server != "" {
		if ev, ok := spiked(b.errServer.get(e.Server)); ok {
			spike(ev, "server:"+e.Server, &event{Server: e.Server, MCPEndpoint: e.MCPEndpoint})
		}
	}
	if e.ToolName != "" {
		b.toolKey = append(append(append(b.toolKey[:0], e.Server...), '/'), e.ToolName...)
		if ev, ok := spiked(b.errTool.getBytes(b.toolKey)); ok {
			spike(ev, "tool:"+string(b.toolKey), &event{Server: e.Server, MCPEndpoint: e.MCPEndpoint, ToolName: e.ToolName})
		}
	}
}

// deny records a refusal for the acting client.
func (b *behaviour) deny(e *event) {
	d := b.denials.get(e.client())
	if d.count == 0 || e.at.Sub(d.last.at) > b.cfg.EscalationWindow.Std() {
		d.first, d.count = e.mark(), 0
	}
	d.last, d.reason = e.mark(), e.Reason
	if d.reason == "" {
		d.reason = e.Action
	}
	d.count++
}

// escalation flags a call to a privileged tool by a client refused within the
// escalation window: probing for a way around the refusal.
func (b *behaviour) escalation(e *event, raise func(*threat)) {
	if e.ToolName == "" || !matchAny(b.cfg.PrivilegedTools, e.ToolName) {
		return
	}
	d, ok := b.denials.peek(e.client())
	w := b.cfg.EscalationWindow.Std()
	if !ok || d.count == 0 || e.at.Sub(d.last.at) > w || e.at.Before(d.first.at) {
		return
	}
	ev := evidence{Count: d.count, Window: w.String(), Key: "client:" + e.client()}
	ev.span(d.first, e.mark())
	raise(&threat{reason: "privilege_escalation_attempt", category: "privilege_escalation", owasp: "MCP02",
		severity: "high", confidence: 0.8, src: e, at: e.at, evidence: ev,
		details: map[string]any{"privileged_tool": e.ToolName, "denial_reason": d.reason, "last_denial_event_id": d.last.id}})
	d.count = 0 // one alert per run of refusals
}

// toolPattern learns each client's tools and call rate and flags the first
// use of a tool once a baseline exists, and minutes far above the baseline.
func (b *behaviour) toolPattern(e *event, raise func(*threat)) {
	c := b.cfg
	p := b.clients.get(e.client())
	b.roll(p, e)
	p.count++
	if p.count == 1 {
		p.first = e.mark()
	}
	if *c.FirstToolUse && e.ToolName != "" {
		if _, known := p.tools[e.ToolName]; !known && len(p.tools) < maxToolsPerClient {
			if p.calls >= c.BaselineMinCalls {
				ev := evidence{Count: 1, Key: "client:" + e.client(), Total: p.calls}
				ev.span(e.mark(), e.mark())
				raise(&threat{reason: "first_tool_use", category: "unusual_behaviour", owasp: "MCP02", severity: "low",
					confidence: 0.4, src: e, at: e.at, evidence: ev,
					details: map[string]any{"known_tools": len(p.tools)}})
			}
			p.tools[e.ToolName] = struct{}{}
		}
	}
	p.calls++
	limit := c.RateSpikeFactor * maxf(p.ewma, 1)
	if !p.spikeFired && p.minutes >= c.BaselineMinutes && p.count >= c.RateSpikeMin && float64(p.count) > limit {
		p.spikeFired = true
		ev := evidence{Count: p.count, Threshold: limit, Window: time.Minute.String(), Key: "client:" + e.client(),
			Baseline: p.ewma}
		ev.span(p.first, e.mark())
		raise(&threat{reason: "call_rate_anomaly", category: "unusual_behaviour", owasp: "MCP10", severity: "medium",
			confidence: 0.6, src: e, at: e.at, evidence: ev})
	}
}

// roll closes the client's per-minute buckets up to e's minute, folding each
// completed minute (empty ones too) into the baseline.
func (b *behaviour) roll(p *profile, e *event) {
	minute := e.at.Truncate(time.Minute)
	if p.bucketStart.IsZero() {
		p.bucketStart = minute
		return
	}
	if !minute.After(p.bucketStart) {
		return // same minute, or an out-of-order event counted in the current one
	}
	const alpha = 0.3
	counts := []int{p.count}
	gap := int(minute.Sub(p.bucketStart)/time.Minute) - 1
	if gap > 60 {
		gap = 60 // an hour of silence has forgotten the baseline anyway
	}
	for i := 0; i < gap; i++ {
		counts = append(counts, 0)
	}
	for _, n := range counts {
		if p.minutes == 0 {
			p.ewma = float64(n)
		} else {
			p.ewma = alpha*float64(n) + (1-alpha)*p.ewma
		}
		p.minutes++
	}
	p.bucketStart, p.count, p.spikeFired = minute, 0, false
}

func maxf(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

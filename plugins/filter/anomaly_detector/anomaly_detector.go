// Package anomaly_detector is the anomaly_detector filter: it watches the
// audit stream for attacks that no single event shows (authentication-failure
// bursts, error-rate spikes, rate-limit abuse, privilege escalation after
// refusals, unusual tool use, policy-violation spikes, a tap gone quiet) and
// for attacks inside one event (poisoned tool descriptions, injection and
// secrets in arguments, forwarded tokens, shadow servers). Every input record
// passes through unchanged; each alert is appended as an
// mcp_security_threats event carrying its evidence.
package anomaly_detector

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/buger/jsonparser"

	"github.com/sentinel-audit/sentinel/sdk"
)

func dur(d time.Duration) string { return d.String() }

// Definition describes the anomaly_detector filter to the host.
var Definition = &sdk.Definition{
	Name:    "anomaly_detector",
	Kind:    sdk.KindFilter,
	Version: "0.1.0",
	Summary: "Sliding-window and content detectors that raise mcp_security_threats events with their evidence",
	Description: "Passes every record through unchanged and appends an mcp_security_threats event for each detection, " +
		"with its evidence in indicators (count, window, key, first and last event ids and times). Windowed detectors run on event time: " +
		"authentication-failure bursts per client and per source IP, error-rate spikes per server and per tool, " +
		"rate-limit abuse, calls to privileged tools after refusals, first use of a tool by a client with a baseline, " +
		"call rates far above a client's baseline, policy-violation spikes. The telemetry-volume detector runs on the " +
		"host's clock (idle ticks keep it running): a source that was live and went quiet, or a minute far below its " +
		"baseline. Content detectors look inside events: hidden instructions and invisible Unicode in tool descriptions " +
		"and instructions injected in tool results, path and command injection and SSRF targets in arguments, secrets in " +
		"arguments (reported by kind and fingerprint, never the value), bearer tokens forwarded in arguments or one token " +
		"presented to several servers or to the wrong audience, and servers outside known_servers. Alert ids derive from " +
		"the evidence, so replays do not double-alert. State is bounded: every map is an LRU capped at max_keys.",
	Tick: sdk.Duration(5 * time.Second),
	Config: sdk.Schema{Fields: []sdk.Field{
		{Name: "auth_failure_threshold", Type: sdk.TypeInt, Default: defaultAuthFailures,
			Description: "Failed authentications (mcp_authentication_events with success false, or a refusal action) by one client, or from one source IP, within auth_failure_window that raise auth_failure_burst.", Example: `10`},
		{Name: "auth_failure_window", Type: sdk.TypeDuration, Default: dur(time.Minute),
			Description: "Window of auth_failure_threshold.", Example: `"2m"`},
		{Name: "error_rate_threshold", Type: sdk.TypeFloat, Default: defaultErrorRate,
			Description: "Fraction of failed calls (0..1) to one server, or one tool, within error_rate_window that raises error_rate_spike.", Example: `0.3`},
		{Name: "error_rate_min_calls", Type: sdk.TypeInt, Default: defaultErrorMinCalls,
			Description: "Calls within the window before an error rate is judged (at most 256).", Example: `20`},
		{Name: "error_rate_window", Type: sdk.TypeDuration, Default: dur(5 * time.Minute),
			Description: "Window of the error rate.", Example: `"10m"`},
		{Name: "rate_limit_threshold", Type: sdk.TypeInt, Default: defaultRateLimits,
			Description: "mcp_rate_limiting_events for one client within rate_limit_window that raise rate_limit_abuse.", Example: `3`},
		{Name: "rate_limit_window", Type: sdk.TypeDuration, Default: dur(time.Minute),
			Description: "Window of rate_limit_threshold.", Example: `"5m"`},
		{Name: "privileged_tools", Type: sdk.TypeStringList,
			Description: "Tool name patterns (path.Match globs) of privileged tools: a call to one by a client refused (authorization deny, forbidden, insufficient_scope, tool_denied) within escalation_window raises privilege_escalation_attempt. Empty: the detector is off.",
			Example:     `["admin_*", "delete_*", "exec_command"]`},
		{Name: "escalation_window", Type: sdk.TypeDuration, Default: dur(10 * time.Minute),
			Description: "How long a refusal counts towards privilege_escalation_attempt.", Example: `"30m"`},
		{Name: "first_tool_use", Type: sdk.TypeBool, Default: true,
			Description: "Raise first_tool_use (low) when a client with at least baseline_min_calls calls a tool it never used before."},
		{Name: "baseline_min_calls", Type: sdk.TypeInt, Default: defaultBaselineCalls,
			Description: "Tool calls a client makes before its tool set counts as a baseline for first_tool_use.", Example: `50`},
		{Name: "baseline_minutes", Type: sdk.TypeInt, Default: defaultBaselineMinutes,
			Description: "Completed minutes observed before a client's call rate, or a source's volume, counts as a baseline.", Example: `15`},
		{Name: "rate_spike_factor", Type: sdk.TypeFloat, Default: defaultSpikeFactor,
			Description: "A minute with more than this many times a client's baseline calls per minute (and at least rate_spike_min) raises call_rate_anomaly.", Example: `10`},
		{Name: "rate_spike_min", Type: sdk.TypeInt, Default: defaultSpikeMin,
			Description: "Fewest calls in a minute that can be a call_rate_anomaly.", Example: `100`},
		{Name: "policy_violation_threshold", Type: sdk.TypeInt, Default: defaultPolicyViolations,
			Description: "mcp_policy_violations by one client within policy_violation_window that raise policy_violation_spike.", Example: `20`},
		{Name: "policy_violation_window", Type: sdk.TypeDuration, Default: dur(5 * time.Minute),
			Description: "Window of policy_violation_threshold.", Example: `"15m"`},
		{Name: "quiet_after", Type: sdk.TypeDuration, Default: dur(2 * time.Minute),
			Description: "A source (mcp_endpoint, else server) that delivered at least volume_min_rate events and then nothing for this long raises telemetry_silence.", Example: `"5m"`},
		{Name: "volume_drop_ratio", Type: sdk.TypeFloat, Default: defaultDropRatio,
			Description: "A minute in which a source delivers fewer than this fraction of its baseline per-minute volume raises telemetry_volume_drop.", Example: `0.2`},
		{Name: "volume_min_rate", Type: sdk.TypeInt, Default: defaultVolumeMinRate,
			Description: "Baseline events per minute (and, for silence, events seen) below which a source is too quiet to judge.", Example: `30`},
		{Name: "max_keys", Type: sdk.TypeInt, Default: defaultMaxKeys,
			Description: "Most keys (clients, IPs, servers, tools, tokens) each detector tracks; the least recently seen is forgotten first.", Example: `50000`},
		{Name: "tool_poisoning", Type: sdk.TypeBool, Default: true,
			Description: "Scan tool descriptions (description, title, instructions anywhere in an event's details) for hidden instructions and invisible Unicode, and tool results for injected instructions."},
		{Name: "injection", Type: sdk.TypeBool, Default: true,
			Description: "Scan tool-call arguments for path traversal (../), command chaining (; rm), command substitution ($(...)), sensitive paths and cloud metadata (SSRF) targets."},
		{Name: "secrets", Type: sdk.TypeBool, Default: true,
			Description: "Scan tool-call arguments for credentials (AWS, GitHub, Slack, Google, Stripe, OpenAI keys, private keys, password assignments, secret-named fields). Alerts carry kind, path and a short SHA-256 fingerprint, never the secret."},
		{Name: "token_passthrough", Type: sdk.TypeBool, Default: true,
			Description: "Flag bearer tokens and JWTs in arguments, one token hash presented to more than one server, and OAuth token use whose aud claim is neither the event's mcp_endpoint nor in token_audiences."},
		{Name: "token_audiences", Type: sdk.TypeStringList,
			Description: "Audiences (globs) tokens may be issued for, besides the event's own mcp_endpoint.", Example: `["https://mcp.example.com/*"]`},
		{Name: "known_servers", Type: sdk.TypeStringList,
			Description: "Inventory of approved MCP servers (globs on the event's server). Events from any other server raise shadow_server once per server. Empty: the detector is off.",
			Example:     `["files", "crm", "github-*"]`},
	}},
	Operations: []sdk.Operation{
		{Name: sdk.OpGetStatus, Description: "Records seen, alerts by detector, keys tracked per detector, evictions, unparsed bodies."},
	},
	New: func() sdk.Plugin { return &Detector{now: time.Now} },
}

// Detector is one configured anomaly_detector instance.
type Detector struct {
	cfg       Config
	behaviour *behaviour
	volume    *volume
	content   *content
	now       func() time.Time

	mu       sync.Mutex // Invoke runs beside Process
	seen     uint64
	unparsed uint64
	alerts   map[string]uint64
}

// Validate checks a configuration without side effects.
func (d *Detector) Validate(sc sdk.Config) error {
	var cfg Config
	if err := sc.Decode(&cfg); err != nil {
		return err
	}
	return cfg.Validate()
}

// Configure builds the detectors' state once.
func (d *Detector) Configure(_ context.Context, sc sdk.Config) error {
	var cfg Config
	if err := sc.Decode(&cfg); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.applyDefaults()
	d.cfg = cfg
	d.behaviour = newBehaviour(&d.cfg)
	d.volume = newVolume(&d.cfg)
	d.content = newContent(&d.cfg)
	d.alerts = map[string]uint64{}
	if d.now == nil {
		d.now = time.Now
	}
	return nil
}

// Process passes the batch through and appends the alerts it raises.
func (d *Detector) Process(_ context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.behaviour == nil {
		if err := d.Configure(context.Background(), sdk.Config{}); err != nil {
			return nil, err
		}
	}
	out := &sdk.Batch{Seq: in.Seq, Final: in.Final, Records: make([]*sdk.Record, 0, len(in.Records)+1)}
	var encodeErr error
	raise := func(t *threat) {
		r, err := t.record()
		if err != nil {
			encodeErr = err
			return
		}
		d.alerts[t.reason]++
		out.Records = append(out.Records, r)
	}
	now := d.now()
	for _, r := range in.Records {
		out.Records = append(out.Records, r)
		d.seen++
		e := &event{}
		if err := json.Unmarshal(r.Body, e); err != nil {
			d.unparsed++ // not ours to judge: it flows on, and the count shows it
			continue
		}
		e.id, e.at = r.ID, r.Time
		if e.Type == "" {
			e.Type = r.Type
		}
		if ownAlert(e) {
			continue // our own alert coming round again
		}
		d.volume.seen(e, now, raise)
		d.behaviour.observe(e, raise)
		d.content.observe(e, raise)
	}
	d.volume.check(now, raise)
	return out, encodeErr
}

// ownAlert recognises an alert this filter raised (its details name it).
func ownAlert(e *event) bool {
	if e.Type != sdk.EventSecurityThreats || len(e.Details) == 0 {
		return false
	}
	d, err := jsonparser.GetString(e.Details, "detector")
	return err == nil && d == Definition.Name
}

// Invoke answers get_status.
func (d *Detector) Invoke(_ context.Context, op string, _ json.RawMessage) (any, error) {
	if op != sdk.OpGetStatus {
		return nil, sdk.ErrUnknownOperation(op)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st := map[string]any{"plugin": Definition.Name, "healthy": true, "records_seen": d.seen,
		"unparsed_bodies": d.unparsed, "alerts": copyCounts(d.alerts)}
	if d.behaviour != nil {
		keys := d.behaviour.keys()
		keys["volume_sources"] = d.volume.sources.len()
		keys["token_hashes"] = d.content.tokenServers.len()
		keys["shadow_servers"] = d.content.shadowSeen.len()
		st["keys"], st["max_keys"] = keys, d.cfg.MaxKeys
		st["evicted"] = d.behaviour.evicted() + d.volume.sources.evicted + d.content.tokenServers.evicted + d.content.shadowSeen.evicted
	}
	return st, nil
}

// Close has nothing to flush: alerts leave with the batch that raised them.
func (d *Detector) Close(context.Context) error { return nil }

func copyCounts(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortStrings(xs []string) []string {
	sort.Strings(xs)
	return xs
}

var (
	_ sdk.Plugin     = (*Detector)(nil)
	_ sdk.Configurer = (*Detector)(nil)
	_ sdk.Validator  = (*Detector)(nil)
	_ sdk.Invoker    = (*Detector)(nil)
	_ sdk.Closer     = (*Detector)(nil)
)

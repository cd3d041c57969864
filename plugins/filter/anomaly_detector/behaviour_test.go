package anomaly_detector

import (
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

func authFail(t *testing.T, off time.Duration, client, ip string) *sdk.Record {
	return rec(t, off, map[string]any{"event_type": sdk.EventAuthentication, "severity": "low", "client_id": client,
		"source_ip": ip, "server": "files", "success": false, "action": "authentication_required"})
}

func TestAuthFailureBurstPerClientAndIP(t *testing.T) {
	d, _ := newDetector(t, `{"auth_failure_threshold": 3, "auth_failure_window": "1m"}`)
	var recs []*sdk.Record
	for i := 0; i < 3; i++ {
		recs = append(recs, authFail(t, time.Duration(i)*10*time.Second, "agent-a", "10.0.0.5"))
	}
	as := only(t, run(t, d, recs...), "auth_failure_burst")
	if len(as) != 2 {
		t.Fatalf("want one burst per client and per IP, got %+v", as)
	}
	for _, a := range as {
		if a.Evidence.Count != 3 || a.Evidence.Window != "1m0s" || a.Evidence.FirstEventID != recs[0].ID ||
			a.Evidence.LastEventID != recs[2].ID || a.Severity != "high" || a.Details["owasp"] != "MCP07" {
			t.Errorf("evidence wrong: %s", a.raw)
		}
	}
	if as[0].Evidence.Key != "client:agent-a" || as[1].Evidence.Key != "source_ip:10.0.0.5" {
		t.Errorf("keys: %q %q", as[0].Evidence.Key, as[1].Evidence.Key)
	}
	// the window restarted: two more failures are not a burst
	if got := run(t, d, authFail(t, 40*time.Second, "agent-a", "10.0.0.5"), authFail(t, 41*time.Second, "agent-a", "10.0.0.5")); len(got) != 0 {
		t.Fatalf("alerted again without a fresh burst: %v", reasons(got))
	}
}

func TestAuthFailuresSpreadBeyondWindowDoNotAlert(t *testing.T) {
	d, _ := newDetector(t, `{"auth_failure_threshold": 3, "auth_failure_window": "1m"}`)
	for i := 0; i < 10; i++ {
		if as := run(t, d, authFail(t, time.Duration(i)*31*time.Second, "slow", "")); len(as) != 0 {
			t.Fatalf("failure %d: %v", i, reasons(as))
		}
	}
	// successes never count
	ok := rec(t, 0, map[string]any{"event_type": sdk.EventAuthentication, "client_id": "c", "success": true})
	for i := 0; i < 10; i++ {
		if as := run(t, d, ok); len(as) != 0 {
			t.Fatal("successful authentication counted as failure")
		}
	}
}

func call(t *testing.T, off time.Duration, client, server, tool string, success bool) *sdk.Record {
	f := map[string]any{"event_type": sdk.EventToolExecution, "client_id": client, "server": server,
		"tool_name": tool, "success": success}
	if !success {
		f["error"] = "boom"
	}
	return rec(t, off, f)
}

func TestErrorRateSpikePerServerAndTool(t *testing.T) {
	d, _ := newDetector(t, `{"error_rate_threshold": 0.5, "error_rate_min_calls": 10, "first_tool_use": false}`)
	var recs []*sdk.Record
	for i := 0; i < 5; i++ {
		recs = append(recs, call(t, time.Duration(i)*time.Second, "c", "crm", "lookup", true))
	}
	if as := run(t, d, recs...); len(as) != 0 {
		t.Fatalf("successes alerted: %v", reasons(as))
	}
	var fails []*sdk.Record
	for i := 0; i < 5; i++ {
		fails = append(fails, call(t, time.Duration(10+i)*time.Second, "c", "crm", "lookup", false))
	}
	as := only(t, run(t, d, fails...), "error_rate_spike")
	if len(as) != 2 {
		t.Fatalf("want a spike for server and tool, got %+v", as)
	}
	if as[0].Evidence.Key != "server:crm" || as[1].Evidence.Key != "tool:crm/lookup" || as[1].ToolName != "lookup" {
		t.Errorf("keys: %s / %s", as[0].raw, as[1].raw)
	}
	a := as[0]
	if a.Evidence.Count != 5 || a.Evidence.Total != 10 || a.Evidence.Rate != 0.5 ||
		a.Evidence.FirstEventID != fails[0].ID || a.Evidence.LastEventID != fails[4].ID {
		t.Errorf("evidence: %s", a.raw)
	}
	if a.ClientID != "" {
		t.Errorf("a per-server alert names a client: %s", a.raw)
	}
}

func TestErrorRateNeedsMinimumCalls(t *testing.T) {
	d, _ := newDetector(t, `{"error_rate_min_calls": 10}`)
	for i := 0; i < 9; i++ {
		if as := only(t, run(t, d, call(t, time.Duration(i)*time.Second, "c", "s", "x", false)), "error_rate_spike"); len(as) != 0 {
			t.Fatalf("alerted after %d calls", i+1)
		}
	}
	if as := only(t, run(t, d, call(t, 10*time.Second, "c", "s", "x", false)), "error_rate_spike"); len(as) != 2 {
		t.Fatalf("10th failure: %v", reasons(as))
	}
}

func TestRateLimitAbuse(t *testing.T) {
	d, _ := newDetector(t, `{"rate_limit_threshold": 3}`)
	var recs []*sdk.Record
	for i := 0; i < 3; i++ {
		recs = append(recs, rec(t, time.Duration(i)*time.Second, map[string]any{"event_type": sdk.EventRateLimiting,
			"client_id": "greedy", "reason": "client_rate_exceeded"}))
	}
	as := run(t, d, recs...)
	if len(as) != 1 || as[0].Reason != "rate_limit_abuse" || as[0].ClientID != "greedy" || as[0].Evidence.Count != 3 {
		t.Fatalf("got %+v", as)
	}
}

func TestPrivilegeEscalationAfterDenial(t *testing.T) {
	d, _ := newDetector(t, `{"privileged_tools": ["admin_*"], "escalation_window": "10m", "first_tool_use": false}`)
	deny := rec(t, 0, map[string]any{"event_type": sdk.EventAuthorizationDecisions, "client_id": "mallory",
		"action": "deny", "tool_name": "read_secrets"})
	if as := run(t, d, deny); len(as) != 0 {
		t.Fatalf("a denial alone alerted: %v", reasons(as))
	}
	// another client's privileged call is not mallory's escalation
	if as := run(t, d, call(t, time.Minute, "alice", "ops", "admin_reset", true)); len(as) != 0 {
		t.Fatalf("alerted for another client: %v", reasons(as))
	}
	esc := call(t, 2*time.Minute, "mallory", "ops", "admin_reset", true)
	as := run(t, d, esc)
	if len(as) != 1 || as[0].Reason != "privilege_escalation_attempt" || as[0].Evidence.FirstEventID != deny.ID ||
		as[0].Evidence.LastEventID != esc.ID || as[0].Details["privileged_tool"] != "admin_reset" {
		t.Fatalf("got %+v", as)
	}
	// outside the window: no alert
	d2, _ := newDetector(t, `{"privileged_tools": ["admin_*"], "escalation_window": "10m"}`)
	run(t, d2, deny)
	if as := run(t, d2, call(t, 11*time.Minute, "mallory", "ops", "admin_reset", true)); len(as) != 0 {
		t.Fatalf("alerted outside the window: %v", reasons(as))
	}
}

func TestFirstToolUseAfterBaseline(t *testing.T) {
	d, _ := newDetector(t, `{"baseline_min_calls": 5}`)
	var recs []*sdk.Record
	for i := 0; i < 5; i++ {
		recs = append(recs, call(t, time.Duration(i)*time.Second, "bot", "files", "read_file", true))
	}
	// a new client's first calls are the baseline being learnt, not anomalies
	if as := run(t, d, recs...); len(as) != 0 {
		t.Fatalf("learning raised %v", reasons(as))
	}
	as := run(t, d, call(t, 10*time.Second, "bot", "files", "delete_file", true))
	if len(as) != 1 || as[0].Reason != "first_tool_use" || as[0].ToolName != "delete_file" || as[0].Severity != "low" {
		t.Fatalf("got %+v", as)
	}
	if as := run(t, d, call(t, 11*time.Second, "bot", "files", "delete_file", true)); len(as) != 0 {
		t.Fatal("second use alerted again")
	}
}

func TestCallRateFarAboveBaseline(t *testing.T) {
	d, _ := newDetector(t, `{"baseline_minutes": 3, "rate_spike_factor": 5, "rate_spike_min": 20, "first_tool_use": false}`)
	off := time.Duration(0)
	for m := 0; m < 5; m++ { // five minutes at 4 calls a minute
		for i := 0; i < 4; i++ {
			if as := run(t, d, call(t, time.Duration(m)*time.Minute+time.Duration(i)*time.Second, "bot", "s", "t", true)); len(as) != 0 {
				t.Fatalf("baseline raised %v", reasons(as))
			}
		}
	}
	off = 5 * time.Minute
	var got []alert
	for i := 0; i < 40; i++ {
		got = append(got, run(t, d, call(t, off+time.Duration(i)*time.Second, "bot", "s", "t", true))...)
	}
	if len(got) != 1 || got[0].Reason != "call_rate_anomaly" || got[0].Evidence.Count != 21 || got[0].Evidence.Baseline < 3.9 {
		t.Fatalf("want one anomaly at the 21st call (5x4=20), got %+v", got)
	}
}

func TestPolicyViolationSpike(t *testing.T) {
	d, _ := newDetector(t, `{"policy_violation_threshold": 4}`)
	var got []alert
	for i := 0; i < 8; i++ {
		got = append(got, run(t, d, rec(t, time.Duration(i)*time.Second, map[string]any{
			"event_type": sdk.EventPolicyViolations, "client_id": "x", "reason": "batch_request"}))...)
	}
	if len(got) != 2 || got[0].Reason != "policy_violation_spike" || got[0].Details["last_reason"] != "batch_request" {
		t.Fatalf("want two spikes of 4, got %+v", got)
	}
}

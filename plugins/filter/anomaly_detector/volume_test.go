package anomaly_detector

import (
	"context"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

func tick(t *testing.T, d *Detector) []alert { return run(t, d) }

func TestTapGoneQuietRaisesSilenceOnIdleTicks(t *testing.T) {
	d, clk := newDetector(t, `{"quiet_after": "2m", "volume_min_rate": 5}`)
	var last *sdk.Record
	for i := 0; i < 6; i++ {
		last = rec(t, time.Duration(i)*time.Second, map[string]any{"event_type": sdk.EventToolExecution,
			"server": "files", "mcp_endpoint": "stdio:files", "success": true})
		run(t, d, last)
	}
	clk.t = clk.t.Add(90 * time.Second)
	if as := tick(t, d); len(as) != 0 {
		t.Fatalf("alerted before quiet_after: %v", reasons(as))
	}
	clk.t = clk.t.Add(31 * time.Second)
	as := tick(t, d)
	if len(as) != 1 || as[0].Reason != "telemetry_silence" || as[0].Evidence.LastEventID != last.ID ||
		as[0].Evidence.Total != 6 || as[0].Severity != "high" || as[0].Details["owasp"] != "MCP08" {
		t.Fatalf("got %+v", as)
	}
	clk.t = clk.t.Add(5 * time.Minute)
	if as := tick(t, d); len(as) != 0 {
		t.Fatal("silence alerted twice for one quiet spell")
	}
	// the tap comes back, then goes quiet again: a new alert
	run(t, d, rec(t, time.Hour, map[string]any{"event_type": sdk.EventToolExecution, "mcp_endpoint": "stdio:files"}))
	clk.t = clk.t.Add(3 * time.Minute)
	if as := tick(t, d); len(as) != 1 || as[0].Reason != "telemetry_silence" {
		t.Fatalf("second quiet spell: %v", reasons(as))
	}
}

func TestSourceTooSmallToJudgeStaysSilent(t *testing.T) {
	d, clk := newDetector(t, `{"volume_min_rate": 10}`)
	run(t, d, rec(t, 0, map[string]any{"event_type": sdk.EventToolExecution, "server": "rare"}))
	clk.t = clk.t.Add(time.Hour)
	if as := tick(t, d); len(as) != 0 {
		t.Fatalf("a source with one event alerted: %v", reasons(as))
	}
}

func TestVolumeDropAgainstBaseline(t *testing.T) {
	d, clk := newDetector(t, `{"baseline_minutes": 3, "volume_min_rate": 10, "volume_drop_ratio": 0.2, "quiet_after": "1h"}`)
	send := func(n int) {
		recs := make([]*sdk.Record, n)
		for i := range recs {
			recs[i] = rec(t, 0, map[string]any{"event_type": sdk.EventToolExecution, "server": "crm"})
		}
		if as := run(t, d, recs...); len(as) != 0 {
			t.Fatalf("alerted while sending: %v", reasons(as))
		}
	}
	for m := 0; m < 4; m++ {
		send(50)
		clk.t = clk.t.Add(time.Minute)
	}
	send(3) // 3 in a minute against a baseline of 50
	clk.t = clk.t.Add(time.Minute)
	as := tick(t, d)
	if len(as) != 1 || as[0].Reason != "telemetry_volume_drop" || as[0].Evidence.Count != 3 || as[0].Evidence.Baseline < 49 ||
		as[0].Server != "crm" {
		t.Fatalf("got %+v", as)
	}
}

func TestDefinitionAsksForIdleTicks(t *testing.T) {
	if Definition.Tick.Std() <= 0 || Definition.Tick.Std() > 30*time.Second {
		t.Fatalf("Tick = %v: without idle ticks a quiet tap is never noticed", Definition.Tick.Std())
	}
	// and an empty batch makes nothing out of nothing on a fresh detector
	d, _ := newDetector(t, "")
	out, err := d.Process(context.Background(), &sdk.Batch{})
	if err != nil || out.Len() != 0 {
		t.Fatalf("%v %v", out, err)
	}
}

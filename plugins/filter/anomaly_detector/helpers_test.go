package anomaly_detector

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// clock is a settable time source for the volume detector.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newDetector(t testing.TB, cfg string) (*Detector, *clock) {
	t.Helper()
	clk := &clock{t: t0}
	d := &Detector{now: clk.now}
	if cfg == "" {
		cfg = "{}"
	}
	if err := d.Configure(context.Background(), sdk.Config{Name: "test", Raw: json.RawMessage(cfg)}); err != nil {
		t.Fatalf("configure %s: %v", cfg, err)
	}
	return d, clk
}

var seq int

// rec builds an event at t0+offset with the given fields.
func rec(t testing.TB, offset time.Duration, fields map[string]any) *sdk.Record {
	t.Helper()
	seq++
	ev := map[string]any{"event_id": fmt.Sprintf("ev-%06d", seq), "timestamp": t0.Add(offset).Format(time.RFC3339Nano)}
	for k, v := range fields {
		ev[k] = v
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	r, err := sdk.NewRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// alert is the part of a raised threat the tests check.
type alert struct {
	EventID   string         `json:"event_id"`
	EventType string         `json:"event_type"`
	Severity  string         `json:"severity"`
	Reason    string         `json:"threat_type"`
	AlertType string         `json:"alert_type"`
	Original  string         `json:"original_event_id"`
	Auto      bool           `json:"auto_generated"`
	ClientID  string         `json:"client_id"`
	SourceIP  string         `json:"source_ip"`
	Server    string         `json:"server"`
	ToolName  string         `json:"tool_name"`
	Evidence  evidence       `json:"indicators"`
	Details   map[string]any `json:"details"`
	raw       string
}

// run passes records through d and returns the alerts it appended, checking
// that every input record flowed on unchanged and in order.
func run(t testing.TB, d *Detector, recs ...*sdk.Record) []alert {
	t.Helper()
	out, err := d.Process(context.Background(), &sdk.Batch{Seq: 1, Records: recs})
	if err != nil {
		t.Fatalf("process: %v", err)
	}
	var alerts []alert
	i := 0
	for _, r := range out.Records {
		if i < len(recs) && r == recs[i] {
			i++
			continue
		}
		if r.Type != sdk.EventSecurityThreats {
			t.Fatalf("unexpected record %s", r.Body)
		}
		var a alert
		if err := json.Unmarshal(r.Body, &a); err != nil {
			t.Fatal(err)
		}
		if a.EventID != r.ID || a.EventType != r.Type || a.Severity != r.Severity {
			t.Fatalf("envelope out of step with body: %+v vs %s", r, r.Body)
		}
		a.raw = string(r.Body)
		if !a.Auto || a.AlertType != a.Reason || a.Original != a.Evidence.LastEventID || a.Details["detector"] != "anomaly_detector" {
			t.Fatalf("alert misses the classifier's threat fields: %s", r.Body)
		}
		alerts = append(alerts, a)
	}
	if i != len(recs) {
		t.Fatalf("only %d of %d input records flowed on in order", i, len(recs))
	}
	return alerts
}

func reasons(as []alert) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.Reason)
	}
	return out
}

func only(t testing.TB, as []alert, reason string) []alert {
	t.Helper()
	var out []alert
	for _, a := range as {
		if a.Reason == reason {
			out = append(out, a)
		}
	}
	return out
}

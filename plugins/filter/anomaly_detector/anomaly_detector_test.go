package anomaly_detector

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/filter/classifier"
	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	sdktest.Conformance(t, Definition, sdktest.Options{})
}

func TestRecordsPassThroughUnchanged(t *testing.T) {
	d, _ := newDetector(t, "")
	in := sdktest.Records(5)
	bodies := make([]string, len(in))
	for i, r := range in {
		bodies[i] = string(r.Body)
	}
	bad := &sdk.Record{ID: "x", Type: "custom", Body: json.RawMessage(`not json`)}
	in = append(in, bad)
	out, err := d.Process(context.Background(), &sdk.Batch{Seq: 7, Records: in})
	if err != nil {
		t.Fatal(err)
	}
	if out.Seq != 7 || out.Len() != len(in) || len(out.Rejected) != 0 {
		t.Fatalf("out: seq %d, %d records, rejected %v", out.Seq, out.Len(), out.Rejected)
	}
	for i := range bodies {
		if out.Records[i] != in[i] || string(out.Records[i].Body) != bodies[i] {
			t.Fatalf("record %d changed", i)
		}
	}
	st, _ := d.Invoke(context.Background(), sdk.OpGetStatus, nil)
	if st.(map[string]any)["unparsed_bodies"] != uint64(1) {
		t.Fatalf("unparsed body not counted: %v", st)
	}
}

// Replaying the same events into a fresh detector (a restart replaying
// unacknowledged batches) must raise alerts with the same ids.
func TestReplayRaisesSameAlertIDs(t *testing.T) {
	var recs []*sdk.Record
	for i := 0; i < 5; i++ {
		recs = append(recs, authFail(t, time.Duration(i)*time.Second, "a", "10.1.1.1"))
	}
	recs = append(recs, call(t, 10*time.Second, "a", "files", "x", true))
	recs[5].Body = json.RawMessage(strings.Replace(string(recs[5].Body), `"success"`, `"arguments":{"p":"../../x"},"success"`, 1))
	ids := func() []string {
		d, _ := newDetector(t, "")
		var out []string
		for _, a := range run(t, d, recs...) {
			out = append(out, a.EventID)
		}
		return out
	}
	first, second := ids(), ids()
	if len(first) != 3 || strings.Join(first, ",") != strings.Join(second, ",") {
		t.Fatalf("replay ids differ or missing: %v vs %v", first, second)
	}
}

func TestOwnAlertsAreNotJudgedAgain(t *testing.T) {
	d, _ := newDetector(t, `{"known_servers": ["files"]}`)
	as := run(t, d, rec(t, 0, map[string]any{"event_type": sdk.EventToolExecution, "server": "rogue"}))
	r, _ := sdk.NewRecord([]byte(as[0].raw))
	d2, _ := newDetector(t, `{"known_servers": ["files"]}`)
	if again := run(t, d2, r); len(again) != 0 {
		t.Fatalf("the detector alerted on its own alert: %v", reasons(again))
	}
}

// State is bounded: a flood of distinct clients, IPs, servers and tools
// never holds more than max_keys per detector.
func TestStateIsBounded(t *testing.T) {
	const maxKeys = 100
	d, _ := newDetector(t, fmt.Sprintf(`{"max_keys": %d, "privileged_tools": ["x"]}`, maxKeys))
	for i := 0; i < 20000; i += 500 {
		var recs []*sdk.Record
		for j := i; j < i+500; j++ {
			recs = append(recs,
				authFail(t, 0, fmt.Sprintf("c%d", j), fmt.Sprintf("10.%d.%d.%d", j>>16&255, j>>8&255, j&255)),
				rec(t, 0, map[string]any{"event_type": sdk.EventAuthorizationDecisions, "client_id": fmt.Sprintf("c%d", j), "action": "deny"}),
				rec(t, 0, map[string]any{"event_type": sdk.EventToolExecution, "client_id": fmt.Sprintf("c%d", j),
					"server": fmt.Sprintf("s%d", j), "tool_name": fmt.Sprintf("t%d", j), "success": false,
					"token_hash": fmt.Sprintf("h%d", j)}),
				rec(t, 0, map[string]any{"event_type": sdk.EventPolicyViolations, "client_id": fmt.Sprintf("c%d", j)}),
				rec(t, 0, map[string]any{"event_type": sdk.EventRateLimiting, "client_id": fmt.Sprintf("c%d", j)}))
		}
		run(t, d, recs...)
	}
	st, _ := d.Invoke(context.Background(), sdk.OpGetStatus, nil)
	m := st.(map[string]any)
	for name, n := range m["keys"].(map[string]int) {
		limit := maxKeys
		if name == "volume_sources" {
			limit = maxSources
		}
		if n > limit {
			t.Errorf("%s tracks %d keys, cap %d", name, n, limit)
		}
		if n == 0 && name != "shadow_servers" {
			t.Errorf("%s tracks nothing: the flood did not reach it", name)
		}
	}
	if m["evicted"].(uint64) == 0 {
		t.Error("no evictions counted")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct{ cfg, field string }{
		{`{"error_rate_threshold": 1.5}`, "error_rate_threshold"},
		{`{"auth_failure_threshold": -1}`, "auth_failure_threshold"},
		{`{"volume_drop_ratio": 1}`, "volume_drop_ratio"},
		{`{"rate_spike_factor": 0.5}`, "rate_spike_factor"},
		{`{"privileged_tools": ["[a-"]}`, "privileged_tools"},
		{`{"error_rate_min_calls": 1000}`, "error_rate_min_calls"},
	} {
		err := (&Detector{}).Validate(sdk.Config{Raw: json.RawMessage(tc.cfg)})
		fe, ok := err.(*sdk.FieldError)
		if !ok || fe.Field != tc.field {
			t.Errorf("%s: got %v, want a FieldError on %s", tc.cfg, err, tc.field)
		}
	}
	if err := (&Detector{}).Validate(sdk.Config{Raw: json.RawMessage(`{}`)}); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

func BenchmarkProcess(b *testing.B) {
	d, _ := newDetector(b, `{"known_servers": ["files"], "privileged_tools": ["admin_*"]}`)
	recs := make([]*sdk.Record, 0, 256)
	for i := 0; i < 256; i++ {
		recs = append(recs, rec(b, time.Duration(i)*time.Millisecond, map[string]any{
			"event_type": sdk.EventToolExecution, "client_id": fmt.Sprintf("c%d", i%16), "server": "files",
			"tool_name": "read_file", "arguments": map[string]any{"path": "/srv/reports/q3.txt"}, "success": true,
			"source_ip": "10.0.0.1", "duration_ms": 12}))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.Process(context.Background(), &sdk.Batch{Records: recs}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "events/s")
}

// The classifier minimises fields per event type; an alert must come out of
// it with its evidence whole.
func TestAlertsSurviveClassifier(t *testing.T) {
	d, _ := newDetector(t, `{"auth_failure_threshold": 2}`)
	as := run(t, d, authFail(t, 0, "a", ""), authFail(t, time.Second, "a", ""))
	if len(as) != 1 {
		t.Fatalf("got %v", reasons(as))
	}
	alert, _ := sdk.NewRecord([]byte(as[0].raw))
	cls := classifier.Definition.New()
	if err := cls.(sdk.Configurer).Configure(context.Background(), sdk.Config{Raw: json.RawMessage(`{"audit_level":"enterprise","frameworks":["soc2"]}`)}); err != nil {
		t.Fatal(err)
	}
	out, err := cls.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{alert}})
	if err != nil || out.Len() == 0 {
		t.Fatalf("classifier: %v %v", err, out)
	}
	var got map[string]any
	_ = json.Unmarshal(out.Records[0].Body, &got)
	ind, _ := got["indicators"].(map[string]any)
	det, _ := got["details"].(map[string]any)
	if got["threat_type"] != "auth_failure_burst" || ind["first_event_id"] == nil || ind["last_event_id"] == nil ||
		ind["count"] != float64(2) || det["owasp"] != "MCP07" || got["client_id"] != "a" {
		t.Fatalf("alert lost evidence in the classifier: %s", out.Records[0].Body)
	}
}

// The README's configuration table documents every schema field with its default.
func TestReadmeDocumentsEveryField(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Definition.Config.Fields {
		row := "| `" + f.Name + "` | " + string(f.Type) + " | "
		if f.Default != nil {
			row += fmt.Sprintf("`%v`", f.Default)
		}
		if !strings.Contains(string(readme), row) {
			t.Errorf("README table lacks %q", row)
		}
	}
}

package chronicle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout"
	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

const customer = "c8c65bfa-5f2c-42d4-9189-64bb7b939f2c"

func setup(t testing.TB, extra map[string]any) (*fakeSecOps, *Output) {
	t.Helper()
	sec := newFakeSecOps()
	srv := httptest.NewServer(sec)
	t.Cleanup(srv.Close)
	cfg := map[string]any{"endpoint": srv.URL, "customer_id": customer, "log_type": "MCP_AUDIT",
		"credentials_file": sec.writeServiceAccount(t, srv.URL+"/custom/token"), "timeout": "2s",
		"labels": map[string]string{"env": "prod", "app": "mcp"}}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	o := Definition.New().(*Output)
	if err := o.Configure(context.Background(), sdk.Config{Name: "secops", Raw: raw}); err != nil {
		t.Fatal(err)
	}
	o.engine.Backoff = httpout.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}
	t.Cleanup(func() { _ = o.Close(context.Background()) })
	return sec, o
}

func batch(n int, tool string) *sdk.Batch {
	b := &sdk.Batch{}
	for i := range n {
		r, err := sdk.NewRecord([]byte(fmt.Sprintf(`{"event_id":"ev-%d","timestamp":"2026-11-23T10:00:00.125Z","event_type":"mcp_tool_execution",`+
			`"severity":"high","method":"tools/call","tool_name":%q,"user_id":"alice","client_id":"claude-desktop","source_ip":"10.0.0.5",`+
			`"server":"filesystem","session_id":"s-1","success":true,"duration_ms":42,"arguments":{"path":"/etc"}}`, i, tool)))
		if err != nil {
			panic(err)
		}
		b.Records = append(b.Records, r)
	}
	return b
}

func TestUnstructuredEntriesWithServiceAccountToken(t *testing.T) {
	sec, o := setup(t, nil)
	if out, err := o.Process(context.Background(), batch(3, "fs.read")); err != nil || len(out.Rejected) != 0 {
		t.Fatalf("%v %+v", err, out)
	}
	if len(sec.entries) != 3 || sec.issued != 1 {
		t.Fatalf("%d entries, %d tokens", len(sec.entries), sec.issued)
	}
	e := sec.entries[0]
	if e["ts_rfc3339"] != "2026-11-23T10:00:00.125Z" || !strings.Contains(e["log_text"].(string), `"event_id":"ev-0"`) {
		t.Errorf("entry %v", e)
	}
	if !strings.HasPrefix(string(sec.bodies[0]), `{"customer_id":"`+customer+`","labels":[{"key":"app","value":"mcp"},{"key":"env","value":"prod"}],"log_type":"MCP_AUDIT","entries":[`) {
		t.Errorf("body %s", sec.bodies[0][:200])
	}
}

func TestRetriesAreByteIdenticalAndDeduplicated(t *testing.T) {
	sec, o := setup(t, map[string]any{"max_request_events": 10})
	sec.script = []int{503, 500}
	if _, err := o.Process(context.Background(), batch(10, "fs.read")); err != nil {
		t.Fatal(err)
	}
	if len(sec.bodies) != 1 || o.stats.RequestRetries.Load() != 2 {
		t.Fatalf("%d accepted bodies, %d in-place retries", len(sec.bodies), o.stats.RequestRetries.Load())
	}
	// A storm longer than the in-place retries goes back to the host; the
	// host's resend of the same records makes the same bytes again.
	sec.script = []int{503, 503, 503}
	b := batch(10, "fs.read")
	for i := range b.Records {
		b.Records[i].ID += "-b" // different events from the first batch
		b.Records[i].Body = sdk.SpliceField(b.Records[i].Body, "trace_id", "t2")
	}
	_, err := o.Process(context.Background(), b)
	if !sdk.IsRetryable(err) {
		t.Fatalf("storm: %v", err)
	}
	if _, err := o.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	// And if an answer was lost after SecOps stored the batch, the resend is dropped there.
	if _, err := o.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(sec.entries) != 20 || sec.deduped != 1 {
		t.Fatalf("%d entries stored, %d deduplicated", len(sec.entries), sec.deduped)
	}
}

func TestThrottleWaitsAtLeastThrottleWait(t *testing.T) {
	sec, o := setup(t, map[string]any{"throttle_wait": "2m"})
	sec.script = []int{429}
	_, err := o.Process(context.Background(), batch(2, "fs.read"))
	var re *sdk.RetryError
	if !errors.As(err, &re) || re.After != 2*time.Minute {
		t.Fatalf("%v", err)
	}
	if sec.requests != 1 {
		t.Errorf("%d requests: a 429 must not be retried in place", sec.requests)
	}
}

func TestUDMModeMapsEventsAndIsolatesInvalidOnes(t *testing.T) {
	sec, o := setup(t, map[string]any{"mode": "udm", "log_type": ""})
	b := batch(8, "fs.read")
	b.Records[5] = batch(1, "poison").Records[0]
	out, err := o.Process(context.Background(), b)
	if err != nil || len(out.Rejected) != 1 || out.Rejected[0].Index != 5 || !strings.Contains(out.Rejected[0].Reason, "invalid UDM event") {
		t.Fatalf("%v %+v", err, out.Rejected)
	}
	if len(sec.events) != 7 {
		t.Fatalf("%d events", len(sec.events))
	}
	got, _ := json.Marshal(sec.events[0])
	for _, want := range []string{
		`"event_type":"USER_RESOURCE_ACCESS"`, `"product_log_id":"ev-0"`, `"product_event_type":"mcp_tool_execution tools/call"`,
		`"principal":{"application":"claude-desktop","ip":["10.0.0.5"],"user":{"userid":"alice"}}`,
		`"target":{"application":"filesystem","resource":{"name":"fs.read"}}`, `"network":{"session_id":"s-1"}`,
		`"security_result":[{"action":["ALLOW"],"severity":"HIGH"}]`, `"duration_ms":"42"`, `"arguments":"{\"path\":\"/etc\"}"`,
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("UDM event lacks %s:\n%s", want, got)
		}
	}
}

func TestConfigurationErrorsAreNotBisected(t *testing.T) {
	sec, o := setup(t, map[string]any{"log_type": "NOPE"})
	out, err := o.Process(context.Background(), batch(16, "fs.read"))
	if err != nil || len(out.Rejected) != 16 || sec.requests != 1 || !strings.Contains(out.Rejected[0].Reason, "invalid log type") {
		t.Fatalf("%v, %d rejected in %d requests", err, len(out.Rejected), sec.requests)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct{ cfg, field string }{
		{`{"credentials_file":"sa.json","log_type":"X"}`, "customer_id"},
		{`{"customer_id":"c","log_type":"X"}`, "credentials_file"},
		{`{"customer_id":"c","credentials_file":"sa.json"}`, "log_type"},
		{`{"customer_id":"c","credentials_file":"sa.json","log_type":"X","region":"mars"}`, "region"},
		{`{"customer_id":"c","credentials_file":"sa.json","mode":"cef"}`, "mode"},
		{`{"customer_id":"c","credentials_file":"sa.json","mode":"udm","region":"europe-west2"}`, ""},
	}
	for _, tc := range tests {
		err := (&Output{}).Validate(sdk.Config{Raw: json.RawMessage(tc.cfg)})
		var fe *sdk.FieldError
		if tc.field == "" && err != nil || tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
			t.Errorf("%s: %v, want field %q", tc.cfg, err, tc.field)
		}
	}
	var c Config
	_ = json.Unmarshal([]byte(`{"region":"europe-west2"}`), &c)
	c.Defaults()
	if c.Endpoint != "https://europe-west2-malachiteingestion-pa.googleapis.com" {
		t.Errorf("regional endpoint %s", c.Endpoint)
	}
}

func TestConformance(t *testing.T) {
	sec := newFakeSecOps()
	srv := httptest.NewServer(sec)
	defer srv.Close()
	raw, _ := json.Marshal(map[string]any{"endpoint": srv.URL, "customer_id": customer, "log_type": "MCP_AUDIT",
		"credentials_file": sec.writeServiceAccount(t, srv.URL+"/custom/token")})
	sdktest.Conformance(t, Definition, sdktest.Options{Config: raw})
}

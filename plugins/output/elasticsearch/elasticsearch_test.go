package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout/httpouttest"
	"github.com/sentinel-audit/sentinel/sdk"
)

const apiKey = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="

func newOutput(t testing.TB, url string, extra map[string]any) *Output {
	t.Helper()
	cfg := map[string]any{"endpoints": []string{url}, "api_key": apiKey, "timeout": "2s"}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	o := Definition.New().(*Output)
	if err := o.Configure(context.Background(), sdk.Config{Name: "siem", Raw: raw}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() { _ = o.Close(context.Background()) })
	return o
}

func record(i int, typ, tool string) *sdk.Record {
	body := fmt.Sprintf(`{"event_id":"01JD%06d","timestamp":"2026-11-23T10:00:00.5Z","event_type":%q,"severity":"high",`+
		`"user_id":"alice","source_ip":"10.0.0.5","server":"filesystem","tool_name":%q,"success":false,"duration_ms":42.5,`+
		`"error":"permission denied","session_id":"s-1","arguments":{"path":"/etc/passwd"},"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`, i, typ, tool)
	r, err := sdk.NewRecord([]byte(body))
	if err != nil {
		panic(err)
	}
	return r
}

func batch(n int, tool func(i int) string) *sdk.Batch {
	b := &sdk.Batch{}
	for i := range n {
		typ := sdk.EventToolExecution
		if i%2 == 1 {
			typ = sdk.EventAuthorizationDecisions
		}
		b.Records = append(b.Records, record(i, typ, tool(i)))
	}
	return b
}

func plain(int) string { return "fs.read" }

// deliverAll plays the host's retry loop.
func deliverAll(t *testing.T, o *Output, b *sdk.Batch) (rejected []sdk.Rejection, attempts int) {
	t.Helper()
	cur, idx := b, make([]int, len(b.Records))
	for i := range idx {
		idx[i] = i
	}
	for attempts = 1; attempts < 30; attempts++ {
		out, err := o.Process(context.Background(), cur)
		for _, r := range out.Rejected {
			r.Index = idx[r.Index]
			rejected = append(rejected, r)
		}
		if err == nil {
			return rejected, attempts
		}
		var re *sdk.RetryError
		if !errors.As(err, &re) {
			t.Fatalf("permanent error: %v", err)
		}
		next, nidx := &sdk.Batch{}, []int(nil)
		for _, i := range re.Indices {
			next.Records = append(next.Records, cur.Records[i])
			nidx = append(nidx, idx[i])
		}
		cur, idx = next, nidx
	}
	t.Fatal("not delivered after 30 attempts")
	return nil, 0
}

func TestBulkCreatesECSDocumentsInDataStreamsByType(t *testing.T) {
	es := newFakeES("ApiKey " + apiKey)
	pki := httpouttest.NewPKI(t)
	srv := pki.Server(t, es, false)
	o := newOutput(t, srv.URL, map[string]any{"namespace": "prod", "tls": map[string]any{"ca_file": pki.CAFile}})
	out, err := o.Process(context.Background(), batch(4, plain))
	if err != nil || len(out.Rejected) != 0 {
		t.Fatalf("Process = %v %+v", err, out.Rejected)
	}
	doc := es.docs["logs-mcp.tools-prod/01JD000000"]
	if doc == nil || es.docs["logs-mcp.authz-prod/01JD000001"] == nil {
		t.Fatalf("documents not in per-type data streams: %v", keys(es.docs))
	}
	checks := map[string]any{
		"@timestamp": "2026-11-23T10:00:00.5Z", "event.id": "01JD000000", "event.action": "mcp_tool_execution",
		"event.outcome": "failure", "event.duration": float64(42_500_000), "log.level": "high", "user.id": "alice",
		"source.ip": "10.0.0.5", "service.name": "filesystem", "error.message": "permission denied",
		"trace.id": "4bf92f3577b34da6a3ce929d0e0e4736", "mcp.tool_name": "fs.read", "mcp.session_id": "s-1",
		"data_stream.dataset": "mcp.tools", "data_stream.namespace": "prod", "data_stream.type": "logs",
	}
	for path, want := range checks {
		if got := lookup(doc, path); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if !strings.Contains(es.lastQuery, "filter_path") {
		t.Errorf("no filter_path: %q", es.lastQuery)
	}
}

func TestMonthlyIndices(t *testing.T) {
	es := newFakeES("")
	srv := httptest.NewServer(es)
	defer srv.Close()
	o := newOutput(t, srv.URL, map[string]any{"index_mode": "monthly", "api_key": ""})
	if _, err := o.Process(context.Background(), batch(2, plain)); err != nil {
		t.Fatal(err)
	}
	if es.docs["mcp-tools-2026-11/01JD000000"] == nil || es.docs["mcp-authz-2026-11/01JD000001"] == nil {
		t.Fatalf("docs in %v", keys(es.docs))
	}
}

func TestPerItemResultsRetryOnlyThrottledAndDeadLetterTheRest(t *testing.T) {
	es := newFakeES("ApiKey " + apiKey)
	es.throttle = 2
	srv := httptest.NewServer(es)
	defer srv.Close()
	o := newOutput(t, srv.URL, nil)
	tools := func(i int) string {
		switch i {
		case 3, 11:
			return "bad"
		case 5, 6, 7:
			return "hot"
		}
		return "fs.read"
	}
	b := batch(20, tools)
	out, err := o.Process(context.Background(), b)
	var re *sdk.RetryError
	if !errors.As(err, &re) || fmt.Sprint(re.Indices) != "[5 6 7]" {
		t.Fatalf("first attempt: %v", err)
	}
	if len(out.Rejected) != 2 || !strings.Contains(out.Rejected[0].Reason, "document_parsing_exception") {
		t.Fatalf("rejected %+v", out.Rejected)
	}
	rej, attempts := deliverAll(t, o, b)
	if attempts != 2 || len(rej) != 2 { // the first 429 was above; one more, then stored
		t.Fatalf("attempts %d rejected %d", attempts, len(rej))
	}
	if len(es.docs) != 18 {
		t.Errorf("stored %d docs, want 18", len(es.docs))
	}
	// The whole batch resent (a lost answer): 409s count as delivered, nothing doubles.
	before := o.conflicts.Load()
	out, err = o.Process(context.Background(), batch(20, plain))
	if err != nil || len(out.Rejected) != 0 || len(es.docs) != 20 || o.conflicts.Load()-before != 18 {
		t.Fatalf("resend: %v rejected %d docs %d conflicts %d", err, len(out.Rejected), len(es.docs), o.conflicts.Load()-before)
	}
}

func TestRequestLevelFailures(t *testing.T) {
	t.Run("auth failure dead-letters with the answer", func(t *testing.T) {
		es := newFakeES("ApiKey right")
		srv := httptest.NewServer(es)
		defer srv.Close()
		o := newOutput(t, srv.URL, nil)
		out, err := o.Process(context.Background(), batch(3, plain))
		if err != nil || len(out.Rejected) != 3 || !strings.Contains(out.Rejected[0].Reason, "security_exception") {
			t.Fatalf("%v %+v", err, out.Rejected)
		}
	})
	t.Run("429 honours Retry-After", func(t *testing.T) {
		es := newFakeES("")
		es.script = []int{429}
		srv := httptest.NewServer(es)
		defer srv.Close()
		o := newOutput(t, srv.URL, map[string]any{"api_key": ""})
		_, err := o.Process(context.Background(), batch(3, plain))
		var re *sdk.RetryError
		if !errors.As(err, &re) || re.After != 3*time.Second || len(re.Indices) != 3 {
			t.Fatalf("%v", err)
		}
	})
	t.Run("5xx storm then recovery", func(t *testing.T) {
		es := newFakeES("")
		es.script = []int{502, 503, 500, 503, 504, 503}
		srv := httptest.NewServer(es)
		defer srv.Close()
		o := newOutput(t, srv.URL, map[string]any{"api_key": "", "max_request_events": 5})
		rej, _ := deliverAll(t, o, batch(30, plain))
		if len(rej) != 0 || len(es.docs) != 30 {
			t.Fatalf("rejected %d stored %d", len(rej), len(es.docs))
		}
	})
	t.Run("413 splits", func(t *testing.T) {
		es := newFakeES("")
		es.maxContent = 4000
		srv := httptest.NewServer(es)
		defer srv.Close()
		o := newOutput(t, srv.URL, map[string]any{"api_key": ""})
		rej, _ := deliverAll(t, o, batch(30, plain))
		if len(rej) != 0 || len(es.docs) != 30 || o.stats.Splits.Load() == 0 {
			t.Fatalf("rejected %d stored %d splits %d", len(rej), len(es.docs), o.stats.Splits.Load())
		}
	})
	t.Run("basic auth and endpoint rotation", func(t *testing.T) {
		es := newFakeES("Basic ZWxhc3RpYzpzM2NyZXQ=")
		a, b := httptest.NewServer(es), httptest.NewServer(es)
		defer a.Close()
		defer b.Close()
		o := newOutput(t, a.URL, map[string]any{"api_key": "", "username": "elastic", "password": "s3cret",
			"endpoints": []string{a.URL, b.URL}, "max_request_events": 1})
		if rej, _ := deliverAll(t, o, batch(4, plain)); len(rej) != 0 || len(es.docs) != 4 {
			t.Fatalf("rejected %v", rej)
		}
	})
}

func TestSetupInstallsTemplatesAndLifecycle(t *testing.T) {
	t.Run("elasticsearch data streams get data stream retention", func(t *testing.T) {
		es := newFakeES("")
		srv := httptest.NewServer(es)
		defer srv.Close()
		raw, _ := json.Marshal(map[string]any{"endpoints": []string{srv.URL}, "retention_by_type": map[string]string{"mcp_security_threats": "2555d"}})
		var log bytes.Buffer
		err := Setup(context.Background(), "siem", raw, SetupOptions{RetentionDays: map[string]int{"mcp_rate_limiting_events": 30}}, &log)
		if err != nil {
			t.Fatal(err)
		}
		var tmpl struct {
			IndexPatterns []string       `json:"index_patterns"`
			DataStream    map[string]any `json:"data_stream"`
			Priority      int
			Template      struct {
				Lifecycle struct {
					DataRetention string `json:"data_retention"`
				}
				Settings map[string]any
				Mappings map[string]any
			}
		}
		for short, want := range map[string]string{"threats": "2555d", "ratelimit": "30d", "tools": "365d"} {
			if err := json.Unmarshal(es.puts["/_index_template/sentinel-mcp-"+short], &tmpl); err != nil {
				t.Fatalf("%s: %v (installed %v)", short, err, keys(es.puts))
			}
			if tmpl.Template.Lifecycle.DataRetention != want || tmpl.DataStream == nil || tmpl.Priority <= 200 ||
				tmpl.IndexPatterns[0] != "logs-mcp."+short+"-*" || tmpl.Template.Settings["index.mode"] != "standard" {
				t.Errorf("%s: template %+v", short, tmpl)
			}
		}
		if len(es.puts) != 11 {
			t.Errorf("%d PUTs, want one template per event type plus other", len(es.puts))
		}
	})
	t.Run("elasticsearch monthly indices get ILM", func(t *testing.T) {
		es := newFakeES("")
		srv := httptest.NewServer(es)
		defer srv.Close()
		raw, _ := json.Marshal(map[string]any{"endpoints": []string{srv.URL}, "index_mode": "monthly", "retention": "90d"})
		if err := Setup(context.Background(), "siem", raw, SetupOptions{}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		pol := string(es.puts["/_ilm/policy/sentinel-mcp-tools"])
		if !strings.Contains(pol, `"min_age":"121d"`) || !strings.Contains(string(es.puts["/_index_template/sentinel-mcp-tools"]), `"index.lifecycle.name":"sentinel-mcp-tools"`) {
			t.Errorf("policy %s", pol)
		}
	})
	t.Run("opensearch gets ISM, twice", func(t *testing.T) {
		es := newFakeES("")
		es.distribution = "opensearch"
		srv := httptest.NewServer(es)
		defer srv.Close()
		raw, _ := json.Marshal(map[string]any{"endpoints": []string{srv.URL}, "retention": "30d"})
		for range 2 { // the second run updates the existing policies
			if err := Setup(context.Background(), "siem", raw, SetupOptions{}, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
		}
		pol := string(es.puts["/_plugins/_ism/policies/sentinel-mcp-tools"])
		if !strings.Contains(pol, `"min_index_age":"60d"`) || !strings.Contains(pol, `".ds-logs-mcp.tools-*"`) || !strings.Contains(pol, "rollover") {
			t.Errorf("ISM policy %s", pol)
		}
		if tmpl := string(es.puts["/_index_template/sentinel-mcp-tools"]); strings.Contains(tmpl, "lifecycle") || strings.Contains(tmpl, "index.mode") {
			t.Errorf("Elasticsearch-only settings sent to OpenSearch: %s", tmpl)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct{ cfg, field string }{
		{`{}`, "endpoints"},
		{`{"endpoints":["es:9200"]}`, "endpoints"},
		{`{"endpoints":["https://es:9200"],"api_key":"k","username":"u","password":"p"}`, "api_key"},
		{`{"endpoints":["https://es:9200"],"username":"u"}`, "username"},
		{`{"endpoints":["https://es:9200"],"index_mode":"daily"}`, "index_mode"},
		{`{"endpoints":["https://es:9200"],"namespace":"my-ns"}`, "namespace"},
		{`{"endpoints":["https://es:9200"],"retention_by_type":{"x":"forever"}}`, "retention_by_type"},
		{`{"endpoints":["https://es:9200"],"api_key":"k"}`, ""},
	}
	for _, tc := range tests {
		err := (&Output{}).Validate(sdk.Config{Raw: json.RawMessage(tc.cfg)})
		var fe *sdk.FieldError
		if tc.field == "" && err != nil || tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
			t.Errorf("%s: %v, want field %q", tc.cfg, err, tc.field)
		}
	}
	if err := Definition.Check(); err != nil {
		t.Fatal(err)
	}
}

func lookup(doc map[string]any, path string) any {
	var cur any = doc
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok := m[p]; ok {
			cur = v
			continue
		}
		return m[path[strings.Index(path, p):]] // "@timestamp"-style keys with no dots
	}
	return cur
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

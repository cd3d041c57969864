package dashboards_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/filter/anomaly_detector"
	"github.com/sentinel-audit/sentinel/plugins/filter/classifier"
	"github.com/sentinel-audit/sentinel/plugins/output/elasticsearch"
	"github.com/sentinel-audit/sentinel/plugins/output/microsoft_sentinel"
	"github.com/sentinel-audit/sentinel/plugins/output/splunk_hec"
	"github.com/sentinel-audit/sentinel/sdk"
)

// The field sets are not written down here: they are what each output
// actually sends for a realistic stream of events. The stream is the tap's
// event shapes, run through the real anomaly_detector (for its alerts) and
// the real classifier (enterprise level, every framework, default field
// minimisation), as a production pipeline would; each output then delivers
// it to an in-process server speaking its destination's protocol, and the
// keys of what arrives are the fields a dashboard may use.

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func sampleStream(t *testing.T) []*sdk.Record {
	t.Helper()
	var evs []map[string]any
	add := func(off time.Duration, f map[string]any) {
		f["event_id"] = fmt.Sprintf("01KAR%021d", len(evs)+1)
		f["timestamp"] = t0.Add(off).Format(time.RFC3339Nano)
		evs = append(evs, f)
	}
	tapFields := func(f map[string]any) map[string]any {
		base := map[string]any{"session_id": "tap-7", "client_id": "claude-code/2.1", "source_ip": "10.0.0.7",
			"server": "files", "mcp_endpoint": "http://127.0.0.1:7070/mcp", "direction": "client_to_server",
			"mcp.session.id": "abc", "mcp.protocol.version": "2025-11-25", "network.transport": "tcp",
			"network.protocol.name": "http", "client.address": "10.0.0.7", "token_hash": "hmac-sha256:00ff",
			"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}
		for k, v := range f {
			base[k] = v
		}
		return base
	}
	for i := 0; i < 12; i++ {
		ok := i%4 != 0
		f := tapFields(map[string]any{"event_type": sdk.EventToolExecution, "severity": "info", "method": "tools/call",
			"mcp.method.name": "tools/call", "tool_name": "read_file", "gen_ai.tool.name": "read_file",
			"gen_ai.operation.name": "execute_tool", "jsonrpc.request.id": fmt.Sprint(i), "arguments": map[string]any{"path": "/srv/q3.txt"},
			"result": "ok", "duration_ms": 12.5, "mcp.server.operation.duration": 0.0125, "success": ok, "status": "success"})
		if !ok {
			f["status"], f["error"], f["error_code"], f["error.type"], f["severity"] = "error", "denied", -32602, "-32602", "low"
		}
		add(time.Duration(i)*time.Second, f)
	}
	add(20*time.Second, tapFields(map[string]any{"event_type": sdk.EventToolExecution, "method": "tools/call", "tool_name": "exec",
		"arguments": map[string]any{"cmd": "ls; rm -rf /"}, "duration_ms": 3, "success": true}))
	for i := 0; i < 5; i++ {
		add(30*time.Second+time.Duration(i)*time.Second, tapFields(map[string]any{"event_type": sdk.EventAuthentication,
			"severity": "low", "action": "authentication_required", "success": false, "http_status": 401}))
	}
	add(40*time.Second, tapFields(map[string]any{"event_type": sdk.EventAuthorizationDecisions, "action": "deny", "reason": "deny:admin_*",
		"tool_name": "admin_reset", "method": "tools/call"}))
	add(41*time.Second, tapFields(map[string]any{"event_type": sdk.EventPolicyViolations, "severity": "medium", "reason": "tool_denied",
		"tool_name": "admin_reset", "method": "tools/call", "details": map[string]any{"rule": "admin_*", "mode": "enforce"}}))
	add(42*time.Second, tapFields(map[string]any{"event_type": sdk.EventRateLimiting, "severity": "medium", "reason": "client_rate_exceeded",
		"action": "rejected", "tool_name": "read_file", "details": map[string]any{"scope": "client", "calls_per_minute": 60}}))
	add(43*time.Second, tapFields(map[string]any{"event_type": sdk.EventOAuth2TokenUsage, "action": "bearer_token_used",
		"details": map[string]any{"token_type": "bearer", "claims": map[string]any{"sub": "alice", "aud": "https://api.github.com"}}}))
	add(44*time.Second, tapFields(map[string]any{"event_type": sdk.EventResourceAccess, "method": "resources/read",
		"resource_uri": "file:///srv/q3.txt", "mcp.resource.uri": "file:///srv/q3.txt", "duration_ms": 4, "success": true}))
	add(45*time.Second, tapFields(map[string]any{"event_type": sdk.EventPromptRequest, "method": "prompts/get", "prompt_name": "summarize",
		"gen_ai.prompt.name": "summarize", "duration_ms": 2, "success": true}))
	add(46*time.Second, tapFields(map[string]any{"event_type": sdk.EventSecurityThreats, "severity": "high", "reason": "tool_definition_changed",
		"tool_name": "read_file", "details": map[string]any{"old_hash": "a", "new_hash": "b", "threat": "rug_pull"}}))
	add(47*time.Second, tapFields(map[string]any{"event_type": sdk.EventCompliance, "severity": "medium", "reason": "tool_inventory_unavailable",
		"error": "disk full"}))

	var recs []*sdk.Record
	for _, e := range evs {
		b, _ := json.Marshal(e)
		r, err := sdk.NewRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	ctx := context.Background()
	stage := func(def *sdk.Definition, cfg string, recs []*sdk.Record) []*sdk.Record {
		p := def.New()
		if err := p.(sdk.Configurer).Configure(ctx, sdk.Config{Name: "fields", DataDir: t.TempDir(), Raw: json.RawMessage(cfg)}); err != nil {
			t.Fatalf("%s: %v", def.Name, err)
		}
		out, err := p.Process(ctx, &sdk.Batch{Records: recs})
		if err != nil || len(out.Rejected) > 0 {
			t.Fatalf("%s: %v %v", def.Name, err, out.Rejected)
		}
		return out.Records
	}
	recs = stage(anomaly_detector.Definition, `{"privileged_tools":["admin_*"],"known_servers":["crm"]}`, recs)
	recs = stage(classifier.Definition, `{"audit_level":"enterprise","frameworks":["sox","gdpr","hipaa","soc2","pci_dss"]}`, recs)
	threats := 0
	for _, r := range recs {
		if r.Type == sdk.EventSecurityThreats && strings.Contains(string(r.Body), `"indicators"`) {
			threats++
		}
	}
	if threats < 3 {
		t.Fatalf("the sample stream raised %d anomaly alerts; the field sets would miss their fields", threats)
	}
	return recs
}

// flatten collects the dotted names of every key in a JSON value; arrays of
// objects contribute their elements' keys under the array's name plus
// arraySuffix (Splunk names a JSON array field "name{}", Elasticsearch and
// Log Analytics just "name").
func flatten(prefix string, v any, into map[string]bool) { flattenArr(prefix, v, into, "") }

func flattenArr(prefix string, v any, into map[string]bool, arraySuffix string) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			if _, isArr := val.([]any); isArr {
				into[name+arraySuffix] = true
				flattenArr(name+arraySuffix, val, into, arraySuffix)
				continue
			}
			into[name] = true
			flattenArr(name, val, into, arraySuffix)
		}
	case []any:
		for _, el := range x {
			flattenArr(prefix, el, into, arraySuffix)
		}
	}
}

func readBody(r *http.Request) []byte {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil
		}
		rd = zr
	}
	b, _ := io.ReadAll(rd)
	return b
}

// deliver runs an output over the stream against srv.
func deliver(t *testing.T, def *sdk.Definition, cfg string, recs []*sdk.Record) {
	t.Helper()
	ctx := context.Background()
	p := def.New()
	if err := p.(sdk.Configurer).Configure(ctx, sdk.Config{Name: "fields", DataDir: t.TempDir(), Raw: json.RawMessage(cfg)}); err != nil {
		t.Fatalf("%s: %v", def.Name, err)
	}
	out, err := p.Process(ctx, &sdk.Batch{Records: recs, Final: true})
	if err != nil || len(out.Rejected) > 0 {
		t.Fatalf("%s: %v %v", def.Name, err, out.Rejected)
	}
	if c, ok := p.(sdk.Closer); ok {
		_ = c.Close(ctx)
	}
}

var (
	fieldsOnce sync.Once
	fieldSets  map[string]map[string]bool
)

// outputFields returns, per destination, the field names its output wrote.
func outputFields(t *testing.T) map[string]map[string]bool {
	fieldsOnce.Do(func() { fieldSets = collectFields(t) })
	if fieldSets == nil {
		t.Fatal("field collection failed")
	}
	return fieldSets
}

func collectFields(t *testing.T) map[string]map[string]bool {
	recs := sampleStream(t)
	sets := map[string]map[string]bool{"elasticsearch": {}, "splunk": {}, "sentinel": {}}
	var mu sync.Mutex

	es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/_bulk") {
			_, _ = io.WriteString(w, `{"version":{"number":"9.1.0","distribution":"elasticsearch"},"tagline":"You Know, for Search"}`)
			return
		}
		sc := bufio.NewScanner(bytes.NewReader(readBody(r)))
		sc.Buffer(nil, 16<<20)
		var items []string
		for sc.Scan() {
			if !sc.Scan() {
				break
			}
			var doc map[string]any
			if err := json.Unmarshal(sc.Bytes(), &doc); err == nil {
				mu.Lock()
				flatten("", doc, sets["elasticsearch"])
				mu.Unlock()
			}
			items = append(items, `{"create":{"status":201}}`)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"errors":false,"items":[%s]}`, strings.Join(items, ","))
	}))
	defer es.Close()
	deliver(t, elasticsearch.Definition, fmt.Sprintf(`{"endpoints":[%q]}`, es.URL), recs)

	hec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dec := json.NewDecoder(bytes.NewReader(readBody(r)))
		for {
			var env map[string]any
			if dec.Decode(&env) != nil {
				break
			}
			mu.Lock()
			for _, k := range []string{"host", "source", "sourcetype", "index"} { // Splunk's default fields
				sets["splunk"][k] = true
			}
			sets["splunk"]["_time"] = true
			flattenArr("", env["event"], sets["splunk"], "{}")
			if f, ok := env["fields"].(map[string]any); ok {
				for k := range f {
					sets["splunk"][k] = true
				}
			}
			mu.Unlock()
		}
		_, _ = io.WriteString(w, `{"text":"Success","code":0}`)
	}))
	defer hec.Close()
	deliver(t, splunk_hec.Definition, fmt.Sprintf(`{"endpoint":%q,"token":"00000000-0000-0000-0000-000000000000"}`, hec.URL), recs)

	az := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"access_token":"t","token_type":"Bearer","expires_in":3600}`)
			return
		}
		var rows []map[string]any
		if err := json.Unmarshal(readBody(r), &rows); err != nil {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		for _, row := range rows {
			flatten("", row, sets["sentinel"])
		}
		mu.Unlock()
		w.WriteHeader(204)
	}))
	defer az.Close()
	deliver(t, microsoft_sentinel.Definition, fmt.Sprintf(`{"endpoint":%q,"token_url":%q,"dcr_immutable_id":"dcr-0000","stream":"Custom-MCPAudit","tenant_id":"t","client_id":"c","client_secret":"s"}`,
		az.URL, az.URL+"/token"), recs)

	for name, set := range sets {
		if len(set) < 10 {
			t.Fatalf("%s output wrote only %d fields: %v", name, len(set), keys(set))
		}
	}
	return sets
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

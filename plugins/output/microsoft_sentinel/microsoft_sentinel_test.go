package microsoft_sentinel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func newOutput(t testing.TB, az *fakeAzure, url string, extra map[string]any) *Output {
	t.Helper()
	cfg := map[string]any{"endpoint": url, "dcr_immutable_id": az.dcr, "stream": az.stream, "tenant_id": az.tenant,
		"client_id": az.clientID, "client_secret": az.secret, "authority_host": url, "timeout": "2s"}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	o := Definition.New().(*Output)
	if err := o.Configure(context.Background(), sdk.Config{Name: "sentinel", Raw: raw}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close(context.Background()) })
	return o
}

func batch(n int, pad int) *sdk.Batch {
	b := &sdk.Batch{}
	for i := range n {
		r, err := sdk.NewRecord([]byte(fmt.Sprintf(`{"event_id":"ev-%d","timestamp":"2026-11-23T10:00:00.25Z","event_type":"mcp_tool_execution",`+
			`"severity":"high","method":"tools/call","tool_name":"fs.read","user_id":"alice","session_id":"s-9","server":"filesystem",`+
			`"source_ip":"10.1.2.3","success":true,"arguments":{"path":"/tmp/x"},"classification":"internal","result":"%s"}`, i, strings.Repeat("r", pad))))
		if err != nil {
			panic(err)
		}
		b.Records = append(b.Records, r)
	}
	return b
}

func TestRowsAreASIMAuditEvents(t *testing.T) {
	az := newFakeAzure()
	srv := httptest.NewServer(az)
	defer srv.Close()
	o := newOutput(t, az, srv.URL, nil)
	if out, err := o.Process(context.Background(), batch(3, 10)); err != nil || len(out.Rejected) != 0 {
		t.Fatalf("%v %+v", err, out)
	}
	row := az.rows[0]
	want := map[string]any{
		"TimeGenerated": "2026-11-23T10:00:00.250Z", "EventType": "Execute", "EventResult": "Success", "EventSeverity": "High",
		"EventSchema": "AuditEvent", "Operation": "tools/call", "Object": "fs.read", "ActorUsername": "alice",
		"ActorSessionId": "s-9", "TargetAppName": "filesystem", "SrcIpAddr": "10.1.2.3", "EventOriginalUid": "ev-0",
		"EventOriginalType": "mcp_tool_execution", "NewValue": `{"path":"/tmp/x"}`, "EventCount": float64(1),
	}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("%s = %v, want %v", k, row[k], v)
		}
	}
	if add, _ := row["AdditionalFields"].(map[string]any); add["classification"] != "internal" {
		t.Errorf("AdditionalFields = %v", row["AdditionalFields"])
	}
}

func TestTokenIsCachedAndRefreshed(t *testing.T) {
	az := newFakeAzure()
	srv := httptest.NewServer(az)
	defer srv.Close()
	o := newOutput(t, az, srv.URL, nil)
	for range 3 {
		if _, err := o.Process(context.Background(), batch(2, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if n := az.issued.Load(); n != 1 {
		t.Fatalf("%d tokens fetched for 3 batches, want 1 (cached)", n)
	}
	// Expiring within the refresh margin: a new token is fetched before use.
	az.expiresIn = 60
	o.tokens.Invalidate()
	_, _ = o.Process(context.Background(), batch(1, 1))
	_, _ = o.Process(context.Background(), batch(1, 1))
	if n := az.issued.Load(); n != 3 {
		t.Fatalf("%d tokens, want a fresh one per call for short-lived tokens", n)
	}
	// A token the API stops accepting is replaced and the call repeated.
	az.expiresIn = 3600
	_, _ = o.Process(context.Background(), batch(1, 1))
	az.mu.Lock()
	for k := range az.tokens {
		delete(az.tokens, k)
	}
	az.mu.Unlock()
	if _, err := o.Process(context.Background(), batch(1, 1)); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
}

func TestWrongSecretDeadLettersWithEntrasAnswer(t *testing.T) {
	az := newFakeAzure()
	srv := httptest.NewServer(az)
	defer srv.Close()
	o := newOutput(t, az, srv.URL, map[string]any{"client_secret": "wrong"})
	out, err := o.Process(context.Background(), batch(2, 1))
	if err != nil || len(out.Rejected) != 2 || !strings.Contains(out.Rejected[0].Reason, "AADSTS7000215") {
		t.Fatalf("%v %+v", err, out.Rejected)
	}
	if err := o.Health(context.Background()); err == nil {
		t.Fatal("health passed with a wrong secret")
	}
}

func TestCallsStayUnderOneMegabyteAndSplitOn413(t *testing.T) {
	az := newFakeAzure()
	srv := httptest.NewServer(az)
	defer srv.Close()
	o := newOutput(t, az, srv.URL, nil)
	// 300 rows of ~10 KB: 3 MB, so at least 3 calls under the 1,000,000-byte cap.
	if out, err := o.Process(context.Background(), batch(300, 10_000)); err != nil || len(out.Rejected) != 0 {
		t.Fatalf("%v", err)
	}
	if len(az.rows) != 300 || az.requests < 4 || o.stats.Splits.Load() != 0 {
		t.Fatalf("%d rows in %d calls, %d splits", len(az.rows), az.requests, o.stats.Splits.Load())
	}
	// A user who raised nothing still gets a 413 split when the API's limit is lower than ours.
	o2 := newOutput(t, az, srv.URL, map[string]any{"compression": "none"})
	o2.engine.MaxBytes = 3_000_000
	if out, err := o2.Process(context.Background(), batch(200, 10_000)); err != nil || len(out.Rejected) != 0 {
		t.Fatalf("%v", err)
	}
	if o2.stats.Splits.Load() == 0 {
		t.Error("no 413 split")
	}
}

func TestThrottlingAndPoisonRows(t *testing.T) {
	az := newFakeAzure()
	srv := httptest.NewServer(az)
	defer srv.Close()
	o := newOutput(t, az, srv.URL, nil)
	az.script = []int{429}
	_, err := o.Process(context.Background(), batch(5, 1))
	var re *sdk.RetryError
	if !errors.As(err, &re) || re.After != 11*time.Second || len(re.Indices) != 5 {
		t.Fatalf("429: %v", err)
	}
	b := batch(16, 1)
	b.Records[9].ID = "poison"
	out, err := o.Process(context.Background(), b)
	if err != nil || len(out.Rejected) != 1 || out.Rejected[0].Index != 9 || !strings.Contains(out.Rejected[0].Reason, "InvalidContent") {
		t.Fatalf("poison: %v %+v", err, out.Rejected)
	}
	if len(az.rows) != 15 {
		t.Fatalf("%d rows stored", len(az.rows))
	}
}

func TestValidate(t *testing.T) {
	base := `"endpoint":"https://dce.eastus-1.ingest.monitor.azure.com","tenant_id":"t","client_id":"c","client_secret":"s"`
	tests := []struct{ cfg, field string }{
		{`{` + base + `,"stream":"Custom-X"}`, "dcr_immutable_id"},
		{`{` + base + `,"dcr_immutable_id":"my-dcr","stream":"Custom-X"}`, "dcr_immutable_id"},
		{`{` + base + `,"dcr_immutable_id":"dcr-1","stream":"MCPAudit"}`, "stream"},
		{`{` + base + `,"dcr_immutable_id":"dcr-1","stream":"Custom-X","max_request_bytes":"4MB"}`, "max_request_bytes"},
		{`{` + base + `,"dcr_immutable_id":"dcr-1","stream":"Custom-X","authority_host":"login"}`, "authority_host"},
		{`{` + base + `,"dcr_immutable_id":"dcr-1","stream":"Custom-X"}`, ""},
	}
	for _, tc := range tests {
		err := (&Output{}).Validate(sdk.Config{Raw: json.RawMessage(tc.cfg)})
		var fe *sdk.FieldError
		if tc.field == "" && err != nil || tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
			t.Errorf("%s: %v, want field %q", tc.cfg, err, tc.field)
		}
	}
}

func TestConformance(t *testing.T) {
	az := newFakeAzure()
	srv := httptest.NewServer(az)
	defer srv.Close()
	raw, _ := json.Marshal(map[string]any{"endpoint": srv.URL, "dcr_immutable_id": az.dcr, "stream": az.stream, "tenant_id": az.tenant,
		"client_id": az.clientID, "client_secret": az.secret, "authority_host": srv.URL})
	sdktest.Conformance(t, Definition, sdktest.Options{Config: raw})
}

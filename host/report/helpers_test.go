package report

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/filter/signer"
	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/output/file"
	"github.com/sentinel-audit/sentinel/sdk"
)

var base = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// sampleEvents is a day of MCP traffic: tool calls in three sessions, some
// failing, an auth failure burst, violations and threats, tagged by the
// classifier with frameworks and retention.
func sampleEvents() []map[string]any {
	var evs []map[string]any
	add := func(off time.Duration, f map[string]any) {
		f["event_id"] = fmt.Sprintf("01KAR%021d", len(evs)+1)
		f["timestamp"] = base.Add(off).Format(time.RFC3339Nano)
		evs = append(evs, f)
	}
	for i := 0; i < 30; i++ {
		sess := fmt.Sprintf("s-%d", i%3)
		ok := i%7 != 0
		f := map[string]any{"event_type": "mcp_tool_execution", "severity": "info", "session_id": sess,
			"client_id": "claude-code", "server": "files", "tool_name": []string{"read_file", "list_dir", "write_file"}[i%3],
			"success": ok, "duration_ms": 12, "compliance": []string{"sox"}, "retention_days": 2555}
		if !ok {
			f["error"] = "permission denied"
		}
		add(time.Duration(i)*20*time.Minute, f)
	}
	for i := 0; i < 4; i++ {
		add(3*time.Hour+time.Duration(i)*time.Second, map[string]any{"event_type": "mcp_authentication_events", "severity": "low",
			"client_id": "mallory", "source_ip": "203.0.113.9", "success": false, "compliance": []string{"gdpr"}, "retention_days": 365})
	}
	add(4*time.Hour, map[string]any{"event_type": "mcp_policy_violations", "severity": "high", "reason": "tool_denied", "client_id": "mallory", "session_id": "s-9"})
	add(5*time.Hour, map[string]any{"event_type": "mcp_policy_violations", "severity": "medium", "reason": "batch_request", "client_id": "bot"})
	add(4*time.Hour+time.Minute, map[string]any{"event_type": "mcp_security_threats", "severity": "high", "threat_type": "auth_failure_burst", "client_id": "mallory"})
	add(6*time.Hour, map[string]any{"event_type": "mcp_security_threats", "severity": "critical", "reason": "tool_definition_changed", "server": "files"})
	return evs
}

func records(t testing.TB, evs []map[string]any) []*sdk.Record {
	t.Helper()
	var out []*sdk.Record
	for _, e := range evs {
		b, _ := json.Marshal(e)
		r, err := sdk.NewRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// signedStore writes events through the real signer filter and file output,
// as a pipeline would, and returns the store and key directories.
func signedStore(t testing.TB, evs []map[string]any) (storeDir, keys string) {
	t.Helper()
	root := t.TempDir()
	keys, storeDir = filepath.Join(root, "keys"), filepath.Join(root, "audit")
	if _, err := integrity.Keygen(keys, "test.example/audit"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sg := signer.Definition.New()
	if err := sg.(sdk.Configurer).Configure(ctx, sdk.Config{Name: "chain", DataDir: filepath.Join(root, "signer"),
		Raw: json.RawMessage(fmt.Sprintf(`{"keys":%q}`, keys))}); err != nil {
		t.Fatal(err)
	}
	fo := file.Definition.New()
	if err := fo.(sdk.Configurer).Configure(ctx, sdk.Config{Name: "audit", DataDir: filepath.Join(root, "file"),
		Raw: json.RawMessage(fmt.Sprintf(`{"path":%q,"keys":%q}`, storeDir, keys))}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*sdk.Batch{{Seq: 1, Records: records(t, evs)}, {Seq: 2, Final: true}} {
		signed, err := sg.Process(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		signed.Final = b.Final
		if _, err := fo.Process(ctx, signed); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []sdk.Plugin{sg, fo} {
		if err := p.(sdk.Closer).Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return storeDir, keys
}

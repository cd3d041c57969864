package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// keygen, sign, report: the report says whether the store is intact, and the
// exit status says it too.
func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if out, code := runCLI(t, "keygen", "--out", keys); code != 0 {
		t.Fatalf("keygen: %d %s", code, out)
	}
	var events strings.Builder
	now := time.Now().UTC()
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&events, `{"event_id":"r%02d","timestamp":%q,"event_type":"mcp_tool_execution","session_id":"s1","client_id":"c","tool_name":"t%d","success":%v,"compliance":["sox"],"retention_days":2555}`+"\n",
			i, now.Add(-time.Duration(12-i)*time.Hour).Format(time.RFC3339), i%2, i%4 != 0)
	}
	fmt.Fprintf(&events, `{"event_id":"r99","timestamp":%q,"event_type":"mcp_security_threats","severity":"high","reason":"auth_failure_burst"}`+"\n", now.Add(-time.Hour).Format(time.RFC3339))
	in := filepath.Join(dir, "day.jsonl")
	os.WriteFile(in, []byte(events.String()), 0o644)
	if out, code := runCLI(t, "sign", "--keys", keys, "--out-dir", "", in); code != 0 {
		t.Fatalf("sign: %d %s", code, out)
	}
	signed := filepath.Join(dir, "day.signed.jsonl")
	page := filepath.Join(dir, "report.html")

	out, code := runCLI(t, "report", "--store", signed, "--keys", keys, "--pub", "", "--since", "", "--framework", "sox,gdpr", "--title", "", "--out", page)
	if code != 0 || !strings.Contains(out, "13 events") || !strings.Contains(out, "verified intact") {
		t.Fatalf("report: %d %s", code, out)
	}
	html, _ := os.ReadFile(page)
	for _, want := range []string{"verified, no alteration found", "auth_failure_burst", "<td>sox</td>", "<td>gdpr</td>", `id="chart-types"`} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}

	out, code = runCLI(t, "report", "--store", signed, "--keys", "", "--pub", "", "--since", "6h30m", "--framework", "", "--out", page)
	if code != 0 || !strings.Contains(out, "not verified") {
		t.Fatalf("unverified report: %d %s", code, out)
	}
	if html, _ = os.ReadFile(page); !bytes.Contains(html, []byte("<b>7</b><span>events</span>")) {
		t.Errorf("--since 6h30m should keep 6 tool calls and the threat")
	}

	b, _ := os.ReadFile(signed)
	os.WriteFile(signed, bytes.Replace(b, []byte(`"t1"`), []byte(`"tX"`), 1), 0o644)
	out, code = runCLI(t, "report", "--store", signed, "--keys", keys, "--pub", "", "--since", "", "--framework", "", "--out", page)
	if code != 1 || !strings.Contains(out, "altered") {
		t.Fatalf("tampered store: exit %d %s", code, out)
	}
	if html, _ = os.ReadFile(page); !bytes.Contains(html, []byte("ALTERED")) {
		t.Error("the report of an altered store does not say so")
	}

	for _, args := range [][]string{
		{"report", "--store", "", "--out", page},
		{"report", "--store", signed, "--keys", "", "--framework", "iso9001", "--out", page},
		{"report", "--store", signed, "--keys", "", "--framework", "", "--since", "last tuesday", "--out", page},
		{"report", "--store", filepath.Join(dir, "missing"), "--since", "", "--out", page},
	} {
		if out, code := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, out)
		}
	}
}

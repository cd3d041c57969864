package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	var ee *exitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String() + ee.Error(), ee.code
	}
	return out.String() + err.Error(), 1
}

// keygen, sign, verify, tamper, verify: the exit codes are the contract.
func TestKeygenSignVerifyExitCodes(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if out, code := runCLI(t, "keygen", "--out", keys); code != 0 || !strings.Contains(out, "public key: ") {
		t.Fatalf("keygen: %d %s", code, out)
	}
	if _, code := runCLI(t, "keygen", "--out", keys); code != 2 {
		t.Fatalf("keygen over existing keys: exit %d, want 2", code)
	}
	var events strings.Builder
	for i := 0; i < 20; i++ {
		events.WriteString(`{"event_id":"e` + string(rune('a'+i)) + `","event_type":"mcp_tool_execution"}` + "\n")
	}
	in := filepath.Join(dir, "a.jsonl")
	os.WriteFile(in, []byte(events.String()), 0o644)
	if out, code := runCLI(t, "sign", "--keys", keys, "--out-dir", "", in); code != 0 {
		t.Fatalf("sign: %d %s", code, out)
	}
	signed := filepath.Join(dir, "a.signed.jsonl")
	if out, code := runCLI(t, "verify", "--keys", keys, "--pub", "", signed); code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("verify: %d %s", code, out)
	}
	b, _ := os.ReadFile(signed)
	os.WriteFile(signed, bytes.Replace(b, []byte(`"eh"`), []byte(`"ex"`), 1), 0o644)
	out, code := runCLI(t, "verify", "--keys", keys, "--pub", "", signed)
	if code != 1 || !strings.Contains(out, "modified") || !strings.Contains(out, "seq 8") {
		t.Fatalf("tampered verify: %d %s", code, out)
	}
	if _, code := runCLI(t, "verify", "--keys", "", "--pub", "", signed); code != 2 {
		t.Fatalf("verify without keys: exit %d, want 2", code)
	}
}

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPipelineLoadsThePinnedPluginFromPluginsDir builds the sentinel binary and
// this plugin, and runs the example pipeline end to end, as a user would.
func TestPipelineLoadsThePinnedPluginFromPluginsDir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	dir := t.TempDir()
	sentinel := filepath.Join(dir, "sentinel")
	plugin := filepath.Join(dir, "plugins", "deny_tools")
	build(t, sentinel, "github.com/sentinel-audit/sentinel/host/cmd/sentinel")
	build(t, plugin, ".")
	for _, f := range []string{"pipeline.hcl", "testdata/events.jsonl"} {
		copyFile(t, f, filepath.Join(dir, f))
	}
	sum := sha256.Sum256(mustRead(t, plugin))
	writeFile(t, filepath.Join(dir, "plugins", "deny_tools.sha256"), hex.EncodeToString(sum[:]))

	out, err := run(dir, sentinel, "run", "-c", "pipeline.hcl")
	if err != nil {
		t.Fatalf("sentinel run: %v\n%s", err, out)
	}
	stored := readAll(t, filepath.Join(dir, "data", "kept"))
	for _, id := range []string{"0001", "0004", "0005"} {
		if !strings.Contains(stored, "01JCUSTOM000000000000000"+id[3:]) {
			t.Errorf("event %s missing from the store:\n%s", id, stored)
		}
	}
	for _, denied := range []string{"shell_exec", "delete_file"} {
		if strings.Contains(stored, denied) {
			t.Errorf("denied tool %s reached the store", denied)
		}
	}
	if strings.Count(stored, `"reviewed_by":"deny_tools"`) != 3 {
		t.Errorf("kept events are not tagged:\n%s", stored)
	}

	// A replaced binary no longer matches its pin: nothing starts.
	writeFile(t, filepath.Join(dir, "plugins", "deny_tools.sha256"), strings.Repeat("0", 64))
	out, err = run(dir, sentinel, "validate", "-c", "pipeline.hcl")
	if err == nil || !strings.Contains(out, "SHA-256 mismatch") || !strings.Contains(out, "plugins/deny_tools") {
		t.Fatalf("a pin mismatch must fail naming the file; got err=%v\n%s", err, out)
	}
}

func build(t *testing.T, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

func run(dir, bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

func readAll(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b.Write(mustRead(t, p))
		}
		return nil
	})
	return b.String()
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) { writeFile(t, to, string(mustRead(t, from))) }

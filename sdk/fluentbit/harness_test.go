package fluentbit_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/output/file/store"
)

// harnessBinaries returns the plugin and the C harness: the ones `make
// fluentbit-test` built (SENTINEL_FLB_SO, SENTINEL_FLB_HARNESS), or fresh
// builds with the Go toolchain and the system C compiler.
func harnessBinaries(t *testing.T) (so, harness string) {
	t.Helper()
	so, harness = os.Getenv("SENTINEL_FLB_SO"), os.Getenv("SENTINEL_FLB_HARNESS")
	if so != "" && harness != "" {
		return so, harness
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skip("no C compiler: the .so cannot be built or loaded here")
	}
	dir := t.TempDir()
	so, harness = filepath.Join(dir, "out_sentinel.so"), filepath.Join(dir, "harness")
	build := exec.Command("go", "build", "-buildmode=c-shared", "-o", so, "./cmd/out_sentinel")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	if out, err := exec.Command(cc, "-O2", "-Wall", "-o", harness, "testdata/harness.c", "-ldl", "-lpthread").CombinedOutput(); err != nil {
		t.Fatalf("build harness: %v\n%s", err, out)
	}
	return so, harness
}

// section writes the script lines of one [OUTPUT] section.
func section(name string, kv ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "instance %s\n", name)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "set %s %s %s\n", name, kv[i], kv[i+1])
	}
	fmt.Fprintf(&b, "init %s\n", name)
	return b.String()
}

// TestHarnessDrivesTheSharedObjectLikeFluentBit loads dist/out_sentinel.so
// from C, as Fluent Bit does, with five sections of different backends in one
// process, and checks what each destination received and every return code.
func TestHarnessDrivesTheSharedObjectLikeFluentBit(t *testing.T) {
	so, harness := harnessBinaries(t)
	dir := t.TempDir()
	ok, busy, refused := newHECReceiver(t), newHECReceiver(t), newHECReceiver(t)
	busy.setMode("unavailable")
	refused.setMode("bad-token")
	hclPath, keysDir, chainStore := writePipeline(t)

	main := filepath.Join(dir, "main.msgpack")
	must(t, os.WriteFile(main, chunk(t, "m", 30), 0o600))
	burst := filepath.Join(dir, "burst.msgpack")
	must(t, os.WriteFile(burst, chunk(t, "b", 10), 0o600))
	data := filepath.Join(dir, "data")
	fileStore := filepath.Join(dir, "store")

	script := section("hec", "backend", "splunk_hec", "endpoint", ok.URL, "token", ok.token, "data_dir", data,
		"max_request_events", "7", "tls_verify", "on") +
		section("busy", "backend", "splunk_hec", "id", "busy", "endpoint", busy.URL, "token", busy.token, "data_dir", data) +
		section("refused", "backend", "splunk_hec", "id", "refused", "endpoint", refused.URL, "token", refused.token,
			"data_dir", data) +
		section("store", "Backend", "file", "path", fileStore, "format", "jsonl", "data_dir", data, "fsync", "never") +
		section("chain", "pipeline", hclPath) +
		section("broken", "backend", "splunk_hec", "id", "broken", "endpoint", ok.URL) + // no token
		fmt.Sprintf("flush hec %s audit.mcp\n", main) +
		fmt.Sprintf("pflush hec %s audit.mcp 4 5\n", burst) +
		fmt.Sprintf("flush busy %s audit.mcp\n", main) +
		fmt.Sprintf("flush refused %s audit.mcp\n", main) +
		fmt.Sprintf("flush store %s audit.mcp\n", main) +
		fmt.Sprintf("pflush chain %s audit.mcp 2 1\n", main) +
		"exit hec\nexit store\nexitall\n"
	scriptPath := filepath.Join(dir, "script")
	must(t, os.WriteFile(scriptPath, []byte(script), 0o600))

	cmd := exec.Command(harness, so, scriptPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("harness: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	want := []string{
		"register 0 name=sentinel type=2 proxy=11",
		"init hec 1", "init busy 1", "init refused 1", "init store 1", "init chain 1",
		"init broken 0", // a missing required key fails the section at start
		"flush hec 1",
		"pflush hec ok=20 retry=0 error=0", // four workers flushing at once
		"flush busy 2",                     // 503: FLB_RETRY
		"flush refused 0",                  // 403 invalid token: FLB_ERROR, after dead-lettering
		"flush store 1",
		"pflush chain ok=2 retry=0 error=0",
		"exit hec 1", "exit store 1", "exitall 1",
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	var lines []string
	for _, l := range got {
		if !strings.HasPrefix(l, "instance ") {
			lines = append(lines, l)
		}
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("harness said:\n%s\nwant:\n%s\nstderr:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"), stderr.String())
	}

	// Splunk got the 30 events, then 4 workers x 5 flushes of 10.
	if n := ok.totalEvents(); n != 30+4*5*10 {
		t.Errorf("HEC received %d events, want %d", n, 30+4*5*10)
	}
	ev := ok.received()["m-3"]["event"].(map[string]any)
	if ev["timestamp"] != "2025-06-01T12:00:03.25Z" || ev["arguments"].(map[string]any)["email"] != "alice@example.com" {
		t.Errorf("event m-3 arrived as %v", ev)
	}
	if busy.totalEvents() != 0 {
		t.Errorf("busy receiver stored events")
	}
	if dl := readDeadLetters(t, filepath.Join(data, "deadletter", "output.splunk_hec.refused.jsonl")); len(dl) != 30 {
		t.Errorf("refused section dead-lettered %d records, want 30", len(dl))
	}
	if _, err := os.Stat(filepath.Join(data, "deadletter", "output.splunk_hec.busy.jsonl")); !os.IsNotExist(err) {
		t.Errorf("a retryable failure was dead-lettered")
	}
	if n := countStoreEvents(t, fileStore); n != 30 {
		t.Errorf("file store holds %d events, want 30", n)
	}
	seed, err := integrity.LoadSeed(keysDir)
	must(t, err)
	pub, err := integrity.LoadVerifier(keysDir)
	must(t, err)
	rep, err := store.Verify(chainStore, store.VerifyOptions{Seed: seed, Pub: pub})
	must(t, err)
	if !rep.Intact() || rep.Events != 60 {
		t.Errorf("pipeline store: intact %v, %d events (want 60): %+v", rep.Intact(), rep.Events, rep.Findings)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

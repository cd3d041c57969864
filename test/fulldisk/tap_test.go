package fulldisk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/deliver"
)

// TestTapFullSpoolDiskNeverBlocksNorLoses runs `sentinel wrap` around the
// example go-sdk server with the host down and its spool on a tmpfs that
// fills part way through the session. Every tools/call must answer correctly
// and promptly, the wrapper must live on, and each event must be whole either
// in the spool or on stderr; once space is back, the spool and the events
// recovered from stderr reach a real host and the signed store verifies.
func TestTapFullSpoolDiskNeverBlocksNorLoses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and mounts a tmpfs")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "wrap")
	spool := filepath.Join(data, "spool")
	mountTmpfs(t, spool, "2m")
	bins := build(t, dir, "host/cmd/sentinel", "examples/mcp/server")
	sentinel, server := bins[0], bins[1]
	// Each read_file event carries ~3 KB of result: 400 of them are more
	// than the spool disk has left.
	const calls = 400
	docs := filepath.Join(dir, "docs")
	if err := os.MkdirAll(docs, 0o755); err != nil {
		t.Fatal(err)
	}
	content := func(i int) string {
		return fmt.Sprintf("document %04d\n%s\n", i, strings.Repeat(fmt.Sprintf("line of document %04d. ", i), 130))
	}
	for i := 0; i < calls; i++ {
		writeFile(t, filepath.Join(docs, docName(i)), []byte(content(i)))
	}
	// Leave 192 KiB: the first few dozen events fit, the rest do not.
	filler := filepath.Join(spool, "filler")
	writeFile(t, filler, make([]byte, 2<<20-192<<10))

	sockDir, err := os.MkdirTemp("", "tfd") // a unix socket path must stay short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "ingest.sock")

	// Phase 1: host down, spool disk filling.
	a := startWrapper(t, sentinel, sock, data, server, "-root", docs)
	var (
		mu      sync.Mutex
		slowest time.Duration
		wg      sync.WaitGroup
		next    = make(chan int)
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				start := time.Now()
				res, err := a.sess.CallTool(a.ctx, &mcp.CallToolParams{Name: "read_file", Arguments: map[string]any{"path": docName(i)}})
				took := time.Since(start)
				mu.Lock()
				slowest = max(slowest, took)
				mu.Unlock()
				if err != nil || res.IsError || len(res.Content) != 1 {
					t.Errorf("call %d: %v %+v", i, err, res)
					continue
				}
				if txt, ok := res.Content[0].(*mcp.TextContent); !ok || txt.Text != content(i) {
					t.Errorf("call %d: wrong result %+v", i, res.Content[0])
				}
				if took > 2*time.Second {
					t.Errorf("call %d took %s: the session waited on the full disk", i, took)
				}
			}
		}()
	}
	for i := 0; i < calls; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Logf("%d tools/call through the wrapper, slowest %s", calls, slowest)
	if t.Failed() {
		t.FailNow()
	}
	time.Sleep(300 * time.Millisecond) // the last batches meet the full disk with the session open
	if !a.alive() {
		t.Fatalf("the wrapper died with the session open:\n%s", a.stderr.String())
	}
	if code := a.close(t); code != 0 {
		t.Fatalf("wrapper exit %d:\n%s", code, tail(a.stderr.String()))
	}

	// Each event is whole in exactly one place: the spool or stderr.
	printed := undeliverableEvents(t, a.stderr.String())
	spooled := spoolEvents(t, spool)
	t.Logf("%d events spooled, %d printed to stderr", len(spooled), len(printed))
	byPath := map[string]int{}
	seen := map[string]string{}
	for _, set := range []struct {
		name   string
		events []map[string]any
	}{{"spool", spooled}, {"stderr", printed}} {
		for _, ev := range set.events {
			id, _ := ev["event_id"].(string)
			if where, dup := seen[id]; dup {
				t.Errorf("event %s is both in the %s and in the %s", id, where, set.name)
			}
			seen[id] = set.name
			if p := toolPath(ev); p != "" {
				byPath[p]++
			}
		}
	}
	missing := 0
	for i := 0; i < calls; i++ {
		if n := byPath[docName(i)]; n != 1 {
			if missing++; missing <= 5 {
				t.Errorf("tools/call %s: %d events in spool ∪ stderr, want 1", docName(i), n)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d tools/call events are not exactly once in spool ∪ stderr", missing, calls)
	}
	if len(printed) == 0 || len(spooled) == 0 {
		t.Fatalf("the disk was meant to fill part way: %d spooled, %d printed", len(spooled), len(printed))
	}
	if !strings.Contains(a.stderr.String(), "spool write failed") || !strings.Contains(a.stderr.String(), "printed to stderr") {
		t.Fatalf("no log line says why events went to stderr:\n%s", tail(a.stderr.String()))
	}
	if t.Failed() {
		t.FailNow()
	}

	// Phase 2: a host comes up while the spool disk is still full (to the
	// last page): the next wrapper delivers the spool without being able to
	// write anything there, and without sending a batch twice.
	fillUp(t, filepath.Join(spool, "filler2"))
	hostDir := filepath.Join(dir, "host")
	keys := filepath.Join(hostDir, "keys")
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sentinel, "keygen", "--out", keys).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	store := filepath.Join(hostDir, "store")
	writeFile(t, filepath.Join(hostDir, "pipeline.hcl"), []byte(fmt.Sprintf(`
sentinel { data_dir = "data" }
input "mcp_tap" "tap" {
  ingest = %q
}
filter "signer" "chain" {
  inputs = [input.mcp_tap.tap]
  keys   = "keys"
}
output "file" "audit" {
  inputs = [filter.signer.chain]
  path   = "store"
  keys   = "keys"
}
`, sock)))
	host, hostLog, hostExited := runSentinel(t, sentinel, hostDir)
	waitUntil(t, 20*time.Second, "the host's ingest socket", hostLog, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	b := startWrapper(t, sentinel, sock, data, server, "-root", docs)
	for _, id := range []string{"C-1001", "C-1002", "C-1003"} {
		res, err := b.sess.CallTool(b.ctx, &mcp.CallToolParams{Name: "lookup_customer", Arguments: map[string]any{"customer_id": id}})
		if err != nil || res.IsError {
			t.Fatalf("lookup %s: %v %+v", id, err, res)
		}
	}
	waitUntil(t, 15*time.Second, "delivery of the spool with the disk full", b.stderr, func() bool {
		left, _ := filepath.Glob(filepath.Join(spool, "*.jsonl"))
		return len(left) == 0
	})

	// Space comes back: the printed events are recovered the way the README
	// says (into the spool under another name, then renamed), and the live
	// wrapper delivers them.
	for _, f := range []string{filler, filepath.Join(spool, "filler2")} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	var rec bytes.Buffer
	for _, line := range strings.Split(a.stderr.String(), "\n") {
		if ev, ok := strings.CutPrefix(line, deliver.UndeliverablePrefix); ok {
			rec.WriteString(ev + "\n")
		}
	}
	writeFile(t, filepath.Join(spool, "recovered.tmp"), rec.Bytes())
	if err := os.Rename(filepath.Join(spool, "recovered.tmp"), filepath.Join(spool, "recovered.jsonl")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "delivery of the recovered events", b.stderr, func() bool {
		_, err := os.Stat(filepath.Join(spool, "recovered.jsonl"))
		return os.IsNotExist(err)
	})
	if code := b.close(t); code != 0 {
		t.Fatalf("second wrapper exit %d:\n%s", code, tail(b.stderr.String()))
	}
	if strings.Contains(b.stderr.String(), deliver.UndeliverablePrefix) {
		t.Fatalf("the second wrapper printed events:\n%s", tail(b.stderr.String()))
	}

	// Everything is stored exactly once: the first session's events and the
	// second session's three calls.
	var stored map[string]int
	lookups := 0
	waitUntil(t, 20*time.Second, "every event in the store", hostLog, func() bool {
		stored, lookups = storedEvents(t, store)
		for id := range seen {
			if stored[id] == 0 {
				return false
			}
		}
		return lookups == 3
	})
	for id, n := range stored {
		if n != 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(spool, "*")); len(left) != 0 {
		t.Errorf("spool not emptied after delivery: %v", left)
	}
	if dl, _ := filepath.Glob(filepath.Join(hostDir, "data", "deadletter", "*")); len(dl) != 0 {
		t.Errorf("recovered events were dead-lettered: %v", dl)
	}

	_ = host.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-hostExited:
		if err != nil {
			t.Fatalf("host: %v\n%s", err, tail(hostLog.String()))
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the host did not stop:\n%s", tail(hostLog.String()))
	}
	if out, err := exec.Command(sentinel, "verify", "--keys", keys, store).CombinedOutput(); err != nil || !strings.Contains(string(out), "intact") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}

func docName(i int) string { return fmt.Sprintf("doc-%04d.txt", i) }

// wrapper is a `sentinel wrap` process with a go-sdk client session on its stdio.
type wrapper struct {
	cmd    *exec.Cmd
	sess   *mcp.ClientSession
	ctx    context.Context
	stderr *syncBuffer
	exited chan struct{}
}

func startWrapper(t *testing.T, sentinel, sock, data string, server ...string) *wrapper {
	t.Helper()
	w := &wrapper{stderr: &syncBuffer{}, exited: make(chan struct{})}
	w.cmd = exec.Command(sentinel, append([]string{"wrap", "--to", sock, "--data-dir", data, "--"}, server...)...)
	w.cmd.Stderr = w.stderr
	stdin, err := w.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = w.cmd.Wait()
		close(w.exited)
	}()
	t.Cleanup(func() {
		if w.alive() {
			_ = w.cmd.Process.Kill()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	w.ctx = ctx
	c := mcp.NewClient(&mcp.Implementation{Name: "fulldisk-test", Version: "1"}, nil)
	if w.sess, err = c.Connect(ctx, &mcp.IOTransport{Reader: stdout, Writer: stdin}, nil); err != nil {
		t.Fatalf("connect through the wrapper: %v\n%s", err, w.stderr.String())
	}
	return w
}

func (w *wrapper) alive() bool {
	select {
	case <-w.exited:
		return false
	default:
		return true
	}
}

// close ends the session (the server sees EOF) and returns the wrapper's exit code.
func (w *wrapper) close(t *testing.T) int {
	t.Helper()
	_ = w.sess.Close()
	select {
	case <-w.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("the wrapper did not exit after the session closed:\n%s", tail(w.stderr.String()))
	}
	return w.cmd.ProcessState.ExitCode()
}

// undeliverableEvents parses the events the wrapper printed to stderr.
func undeliverableEvents(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(stderr, "\n") {
		raw, ok := strings.CutPrefix(line, deliver.UndeliverablePrefix)
		if !ok {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(raw), &ev); err != nil || ev["event_id"] == nil {
			t.Fatalf("an event printed to stderr is not a JSON event (%v): %.200s", err, raw)
		}
		out = append(out, ev)
	}
	return out
}

// spoolEvents parses every line of the spool files; each must be a whole event.
func spoolEvents(t *testing.T, dir string) []map[string]any {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	var out []map[string]any
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("%s ends in a torn line: %.200q", filepath.Base(f), b[bytes.LastIndexByte(b, '\n')+1:])
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if line == "" {
				continue
			}
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil || ev["event_id"] == nil {
				t.Errorf("%s holds a line that is not an event (%v): %.200s", filepath.Base(f), err, line)
				continue
			}
			out = append(out, ev)
		}
	}
	return out
}

// toolPath is the read_file path of a tools/call event.
func toolPath(ev map[string]any) string {
	if ev["event_type"] != "mcp_tool_execution" || ev["tool_name"] != "read_file" {
		return ""
	}
	args, _ := ev["arguments"].(map[string]any)
	p, _ := args["path"].(string)
	return p
}

// storedEvents counts event ids in the signed store's entries, and the
// lookup_customer calls among them.
func storedEvents(t *testing.T, dir string) (ids map[string]int, lookups int) {
	t.Helper()
	ids = map[string]int{}
	files, _ := filepath.Glob(filepath.Join(dir, "seg-*.jsonl"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			type event struct {
				ID   string `json:"event_id"`
				Type string `json:"event_type"`
				Tool string `json:"tool_name"`
			}
			// A signed store holds entries with the event as "ev"; a plain one, events.
			var line struct {
				event
				Ev event `json:"ev"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			ev := line.Ev
			if ev.ID == "" {
				ev = line.event
			}
			if ev.ID != "" {
				ids[ev.ID]++
				if ev.Type == "mcp_tool_execution" && ev.Tool == "lookup_customer" {
					lookups++
				}
			}
		}
		fh.Close()
	}
	return ids, lookups
}

// fillUp writes f until the disk is full to the last byte.
func fillUp(t *testing.T, f string) {
	t.Helper()
	fh, err := os.Create(f)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := fh.Write(chunk); err != nil {
			break
		}
	}
	for {
		if _, err := fh.Write(chunk[:1]); err != nil {
			return
		}
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, log *syncBuffer, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s:\n%s", what, d, tail(log.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tail is the end of a log, enough to see why something failed.
func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

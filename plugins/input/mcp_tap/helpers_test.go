package mcp_tap_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap"
	"github.com/sentinel-audit/sentinel/sdk"
)

var serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mcptap-bin")
	if err != nil {
		panic(err)
	}
	serverBin = filepath.Join(dir, "crm-server")
	out, err := exec.Command("go", "build", "-o", serverBin, "github.com/sentinel-audit/sentinel/examples/mcp/server").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build example server: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// shortDir is a data dir short enough for a unix socket path.
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "mt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// host runs an mcp_tap instance the way the host does: Configure, then poll
// Process and Ack every batch, collecting the events.
type host struct {
	tap    *mcp_tap.Tap
	t      testing.TB
	mu     sync.Mutex
	raw    []json.RawMessage // bodies not yet decoded
	events []map[string]any
	cancel context.CancelFunc
	done   chan struct{}
}

func startHost(t testing.TB, dataDir string, cfg map[string]any) *host {
	t.Helper()
	raw, _ := json.Marshal(cfg)
	p := mcp_tap.Definition.New().(*mcp_tap.Tap)
	if err := p.Configure(context.Background(), sdk.Config{Name: "t", DataDir: dataDir, Raw: raw}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &host{tap: p, t: t, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for ctx.Err() == nil {
			pctx, pc := context.WithTimeout(ctx, 50*time.Millisecond)
			b, err := p.Process(pctx, &sdk.Batch{})
			pc()
			if err != nil {
				t.Errorf("process: %v", err)
				return
			}
			if len(b.Rejected) > 0 {
				t.Errorf("rejected: %+v", b.Rejected)
			}
			// bodies are decoded when a test looks at them: this loop stands
			// for a host passing records on, and must not load the CPU the
			// latency benchmarks share with it more than that
			h.mu.Lock()
			for _, r := range b.Records {
				h.raw = append(h.raw, r.Body)
			}
			h.mu.Unlock()
			if b.Seq != 0 {
				p.Ack(ctx, []uint64{b.Seq})
			}
		}
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *host) stop() {
	h.cancel()
	<-h.done
	h.tap.Close(context.Background())
}

func (h *host) status(t testing.TB) map[string]any {
	v, err := h.tap.Invoke(context.Background(), sdk.OpGetStatus, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v.(map[string]any)
}

// decodeLocked decodes the bodies received since the last look.
func (h *host) decodeLocked() {
	for _, b := range h.raw {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			h.t.Errorf("event body: %v", err)
		}
		h.events = append(h.events, m)
	}
	h.raw = h.raw[:0]
}

func (h *host) ofType(typ string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.decodeLocked()
	var out []map[string]any
	for _, e := range h.events {
		if e["event_type"] == typ {
			out = append(out, e)
		}
	}
	return out
}

// all is a copy of every event so far.
func (h *host) all() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.decodeLocked()
	return append([]map[string]any(nil), h.events...)
}

func (h *host) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events) + len(h.raw)
}

// waitFor polls until cond holds or fails the test after a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// Package fulldisk checks what happens when the disk under a pipeline fills:
// a clear error, inputs back-pressured, nothing dropped, and delivery resuming
// once space is freed. It mounts a small tmpfs, so it needs root.
package fulldisk

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFullDiskBackPressuresAndLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and mounts a tmpfs")
	}
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk")
	mountTmpfs(t, disk, "4m")
	sentinel := build(t, dir, "host/cmd/sentinel")[0]
	const events = 6000 // ~3 MB of store, more than the disk has once filled
	var in bytes.Buffer
	for i := 0; i < events; i++ {
		fmt.Fprintf(&in, `{"event_id":"ev-%06d","timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution","tool_name":"read_file","arguments":{"path":"/srv/projects/report-%d.md"},"result":"%s"}`+"\n",
			i, i, strings.Repeat("x", 400))
	}
	writeFile(t, filepath.Join(dir, "events.jsonl"), in.Bytes())
	// Leave about 300 KiB free: the store fills it within the first batches.
	filler := filepath.Join(disk, "filler")
	writeFile(t, filler, make([]byte, 4<<20-300<<10))
	writeFile(t, filepath.Join(dir, "pipeline.hcl"), []byte(fmt.Sprintf(`
sentinel { data_dir = %q }
input "jsonl" "in" {
  paths = [%q]
}
output "file" "store" {
  inputs = [input.jsonl.in]
  path   = %q
  format = "jsonl"
}
`, filepath.Join(dir, "data"), filepath.Join(dir, "events.jsonl"), filepath.Join(disk, "store"))))

	_, logs, exited := runSentinel(t, sentinel, dir)

	// The disk fills: a clear error, and the pipeline waits instead of finishing or dropping.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logs.String(), "cannot write the store") {
		select {
		case err := <-exited:
			t.Fatalf("sentinel exited while the disk was full (%v): it must wait\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no clear error about the full disk within 60s:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if stored, _ := storedEvents(t, filepath.Join(disk, "store")); len(stored) >= events {
		t.Fatalf("all %d events stored on a full disk?", len(stored))
	}
	time.Sleep(2 * time.Second)
	select {
	case err := <-exited:
		t.Fatalf("sentinel gave up on a full disk (%v)\n%s", err, logs.String())
	default:
	}

	// Space comes back: everything is delivered and the run ends as a finite one does.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("sentinel run: %v\n%s", err, logs.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("the pipeline did not finish after space was freed:\n%s", logs.String())
	}
	ids, _ := storedEvents(t, filepath.Join(disk, "store"))
	for i := 0; i < events; i++ {
		if ids[fmt.Sprintf("ev-%06d", i)] == 0 {
			t.Fatalf("ev-%06d was lost (%d of %d stored)", i, len(ids), events)
		}
	}
	if dl, _ := filepath.Glob(filepath.Join(dir, "data", "deadletter", "*")); len(dl) != 0 {
		t.Fatalf("a full disk is not bad data: nothing may be dead-lettered, got %v", dl)
	}
}

// storedIDs reads every event id in the store's segments.
func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

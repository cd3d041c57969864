package jsonl

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
)

func toolNames(t *testing.T, bs []*sdk.Batch) []string {
	t.Helper()
	var out []string
	for _, r := range records(bs) {
		out = append(out, field(t, r, "tool_name"))
	}
	return out
}

func followCfg(t *testing.T, extra map[string]any, paths ...string) string {
	m := map[string]any{"paths": paths, "follow": true, "poll_interval": "10ms"}
	for k, v := range extra {
		m[k] = v
	}
	return cfgJSON(t, m)
}

func TestFollowPicksUpAppendedLinesAndNewFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.jsonl")
	writeLines(t, a, event(1))
	in := start(t, followCfg(t, nil, filepath.Join(dir, "*.jsonl")), t.TempDir())
	if got := toolNames(t, collect(t, in, 1)); strings.Join(got, ",") != "t1" {
		t.Fatalf("got %v", got)
	}
	writeLines(t, a, event(2))
	writeLines(t, filepath.Join(dir, "b.jsonl"), event(3))
	got := toolNames(t, collect(t, in, 2))
	sort.Strings(got)
	if strings.Join(got, ",") != "t2,t3" {
		t.Fatalf("got %v", got)
	}
	if b, err := poll(t, in); err != nil || b.Len() != 0 {
		t.Fatalf("a following input never ends: %v, %d records", err, b.Len())
	}
}

func TestFollowWaitsForAPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	writeLines(t, path)
	in := start(t, followCfg(t, nil, path), t.TempDir())
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	half := len(event(1)) / 2
	f.WriteString(event(1)[:half]) // the writer is mid-line
	if b, _ := poll(t, in); b.Len() != 0 || len(b.Rejected) != 0 {
		t.Fatalf("half a line was emitted: %+v", b)
	}
	f.WriteString(event(1)[half:] + "\n")
	if got := toolNames(t, collect(t, in, 1)); got[0] != "t1" {
		t.Fatalf("got %v", got)
	}
}

func TestRotationByRenameReadsBothFilesOnce(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	writeLines(t, path, events(0, 3)...)
	in := start(t, followCfg(t, nil, path), data)
	bs := collect(t, in, 3)

	// The writer still holds the old file when logrotate renames it.
	old, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	old.WriteString(event(3) + "\n")
	old.WriteString(event(4)) // unterminated: flushed once the rotated file is let go
	old.Close()
	writeLines(t, path, events(5, 7)...)

	bs = append(bs, collect(t, in, 4)...)
	got := toolNames(t, bs)
	sort.Strings(got)
	if strings.Join(got, ",") != "t0,t1,t2,t3,t4,t5,t6" {
		t.Fatalf("got %v", got)
	}
	ackAll(in, bs)
	// Poll until the drained rotated file is dropped from the state.
	for i := 0; i < 50 && committedFiles(in) != 1; i++ {
		b, _ := poll(t, in)
		ackAll(in, []*sdk.Batch{b})
	}
	if err := in.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := loadState(data)
	if err != nil || len(st) != 1 {
		t.Fatalf("state after rotation: %v %v", st, err)
	}
	for _, e := range st {
		if e.Path != path {
			t.Errorf("state keeps %s", e.Path)
		}
	}
	// A restart resumes the new file where it ended.
	again := start(t, followCfg(t, nil, path), data)
	writeLines(t, path, event(7))
	if got := toolNames(t, collect(t, again, 1)); strings.Join(got, ",") != "t7" {
		t.Fatalf("after restart got %v", got)
	}
}

func TestRenamedFileStillMatchingTheGlobKeepsItsProgress(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	writeLines(t, path, events(0, 3)...)
	raw := followCfg(t, nil, filepath.Join(dir, "audit.jsonl*"))
	in := start(t, raw, data)
	ackAll(in, collect(t, in, 3))
	in.Close(context.Background())
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeLines(t, path+".1", event(3))
	again := start(t, raw, data)
	if got := toolNames(t, collect(t, again, 1)); strings.Join(got, ",") != "t3" {
		t.Fatalf("got %v, want only the line appended after the rename", got)
	}
}

func TestCopyTruncateRestartsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeLines(t, path, events(0, 5)...)
	in := start(t, followCfg(t, nil, path), t.TempDir())
	collect(t, in, 5)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	writeLines(t, path, event(9))
	if got := toolNames(t, collect(t, in, 1)); strings.Join(got, ",") != "t9" {
		t.Fatalf("got %v", got)
	}
}

func TestStartAtEndSkipsExistingLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	writeLines(t, path, events(0, 5)...)
	in := start(t, followCfg(t, map[string]any{"start_at": "end"}, filepath.Join(dir, "*.jsonl")), t.TempDir())
	writeLines(t, path, event(5))
	writeLines(t, filepath.Join(dir, "later.jsonl"), event(6)) // found later: read from its start
	got := toolNames(t, collect(t, in, 2))
	sort.Strings(got)
	if strings.Join(got, ",") != "t5,t6" {
		t.Fatalf("got %v", got)
	}
}

func committedFiles(in *Input) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.committed)
}

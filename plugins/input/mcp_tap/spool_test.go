package mcp_tap_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap"
	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/deliver"
)

// TestSpoolTornLastLineOfDeadWrapper replays spool files a dead wrapper left
// with a last line cut short: a whole event missing only its newline is
// delivered, a fragment (whose event went to stderr) is dropped, and neither
// keeps its file from being replayed and removed. (The full-disk path that
// leads here is tested end to end in test/fulldisk.)
func TestSpoolTornLastLineOfDeadWrapper(t *testing.T) {
	dir := shortDir(t)
	h := startHost(t, dir, map[string]any{})
	spool := filepath.Join(shortDir(t), "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	ev := func(id string) string {
		return fmt.Sprintf(`{"event_id":%q,"timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution","tool_name":"read_file"}`, id)
	}
	files := map[string]string{
		"01A.jsonl": ev("a1") + "\n" + ev("a2") + "\n" + ev("a3"), // died before the last newline
		"01B.jsonl": ev("b1") + "\n" + ev("b2")[:40],              // died inside the last event
		"01C.jsonl": ev("c1")[:30],                                // nothing but a fragment
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(spool, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// and an empty file a wrapper created and died before renaming
	abandoned := filepath.Join(spool, "01D.jsonl.new")
	if err := os.WriteFile(abandoned, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(abandoned, old, old); err != nil {
		t.Fatal(err)
	}
	ep, err := deliver.ParseAddress(filepath.Join(dir, mcp_tap.IngestSocket))
	if err != nil {
		t.Fatal(err)
	}
	sink, err := deliver.NewSink(deliver.SinkOptions{Client: deliver.NewClient(ep, "", 5*time.Second), SpoolDir: spool})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sink.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replayed events", func() bool { return len(h.ofType("mcp_tool_execution")) >= 4 })
	var ids []string
	for _, e := range h.ofType("mcp_tool_execution") {
		ids = append(ids, e["event_id"].(string))
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"a1", "a2", "a3", "b1"}) {
		t.Fatalf("replayed %v", ids)
	}
	if left, _ := filepath.Glob(filepath.Join(spool, "*")); len(left) != 0 {
		t.Fatalf("spool not emptied: %v", left)
	}
}

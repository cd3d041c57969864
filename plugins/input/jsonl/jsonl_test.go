package jsonl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// start builds an instance the way the host does: Definition.New, Validate, Configure.
func start(t testing.TB, raw string, dataDir string, tweak ...func(*Input)) *Input {
	t.Helper()
	in := Definition.New().(*Input)
	in.rotateWait = 30 * time.Millisecond
	for _, f := range tweak {
		f(in)
	}
	cfg := sdk.Config{Raw: json.RawMessage(raw), DataDir: dataDir}
	if err := in.Validate(cfg); err != nil {
		t.Fatalf("validate %s: %v", raw, err)
	}
	if err := in.Configure(context.Background(), cfg); err != nil {
		t.Fatalf("configure %s: %v", raw, err)
	}
	t.Cleanup(func() { _ = in.Close(context.Background()) })
	return in
}

func cfgJSON(t testing.TB, fields map[string]any) string {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// poll calls Process once with a short deadline, like the host's MaxWait.
func poll(t testing.TB, in *Input) (*sdk.Batch, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	return in.Process(ctx, &sdk.Batch{})
}

// drainAll polls a finite input until it ends, returning every batch.
func drainAll(t testing.TB, in *Input) []*sdk.Batch {
	t.Helper()
	var out []*sdk.Batch
	for i := 0; ; i++ {
		b, err := poll(t, in)
		if errors.Is(err, sdk.ErrEndOfInput) {
			return out
		}
		if err != nil {
			t.Fatalf("process: %v", err)
		}
		if b.Len() > 0 || len(b.Rejected) > 0 {
			out = append(out, b)
		}
		if i > 10000 {
			t.Fatal("input never ended")
		}
	}
}

// collect polls a following input until it has n records (and rejects).
func collect(t testing.TB, in *Input, n int) []*sdk.Batch {
	t.Helper()
	var out []*sdk.Batch
	got := 0
	deadline := time.Now().Add(5 * time.Second)
	for got < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d records, want %d", got, n)
		}
		b, err := poll(t, in)
		if err != nil {
			t.Fatalf("process: %v", err)
		}
		if b.Len() > 0 || len(b.Rejected) > 0 {
			out = append(out, b)
			got += b.Len() + len(b.Rejected)
		}
	}
	return out
}

func records(bs []*sdk.Batch) []*sdk.Record {
	var out []*sdk.Record
	for _, b := range bs {
		out = append(out, b.Records...)
	}
	return out
}

func field(t testing.TB, r *sdk.Record, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("record body is not JSON: %v: %s", err, r.Body)
	}
	return fmt.Sprint(m[name])
}

func ackAll(in *Input, bs []*sdk.Batch) {
	for _, b := range bs {
		in.Ack(context.Background(), []uint64{b.Seq})
	}
}

func writeLines(t testing.TB, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func event(i int) string {
	return fmt.Sprintf(`{"timestamp":"2026-03-01T12:00:00Z","event_type":"mcp_tool_execution","tool_name":"t%d"}`, i)
}

func events(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, event(i))
	}
	return out
}

func TestReadsEveryLineThenEnds(t *testing.T) {
	in := start(t, `{"paths":["testdata/events.jsonl"]}`, t.TempDir())
	recs := records(drainAll(t, in))
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
	if recs[0].ID != "01J9Z3Q4W5X6Y7Z8A9B0C1D2E3" {
		t.Errorf("event_id not kept: %q", recs[0].ID)
	}
	if recs[1].Type != sdk.EventResourceAccess || recs[2].Severity != "warning" {
		t.Errorf("envelope not read: %+v %+v", recs[1], recs[2])
	}
	for _, r := range recs {
		if got := field(t, r, "event_id"); got != r.ID {
			t.Errorf("body event_id %q != record id %q", got, r.ID)
		}
	}
	// Once ended it stays ended.
	if _, err := poll(t, in); !errors.Is(err, sdk.ErrEndOfInput) {
		t.Errorf("second poll after end: %v", err)
	}
}

func TestMalformedLinesAreRejectedWithTheirData(t *testing.T) {
	in := start(t, `{"paths":["testdata/malformed.jsonl"]}`, t.TempDir())
	bs := drainAll(t, in)
	recs := records(bs)
	var tools []string
	for _, r := range recs {
		tools = append(tools, field(t, r, "tool_name"))
	}
	if strings.Join(tools, ",") != "ok_before,ok_after" {
		t.Errorf("records = %v, want ok_before,ok_after", tools)
	}
	var rejected []string
	for _, b := range bs {
		for _, rj := range b.Rejected {
			if rj.Index != -1 || rj.Reason == "" || !strings.Contains(rj.Reason, "malformed.jsonl") {
				t.Errorf("bad rejection %+v", rj)
			}
			rejected = append(rejected, string(rj.Data))
		}
	}
	want := []string{"not json at all", `["an","array"]`, `{"event_type":"mcp_tool_execution","tool_name":"truncated"`, "42"}
	if strings.Join(rejected, "\n") != strings.Join(want, "\n") {
		t.Errorf("rejected data:\n%s\nwant:\n%s", strings.Join(rejected, "\n"), strings.Join(want, "\n"))
	}
}

func TestLongLines(t *testing.T) {
	dir := t.TempDir()
	huge := `{"tool_name":"huge","pad":"` + strings.Repeat("x", 3<<20) + `"}` // far past the read buffer
	tests := []struct {
		name        string
		maxLine     string
		lines       []string
		wantTools   []string
		wantRejects int
	}{
		{"line longer than the buffer is read whole", "16MiB", []string{event(1), huge, event(2)}, []string{"t1", "huge", "t2"}, 0},
		{"line longer than max_line is dead-lettered", "1MiB", []string{event(1), huge, event(2)}, []string{"t1", "t2"}, 1},
		{"line exactly max_line is kept", fmt.Sprint(len(event(7))), []string{event(7)}, []string{"t7"}, 0},
		{"line one past max_line is rejected", fmt.Sprint(len(event(7)) - 1), []string{event(7), "{}"}, []string{"<nil>"}, 1},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("long%d.jsonl", i))
			writeLines(t, path, tc.lines...)
			in := start(t, cfgJSON(t, map[string]any{"paths": []string{path}, "max_line": tc.maxLine}), t.TempDir())
			bs := drainAll(t, in)
			var tools []string
			for _, r := range records(bs) {
				tools = append(tools, field(t, r, "tool_name"))
			}
			if strings.Join(tools, ",") != strings.Join(tc.wantTools, ",") {
				t.Errorf("tools = %v, want %v", tools, tc.wantTools)
			}
			var rejects []sdk.Rejection
			for _, b := range bs {
				rejects = append(rejects, b.Rejected...)
			}
			if len(rejects) != tc.wantRejects {
				t.Fatalf("rejects = %d, want %d", len(rejects), tc.wantRejects)
			}
			for _, rj := range rejects {
				max, _ := sdk.ParseSize(tc.maxLine)
				if int64(len(rj.Data)) != max || !strings.Contains(rj.Reason, "longer than max_line") {
					t.Errorf("rejection keeps %d bytes (want %d): %s", len(rj.Data), max, rj.Reason)
				}
			}
		})
	}
}

func TestBlankLinesCRLFAndUnterminatedLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crlf.jsonl")
	content := event(1) + "\r\n\r\n   \n" + event(2) + "\n" + event(3) // no final newline
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	in := start(t, cfgJSON(t, map[string]any{"paths": []string{path}}), t.TempDir())
	bs := drainAll(t, in)
	recs := records(bs)
	if len(recs) != 3 || field(t, recs[2], "tool_name") != "t3" {
		t.Fatalf("got %d records", len(recs))
	}
	for _, b := range bs {
		if len(b.Rejected) > 0 {
			t.Errorf("unexpected rejection %+v", b.Rejected)
		}
	}
}

func TestResumeAfterPartialAckAndKill(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	writeLines(t, path, events(0, 1300)...) // three batches: 512, 512, 276
	raw := cfgJSON(t, map[string]any{"paths": []string{path}})

	first := start(t, raw, data)
	bs := drainAll(t, first)
	if len(bs) != 3 || bs[0].Len() != maxBatchRecords {
		t.Fatalf("batches: %d", len(bs))
	}
	ids := map[string]string{}
	for _, r := range records(bs) {
		ids[field(t, r, "tool_name")] = r.ID
	}
	// Batches 1 and 3 are delivered, 2 is not: only batch 1's end may be committed.
	first.Ack(context.Background(), []uint64{bs[0].Seq, bs[2].Seq})
	// No Close: the process was killed.

	second := start(t, raw, data)
	recs := records(drainAll(t, second))
	if len(recs) != 1300-512 {
		t.Fatalf("after restart got %d records, want %d", len(recs), 1300-512)
	}
	if got := field(t, recs[0], "tool_name"); got != "t512" {
		t.Errorf("resumed at %s, want t512", got)
	}
	for _, r := range recs {
		if tool := field(t, r, "tool_name"); ids[tool] != r.ID {
			t.Fatalf("%s: replayed id %s differs from first read %s", tool, r.ID, ids[tool])
		}
	}
}

func TestResumeAfterCleanRestartReadsOnlyNewLines(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	writeLines(t, path, events(0, 10)...)
	raw := cfgJSON(t, map[string]any{"paths": []string{path}})

	first := start(t, raw, data)
	ackAll(first, drainAll(t, first))
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := records(drainAll(t, start(t, raw, data))); len(got) != 0 {
		t.Fatalf("fully delivered file re-read: %d records", len(got))
	}
	writeLines(t, path, events(10, 13)...)
	got := records(drainAll(t, start(t, raw, data)))
	if len(got) != 3 || field(t, got[0], "tool_name") != "t10" {
		t.Fatalf("got %d new records", len(got))
	}
}

func TestUnackedDataIsReadAgain(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	writeLines(t, path, events(0, 5)...)
	raw := cfgJSON(t, map[string]any{"paths": []string{path}})
	first := start(t, raw, data)
	if n := len(records(drainAll(t, first))); n != 5 {
		t.Fatal(n)
	}
	_ = first.Close(context.Background()) // nothing acked
	if n := len(records(drainAll(t, start(t, raw, data)))); n != 5 {
		t.Fatalf("unacked lines re-read: %d, want 5", n)
	}
}

func TestNewFileReusingAnInodeIsReadFromTheStart(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	writeLines(t, path, events(0, 4)...)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	id := keyFor(path, info)
	// Saved state claims this inode was read to byte 100 of a different file.
	entries := map[fileID]*stateEntry{id: {Path: path, Dev: id.Dev, Ino: id.Ino, Offset: 100, HeadLen: 10, Head: "0011223344556677"}}
	if err := saveState(data, entries, true); err != nil {
		t.Fatal(err)
	}
	if n := len(records(drainAll(t, start(t, cfgJSON(t, map[string]any{"paths": []string{path}}), data)))); n != 4 {
		t.Fatalf("got %d records, want all 4", n)
	}
}

func TestCorruptStateFileStartsOver(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	writeLines(t, path, events(0, 2)...)
	if err := os.WriteFile(filepath.Join(data, stateFile), []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := len(records(drainAll(t, start(t, cfgJSON(t, map[string]any{"paths": []string{path}}), data)))); n != 2 {
		t.Fatalf("got %d records", n)
	}
}

func TestGlobsReadEveryMatchingFile(t *testing.T) {
	dir := t.TempDir()
	writeLines(t, filepath.Join(dir, "a.jsonl"), events(0, 3)...)
	writeLines(t, filepath.Join(dir, "b.jsonl"), events(3, 5)...)
	writeLines(t, filepath.Join(dir, "c.log"), events(5, 9)...)
	in := start(t, cfgJSON(t, map[string]any{"paths": []string{filepath.Join(dir, "*.jsonl")}}), t.TempDir())
	if n := len(records(drainAll(t, in))); n != 5 {
		t.Fatalf("got %d records, want 5", n)
	}
}

func TestStdin(t *testing.T) {
	r, w := io.Pipe()
	in := start(t, `{"paths":["-"]}`, t.TempDir(), func(in *Input) { in.stdin = r })
	go func() {
		fmt.Fprintln(w, event(1))
		fmt.Fprintln(w, "garbage")
		fmt.Fprint(w, event(2)) // unterminated: the end of input ends it
		w.Close()
	}()
	bs := drainAll(t, in)
	recs := records(bs)
	if len(recs) != 2 || field(t, recs[1], "tool_name") != "t2" {
		t.Fatalf("got %d records", len(recs))
	}
	if recs[0].ID == "" || field(t, recs[0], "event_id") != recs[0].ID {
		t.Errorf("stdin record lacks an id: %s", recs[0].Body)
	}
	n := 0
	for _, b := range bs {
		for _, rj := range b.Rejected {
			n++
			if string(rj.Data) != "garbage" {
				t.Errorf("rejected %q", rj.Data)
			}
		}
	}
	if n != 1 {
		t.Errorf("rejections: %d", n)
	}
}

func TestStdinWaitsForData(t *testing.T) {
	r, w := io.Pipe()
	in := start(t, `{"paths":["-"]}`, t.TempDir(), func(in *Input) { in.stdin = r })
	b, err := poll(t, in) // nothing written yet: an empty batch when the poll times out
	if err != nil || b.Len() != 0 {
		t.Fatalf("idle poll: %v %d", err, b.Len())
	}
	go fmt.Fprintln(w, event(1))
	if got := records(collect(t, in, 1)); field(t, got[0], "tool_name") != "t1" {
		t.Fatal("wrong record")
	}
	w.Close()
	if _, err := poll(t, in); !errors.Is(err, sdk.ErrEndOfInput) {
		t.Fatalf("after stdin closed: %v", err)
	}
}

func TestDerivedIDsAreStableAcrossReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeLines(t, path, events(0, 3)...)
	raw := cfgJSON(t, map[string]any{"paths": []string{path}})
	a := records(drainAll(t, start(t, raw, t.TempDir())))
	b := records(drainAll(t, start(t, raw, t.TempDir())))
	seen := map[string]bool{}
	for i := range a {
		if a[i].ID != b[i].ID {
			t.Errorf("record %d: id %s then %s", i, a[i].ID, b[i].ID)
		}
		if !bytes.Equal(a[i].Body, b[i].Body) {
			t.Errorf("record %d: body differs", i)
		}
		if seen[a[i].ID] {
			t.Errorf("duplicate id %s", a[i].ID)
		}
		seen[a[i].ID] = true
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name, raw, field string
	}{
		{"paths required", `{}`, "paths"},
		{"empty path", `{"paths":[""]}`, "paths"},
		{"bad glob", `{"paths":["/var/log/[.jsonl"]}`, "paths"},
		{"stdin twice", `{"paths":["-","-"]}`, "paths"},
		{"bad start_at", `{"paths":["-"],"start_at":"middle"}`, "start_at"},
		{"tiny max_line", `{"paths":["-"],"max_line":1}`, "max_line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Definition.New().(*Input).Validate(sdk.Config{Raw: json.RawMessage(tc.raw)})
			var fe *sdk.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("got %v, want a FieldError on %s", err, tc.field)
			}
		})
	}
	t.Run("missing file fails when not following", func(t *testing.T) {
		in := Definition.New().(*Input)
		err := in.Configure(context.Background(), sdk.Config{Raw: json.RawMessage(`{"paths":["/nonexistent/audit.jsonl"]}`), DataDir: t.TempDir()})
		if err == nil {
			t.Fatal("configure succeeded on a missing file")
		}
	})
	if err := Definition.Check(); err != nil {
		t.Fatal(err)
	}
}

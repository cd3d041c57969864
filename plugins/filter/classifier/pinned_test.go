package classifier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// pinnedEvents are the bodies of testdata/pinned/events.jsonl, passed to the
// filter exactly as written (not through sdk.NewRecord, which would trim and
// reject some), plus bodies a JSONL file cannot hold.
func pinnedEvents(t *testing.T) [][]byte {
	t.Helper()
	src, err := os.ReadFile("testdata/pinned/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var bodies [][]byte
	for _, line := range bytes.Split(bytes.TrimSuffix(src, []byte("\n")), []byte("\n")) {
		bodies = append(bodies, line)
	}
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, b := range []string{
		"\r\n{\n\t\"event_type\":\r\n\"mcp_tool_execution\",\n\"tool_name\" :\"t\"\n}\n",
		`{"event_type":"mcp_prompt_request","deep":` + nest(128) + `}`,
		`{"event_type":"mcp_prompt_request","deep":` + nest(130) + `}`,
		"",
	} {
		bodies = append(bodies, []byte(b))
	}
	return bodies
}

// pinnedRecord is the record the filter is handed for event i: a fixed id
// and time keep alert ids stable, and every other record already carries
// an attribute, as records from pii_tokenizer do.
func pinnedRecord(i int, body []byte) *sdk.Record {
	r := &sdk.Record{
		ID:   fmt.Sprintf("01JD3X7Q8M%016d", i),
		Time: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		Body: append([]byte(nil), body...),
	}
	if i%2 == 0 {
		r.Attributes = map[string]string{"pii.email": "1"}
	}
	return r
}

// pinnedLines renders what the filter answered: each record's envelope,
// attributes and exact body bytes, and each rejection's reason.
func pinnedLines(prefix string, out *sdk.Batch) []string {
	var lines []string
	for _, r := range out.Records {
		env, _ := json.Marshal(struct {
			ID, Type, Severity, Classification string
			Attributes                         map[string]string
		}{r.ID, r.Type, r.Severity, r.Classification, r.Attributes})
		lines = append(lines, prefix+"rec "+string(env)+" "+string(r.Body))
	}
	for _, rj := range out.Rejected {
		lines = append(lines, prefix+"rej "+rj.Reason)
	}
	return lines
}

// TestOutputBytesPinned pins, byte for byte, what each configuration in
// testdata/pinned makes of every event in events.jsonl: bodies, envelopes,
// attributes, alerts, rejections and the counters. Speed work on the filter
// must leave every byte of it unchanged. Run with -update to rewrite the
// .golden files after an intended change of behaviour.
func TestOutputBytesPinned(t *testing.T) {
	cfgs, _ := filepath.Glob("testdata/pinned/*.config.json")
	if len(cfgs) == 0 {
		t.Fatal("no pinned configurations")
	}
	bodies := pinnedEvents(t)
	for _, cfgPath := range cfgs {
		base := strings.TrimSuffix(cfgPath, ".config.json")
		t.Run(filepath.Base(base), func(t *testing.T) {
			cfg, err := os.ReadFile(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			// One event per batch, so each line names its input.
			c := newClassifier(t, string(cfg))
			var got []string
			for i, b := range bodies {
				out, err := c.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{pinnedRecord(i, b)}})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, pinnedLines(fmt.Sprintf("%d ", i+1), out)...)
			}
			for _, op := range []string{"get_audit_summary", sdk.OpGetStatus} {
				v, err := c.Invoke(context.Background(), op, nil)
				if err != nil {
					t.Fatal(err)
				}
				js, _ := json.Marshal(v)
				got = append(got, op+" "+string(js))
			}
			text := strings.Join(got, "\n") + "\n"
			if *update {
				if err := os.WriteFile(base+".golden", []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(base + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			if text != string(want) {
				g, w := strings.Split(text, "\n"), strings.Split(string(want), "\n")
				for i := 0; i < len(g) && i < len(w); i++ {
					if g[i] != w[i] {
						t.Fatalf("line %d differs:\ngot  %s\nwant %s", i+1, g[i], w[i])
					}
				}
				t.Fatalf("got %d lines, want %d", len(g), len(w))
			}

			// All events in one batch: a record written early must keep its
			// bytes while later ones are classified.
			all := &sdk.Batch{}
			for i, b := range bodies {
				all.Records = append(all.Records, pinnedRecord(i, b))
			}
			out, err := newClassifier(t, string(cfg)).Process(context.Background(), all)
			if err != nil {
				t.Fatal(err)
			}
			var perEvent, rejects []string
			for _, l := range got {
				if _, rest, ok := strings.Cut(l, " rec "); ok {
					perEvent = append(perEvent, "rec "+rest)
				} else if _, rest, ok := strings.Cut(l, " rej "); ok {
					rejects = append(rejects, "rej "+rest)
				}
			}
			batched := pinnedLines("", out)
			if want := append(perEvent, rejects...); strings.Join(batched, "\n") != strings.Join(want, "\n") {
				t.Fatalf("one batch differs from one event per batch:\n%s\nwant\n%s", strings.Join(batched, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// Package report turns an audit store written by output "file" into one
// self-contained HTML report: event volume per type over time, failures and
// threats, policy violations, retention per compliance framework, sessions,
// and the store's integrity verification status. It reads the store through
// the store package (verifying when given keys) and renders with no network
// access: styles, data and the chart code are inline.
package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/output/file/store"
)

// Source says where the events come from and how to check them.
type Source struct {
	Path string        // store directory, or one JSONL / signed JSONL file
	Seed []byte        // chain seed (--keys): full verification
	Pub  note.Verifier // public key (--pub or keys/signing.pub): checkpoint verification
}

// Event is the part of an audit event the report reads.
type Event struct {
	ID             string
	Time           time.Time
	Type           string
	Severity       string
	Success        *bool
	SessionID      string
	ClientID       string
	Server         string
	ToolName       string
	Reason         string
	Error          string
	Classification string
	Compliance     []string
	RetentionDays  int
}

type rawEvent struct {
	EventID        string          `json:"event_id"`
	Timestamp      json.RawMessage `json:"timestamp"`
	EventType      string          `json:"event_type"`
	Severity       string          `json:"severity"`
	Success        *bool           `json:"success"`
	SessionID      string          `json:"session_id"`
	ClientID       string          `json:"client_id"`
	Server         string          `json:"server"`
	ToolName       string          `json:"tool_name"`
	Reason         string          `json:"reason"`
	ThreatType     string          `json:"threat_type"`
	Error          json.RawMessage `json:"error"`
	Classification string          `json:"classification"`
	Compliance     json.RawMessage `json:"compliance"`
	RetentionDays  int             `json:"retention_days"`
}

// Integrity is the verification outcome shown in the report.
type Integrity struct {
	Checked     bool     // verification ran
	Mode        string   // what was checked
	Intact      bool     // nothing was found
	Findings    []string // first finding first
	Segments    int
	Entries     uint64
	Events      uint64
	Checkpoints uint64
	Unchecked   uint64 // entries after the last checkpoint (public-key mode)
	Active      bool   // the last segment is not sealed yet
	Note        string
}

// Dataset is what Load read.
type Dataset struct {
	Events    []Event
	Integrity Integrity
	Skipped   int // lines that were not events (unreadable bodies)
}

// Load reads every event of the source. With a seed or public key it
// verifies while reading (store.Verify) and reports what it found; events
// after the first alteration are not trusted and not included.
func Load(src Source) (*Dataset, error) {
	fi, err := os.Stat(src.Path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	ds := &Dataset{}
	add := func(body []byte) {
		ev, ok := parseEvent(body)
		if !ok {
			ds.Skipped++
			return
		}
		ds.Events = append(ds.Events, ev)
	}
	if src.Seed != nil || src.Pub != nil {
		opts := store.VerifyOptions{Seed: src.Seed, Pub: src.Pub, OnEntry: func(_ integrity.Pos, e *integrity.Entry, _ []byte) error {
			if e.Kind == integrity.KindEvent {
				add(e.Event)
			}
			return nil
		}}
		var rep *store.Report
		if fi.IsDir() {
			rep, err = store.Verify(src.Path, opts)
		} else {
			rep, err = store.VerifyFile(src.Path, opts)
		}
		if err != nil {
			return nil, fmt.Errorf("report: verify %s: %w", src.Path, err)
		}
		ds.Integrity = fromReport(rep, src.Seed != nil)
		return ds, nil
	}
	ds.Integrity = Integrity{Mode: "not verified", Note: "no keys given: run with --keys DIR (chain seed) or --pub signing.pub to verify the store while reading"}
	if !fi.IsDir() {
		if err := readLines(src.Path, add); err != nil {
			return nil, err
		}
		return ds, nil
	}
	segs, err := store.Segments(src.Path)
	if err != nil {
		return nil, fmt.Errorf("report: read store: %w", err)
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("report: %s holds no segments (seg-*.jsonl): not a store written by output \"file\"", src.Path)
	}
	ds.Integrity.Segments = len(segs)
	for _, n := range segs {
		if err := readLines(store.SegmentPath(src.Path, n), add); err != nil {
			return nil, err
		}
	}
	return ds, nil
}

func fromReport(rep *store.Report, full bool) Integrity {
	in := Integrity{Checked: true, Intact: rep.Intact(), Segments: rep.Segments, Entries: rep.Entries, Events: rep.Events,
		Checkpoints: rep.Checkpoints, Unchecked: rep.Unchecked, Active: rep.Active}
	in.Mode = "public key: signed checkpoints, Merkle tree, segment chaining and seals"
	if full {
		in.Mode = "chain seed: every entry's MAC, sequence and epoch, plus checkpoints"
	}
	for _, f := range rep.Findings {
		in.Findings = append(in.Findings, f.String())
	}
	if !in.Intact {
		in.Note = "events after the first finding are not included: they cannot be trusted"
	}
	return in
}

// readLines feeds the event bodies of one file to add: signed entry lines
// give their event (unverified here), store framing lines are skipped, and
// any other JSON object line is a plain record body.
func readLines(path string, add func([]byte)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := br.ReadBytes('\n')
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			switch {
			case integrity.IsEntryLine(line):
				var e integrity.Entry
				if integrity.ParseEntryLine(line, &e) == nil && e.Kind == integrity.KindEvent {
					add(e.Event)
				}
			case isFraming(line):
			default:
				add(line)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("report: read %s: %w", path, err)
		}
	}
}

// isFraming recognises the store's own lines: header, seal, checkpoint,
// recovery and retention records.
func isFraming(line []byte) bool {
	for _, p := range []string{`{"hdr":`, `{"seal":`, `{"ckpt":`, `{"recovered":`, `{"retired":`, `{"retention":`} {
		if bytes.HasPrefix(line, []byte(p)) {
			return true
		}
	}
	return false
}

func parseEvent(body []byte) (Event, bool) {
	var r rawEvent
	if err := json.Unmarshal(body, &r); err != nil || (r.EventType == "" && r.EventID == "") {
		return Event{}, false
	}
	ev := Event{ID: r.EventID, Type: r.EventType, Severity: r.Severity, Success: r.Success, SessionID: r.SessionID,
		ClientID: r.ClientID, Server: r.Server, ToolName: r.ToolName, Reason: r.Reason,
		Classification: r.Classification, RetentionDays: r.RetentionDays}
	if ev.Reason == "" {
		ev.Reason = r.ThreatType // alerts of the classifier and anomaly_detector carry threat_type, not reason
	}
	ev.Time = parseTime(r.Timestamp)
	if len(r.Error) > 0 && string(r.Error) != "null" {
		var s string
		if json.Unmarshal(r.Error, &s) != nil {
			s = string(r.Error)
		}
		ev.Error = s
	}
	var list []string
	if json.Unmarshal(r.Compliance, &list) == nil {
		ev.Compliance = list
	} else {
		var one string
		if json.Unmarshal(r.Compliance, &one) == nil && one != "" {
			ev.Compliance = []string{one}
		}
	}
	if ev.Type == "" {
		ev.Type = "unknown"
	}
	return ev, true
}

func parseTime(raw json.RawMessage) time.Time {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC()
		}
		return time.Time{}
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil {
		return time.Time{}
	}
	switch {
	case f > 1e17:
		return time.Unix(0, int64(f)).UTC()
	case f > 1e11:
		return time.UnixMilli(int64(f)).UTC()
	}
	return time.Unix(int64(f), 0).UTC()
}

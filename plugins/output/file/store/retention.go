package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Retired is one line of retention.log: a removed segment's seal line, kept
// so the chain stays verifiable from the next segment's header on.
type Retired struct {
	Seg     int             `json:"seg"`
	Seal    string          `json:"seal"`
	Deleted time.Time       `json:"deleted"`
	Event   json.RawMessage `json:"event"`
}

type retiredLine struct {
	Retention Retired `json:"retention"`
}

// EnforceRetention removes the oldest sealed segments sealed more than maxAge
// ago, never the active one and never out of order, records each removal in
// retention.log and the active segment as an mcp_compliance_events event, and
// returns those events.
func (s *Store) EnforceRetention(maxAge time.Duration) ([]json.RawMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if maxAge <= 0 || s.closed {
		return nil, nil
	}
	segs, err := Segments(s.opts.Dir)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now().UTC()
	var events []json.RawMessage
	for _, n := range segs {
		if s.f != nil && n == s.seg {
			break
		}
		seal, sealRaw, size, err := readSealLine(s.opts.Dir, n)
		if err != nil {
			return events, err
		}
		if seal == nil || now.Sub(seal.Sealed) < maxAge {
			break // unsealed or still retained: stop, so removal stays a prefix
		}
		if s.f == nil && s.opts.Framed {
			// Reopened and not written to yet: open the next segment now, so
			// the removal is recorded in the store and a segment, chained
			// to the last seal, is left when every segment expired.
			if err := s.openSegment(s.seg + 1); err != nil {
				return events, err
			}
		}
		ev, _ := json.Marshal(map[string]any{
			"event_id":   sdk.NewID(now),
			"timestamp":  now.Format(time.RFC3339Nano),
			"event_type": sdk.EventCompliance,
			"severity":   "info",
			"server":     "sentinel",
			"compliance": map[string]any{
				"action": "retention_delete", "segment": n, "entries": seal.Entries,
				"sealed": seal.Sealed, "retention": maxAge.String(), "store": s.opts.Dir,
			},
		})
		rec, _ := json.Marshal(retiredLine{Retention: Retired{Seg: n, Seal: string(sealRaw), Deleted: now, Event: ev}})
		if err := appendLine(filepath.Join(s.opts.Dir, RetentionFile), rec); err != nil {
			return events, err
		}
		path := SegmentPath(s.opts.Dir, n)
		_ = os.Chmod(path, 0o640)
		if err := os.Remove(path); err != nil {
			return events, fmt.Errorf("retention: remove segment %d: %w", n, err)
		}
		s.total.Segments--
		s.total.Bytes -= size
		s.total.Entries -= int64(seal.Entries)
		s.total.Lines -= int64(seal.Lines + 1)
		events = append(events, ev)
		if s.f != nil && s.opts.Framed {
			if err := s.write(append(rec, '\n'), 1); err != nil {
				return events, err
			}
		}
	}
	return events, nil
}

func appendLine(path string, line []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(append([]byte(nil), line...), '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readRetired reads retention.log.
func readRetired(dir string) (map[int]Retired, error) {
	out := map[int]Retired{}
	data, err := os.ReadFile(filepath.Join(dir, RetentionFile))
	if os.IsNotExist(err) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, line := range splitLines(data) {
		var rl retiredLine
		if err := json.Unmarshal(line, &rl); err != nil {
			return nil, fmt.Errorf("%s: malformed line", RetentionFile)
		}
		out[rl.Retention.Seg] = rl.Retention
	}
	return out, nil
}

func splitLines(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		i := 0
		for i < len(data) && data[i] != '\n' {
			i++
		}
		if i > 0 {
			out = append(out, data[:i])
		}
		if i == len(data) {
			break
		}
		data = data[i+1:]
	}
	return out
}

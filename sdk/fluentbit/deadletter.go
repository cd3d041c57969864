package fluentbit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// deadLetter is one line of a dead-letter file, in the host pipeline's
// format, so `<data_dir>/deadletter/<component>.jsonl` reads the same whether
// Sentinel or Fluent Bit ran the output.
type deadLetter struct {
	Time      time.Time       `json:"time"`
	Component string          `json:"component"`
	Reason    string          `json:"reason"`
	EventID   string          `json:"event_id,omitempty"`
	Record    json.RawMessage `json:"record,omitempty"`
	Data      string          `json:"data,omitempty"` // an event that never became a record
}

func recordLetter(r *sdk.Record, reason string) deadLetter {
	return deadLetter{Reason: reason, EventID: r.ID, Record: r.Body}
}

// deadLetters appends to one component's dead-letter file. Fluent Bit drops
// a chunk without a word when a flush returns FLB_ERROR, so every record is
// written here, and synced, before that code is returned.
type deadLetters struct {
	component string
	path      string
	mu        sync.Mutex
	f         *os.File
}

func newDeadLetters(dataDir, component string) *deadLetters {
	return &deadLetters{component: component, path: filepath.Join(dataDir, "deadletter", component+".jsonl")}
}

func (d *deadLetters) write(entries []deadLetter) error {
	if len(entries) == 0 {
		return nil
	}
	now := time.Now().UTC()
	var buf []byte
	for _, e := range entries {
		e.Time, e.Component = now, d.component
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode dead letter: %w", err)
		}
		buf = append(append(buf, b...), '\n')
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		if err := os.MkdirAll(filepath.Dir(d.path), 0o750); err != nil {
			return fmt.Errorf("dead-letter dir: %w", err)
		}
		f, err := os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("dead-letter file: %w", err)
		}
		d.f = f
	}
	if _, err := d.f.Write(buf); err != nil {
		return fmt.Errorf("write dead letters: %w", err)
	}
	return d.f.Sync()
}

func (d *deadLetters) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}

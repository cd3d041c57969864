package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// deadLetters appends records that failed for good, with the reason, to
// <data_dir>/deadletter/<component>.jsonl: nothing is dropped silently.
type deadLetters struct {
	dir   string
	mu    sync.Mutex
	files map[string]*os.File
}

func newDeadLetters(dataDir string) *deadLetters {
	return &deadLetters{dir: filepath.Join(dataDir, "deadletter"), files: map[string]*os.File{}}
}

type deadLetter struct {
	Time      time.Time       `json:"time"`
	Component string          `json:"component"`
	Reason    string          `json:"reason"`
	EventID   string          `json:"event_id,omitempty"`
	Record    json.RawMessage `json:"record,omitempty"`
	Data      string          `json:"data,omitempty"` // input that never became a record
}

// lettersOf is every record of env as a dead letter, with err as the reason.
func lettersOf(env *envelope, err error) []deadLetter {
	entries := make([]deadLetter, 0, len(env.records))
	for _, r := range env.records {
		entries = append(entries, deadLetter{Reason: err.Error(), EventID: r.ID, Record: r.Body})
	}
	return entries
}

// Path is the dead-letter file of a component.
func (d *deadLetters) Path(component string) string {
	return filepath.Join(d.dir, component+".jsonl")
}

func (d *deadLetters) write(component string, entries []deadLetter) error {
	if len(entries) == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.files[component]
	if f == nil {
		if err := os.MkdirAll(d.dir, 0o750); err != nil {
			return fmt.Errorf("dead-letter dir: %w", err)
		}
		var err error
		f, err = os.OpenFile(d.Path(component), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("dead-letter file: %w", err)
		}
		d.files[component] = f
	}
	var buf []byte
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	// A failed write or sync is retried by the caller with the same
	// entries: cut the file back first, so a torn or repeated tail never
	// stays behind (the file is append-only, so its end is where we began).
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	if _, err := f.Write(buf); err != nil {
		_ = f.Truncate(size)
		return fmt.Errorf("write dead letters: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Truncate(size)
		return fmt.Errorf("sync dead letters: %w", err)
	}
	return nil
}

func (d *deadLetters) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range d.files {
		f.Close()
	}
}

package mcp_tap

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// eventQueue holds events the proxy observed until Process takes them. The
// proxy never waits on it: past max events in memory, events are appended to
// an overflow file in the data dir (and read back in order), so a stalled
// pipeline costs disk, not the MCP session and not the events.
type eventQueue struct {
	mu    sync.Mutex
	mem   [][]byte
	max   int
	ready chan struct{}

	path       string
	w          *os.File
	r          *bufio.Reader
	rf         *os.File
	unread     int // events in the file not yet taken
	dirty      bool
	closed     bool
	overflowed atomic.Uint64
}

func newEventQueue(dir string, max int) (*eventQueue, error) {
	q := &eventQueue{max: max, ready: make(chan struct{}, 1)}
	if dir == "" {
		return q, nil
	}
	q.path = filepath.Join(dir, "overflow.jsonl")
	// events a previous run spilled but never handed on are taken first
	if b, err := os.ReadFile(q.path); err == nil && len(b) > 0 {
		q.unread = bytes.Count(b, []byte{'\n'})
		if err := q.open(); err != nil {
			return nil, err
		}
		q.signal()
	}
	return q, nil
}

func (q *eventQueue) open() error {
	w, err := os.OpenFile(q.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("overflow file: %w", err)
	}
	rf, err := os.Open(q.path)
	if err != nil {
		w.Close()
		return fmt.Errorf("overflow file: %w", err)
	}
	q.w, q.rf, q.r = w, rf, bufio.NewReaderSize(rf, 256<<10)
	return nil
}

func (q *eventQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *eventQueue) push(ev []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.path != "" && !q.closed && (q.unread > 0 || len(q.mem) >= q.max) {
		if q.w != nil || q.open() == nil {
			if _, err := q.w.Write(append(ev, '\n')); err == nil {
				q.unread++
				q.dirty = true
				q.overflowed.Add(1)
				q.signal()
				return
			}
		}
		// disk failed too: memory is the last resort, never a silent drop
	}
	q.mem = append(q.mem, ev)
	q.signal()
}

// take returns up to n events in arrival order, and any overflow lines that
// could not be read back as events.
func (q *eventQueue) take(n int) (evs, bad [][]byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(n, len(q.mem))
	if k > 0 {
		evs = append(evs, q.mem[:k]...)
		q.mem = q.mem[k:]
		if len(q.mem) == 0 {
			q.mem = nil
		}
	}
	for len(evs) < n && q.unread > 0 {
		line, err := q.r.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			q.unread = 0
			break
		}
		q.unread--
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if line[0] != '{' {
			bad = append(bad, line)
			continue
		}
		evs = append(evs, line)
	}
	if q.unread == 0 && q.dirty && q.w != nil {
		// drained: start the file afresh
		_ = q.w.Truncate(0)
		_, _ = q.rf.Seek(0, io.SeekStart)
		q.r.Reset(q.rf)
		q.dirty = false
	}
	if len(q.mem) > 0 || q.unread > 0 {
		q.signal()
	}
	return evs, bad
}

func (q *eventQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.mem) + q.unread
}

// close keeps what is still queued, oldest first (memory, then the unread
// part of the overflow file), in the overflow file the next run reads first.
func (q *eventQueue) close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	if q.path == "" {
		return nil
	}
	var buf bytes.Buffer
	for _, e := range q.mem {
		buf.Write(e)
		buf.WriteByte('\n')
	}
	q.mem = nil
	if q.w != nil {
		if q.unread > 0 {
			_, _ = io.Copy(&buf, q.r)
		}
		q.w.Close()
		q.rf.Close()
	}
	if buf.Len() == 0 {
		if q.w != nil {
			return os.Remove(q.path)
		}
		return nil
	}
	tmp := q.path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("overflow file: %w", err)
	}
	return os.Rename(tmp, q.path)
}

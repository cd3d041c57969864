package deliver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// SinkOptions configure a Sink.
type SinkOptions struct {
	Client   *Client
	SpoolDir string // where spool files live; required
	Queue    int    // events held in memory before spilling (default 8192)
	Batch    int    // events per ingest request (default 512)
	// Linger is how long a batch waits to fill once it has an event (default
	// 20ms): one request per event would cost the host, and the CPU the MCP
	// session runs on, far more than the wait.
	Linger time.Duration
	// Backoff bounds the wait between attempts while the endpoint is down.
	MinBackoff, MaxBackoff time.Duration
	Log                    func(msg string, args ...any)
}

// Sink queues events and delivers them in the background.
type Sink struct {
	o      SinkOptions
	queue  chan []byte
	stop   chan struct{}
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc

	spoolMu   sync.Mutex
	spool     *os.File // this process's spool, created on first spill
	spoolPath string

	Sent, Spilled, Replayed, Failures atomic.Uint64
}

// NewSink starts delivering. Leftover spool files of earlier wrappers in
// SpoolDir are replayed too.
func NewSink(o SinkOptions) (*Sink, error) {
	if o.SpoolDir == "" {
		return nil, errors.New("spool directory required")
	}
	if err := os.MkdirAll(o.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if o.Queue <= 0 {
		o.Queue = 8192
	}
	if o.Batch <= 0 {
		o.Batch = 512
	}
	if o.Linger <= 0 {
		o.Linger = 20 * time.Millisecond
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	s := &Sink{o: o, queue: make(chan []byte, o.Queue), stop: make(chan struct{}), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	return s, nil
}

// Emit queues one event and never blocks on the network: when the queue is
// full the event goes to the spool file.
func (s *Sink) Emit(ev []byte) {
	select {
	case s.queue <- ev:
	default:
		if err := s.spill([][]byte{ev}); err != nil {
			s.o.Log("spool write failed; event printed to stderr", "error", err)
			fmt.Fprintf(os.Stderr, "sentinel: undeliverable event: %s\n", ev)
		}
	}
}

// Close stops accepting events, tries to deliver what is queued until ctx is
// done, and spools the rest for the next run.
func (s *Sink) Close(ctx context.Context) error {
	close(s.stop)
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel() // abandon the in-flight send; its batch is spooled
		<-s.done
	}
	// whatever the sender could not deliver in time goes to disk
	var rest [][]byte
	for {
		select {
		case ev := <-s.queue:
			rest = append(rest, ev)
			continue
		default:
		}
		break
	}
	var err error
	if len(rest) > 0 {
		err = s.spill(rest)
	}
	s.spoolMu.Lock()
	defer s.spoolMu.Unlock()
	if s.spool != nil {
		if st, err := s.spool.Stat(); err == nil && st.Size() == 0 {
			os.Remove(s.spoolPath) // everything it held was delivered
		}
		s.spool.Close() // releases the lock: a later wrapper replays it
		s.spool = nil
	}
	s.o.Client.Close()
	return err
}

// Pending is the number of events waiting in memory.
func (s *Sink) Pending() int { return len(s.queue) }

func (s *Sink) run() {
	defer close(s.done)
	backoff := s.o.MinBackoff
	healthy := true
	ctx := s.ctx
	lastReplay := time.Time{}
	for {
		// replay spooled events first, so order is roughly preserved
		if healthy || time.Since(lastReplay) >= backoff {
			lastReplay = time.Now()
			if err := s.replayAll(ctx); err != nil {
				healthy = false
			} else {
				healthy = true
			}
		}
		batch, open := s.next(healthy, backoff)
		if len(batch) > 0 {
			if !healthy {
				if err := s.spill(batch); err != nil {
					s.o.Log("spool write failed", "error", err)
				}
			} else if err := s.o.Client.Send(ctx, batch); err != nil {
				s.Failures.Add(1)
				s.o.Log("ingest unavailable; spooling", "error", err)
				healthy = false
				if err := s.spill(batch); err != nil {
					s.o.Log("spool write failed", "error", err)
				}
			} else {
				s.Sent.Add(uint64(len(batch)))
			}
		}
		if !healthy {
			backoff = min(backoff*2, s.o.MaxBackoff)
		} else {
			backoff = s.o.MinBackoff
		}
		if !open {
			if healthy {
				_ = s.replayAll(ctx)
			}
			return
		}
	}
}

// next waits for events (at most wait when the endpoint is down, so that
// replays are retried) and returns a batch; open is false once Close began
// and the queue is empty.
func (s *Sink) next(healthy bool, wait time.Duration) (batch [][]byte, open bool) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case ev := <-s.queue:
		batch = append(batch, ev)
	case <-s.stop:
		select {
		case ev := <-s.queue:
			batch = append(batch, ev)
		default:
			return nil, false
		}
	case <-timer.C:
		return nil, true
	}
	linger := time.NewTimer(s.o.Linger)
	defer linger.Stop()
	for len(batch) < s.o.Batch {
		select {
		case ev := <-s.queue:
			batch = append(batch, ev)
			continue
		case <-linger.C:
		case <-s.stop:
			// closing: take what is queued without waiting
			for len(batch) < s.o.Batch {
				select {
				case ev := <-s.queue:
					batch = append(batch, ev)
					continue
				default:
				}
				break
			}
		}
		break
	}
	return batch, true
}

// spill appends events to this process's spool file (created and locked on
// first use, so replays by other wrappers leave it alone while we live).
func (s *Sink) spill(events [][]byte) error {
	s.spoolMu.Lock()
	defer s.spoolMu.Unlock()
	if s.spool == nil {
		p := filepath.Join(s.o.SpoolDir, sdk.NewID(time.Now())+".jsonl")
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			return fmt.Errorf("spool lock: %w", err)
		}
		s.spool, s.spoolPath = f, p
	}
	w := bufio.NewWriter(s.spool)
	for _, e := range events {
		w.Write(e)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.Spilled.Add(uint64(len(events)))
	return nil
}

// replayAll sends every spool file in the directory, oldest first.
func (s *Sink) replayAll(ctx context.Context) error {
	names, err := filepath.Glob(filepath.Join(s.o.SpoolDir, "*.jsonl"))
	if err != nil || len(names) == 0 {
		return nil
	}
	sort.Strings(names) // ULID names sort by time
	for _, p := range names {
		if err := s.replayFile(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// replayFile sends one spool file from its recorded offset, recording the
// offset after every acknowledged batch, and removes it when done. Our own
// file is replayed under the spool mutex so no spill interleaves.
func (s *Sink) replayFile(ctx context.Context, p string) error {
	own := false
	s.spoolMu.Lock()
	if p == s.spoolPath {
		own = true
		defer s.spoolMu.Unlock()
	} else {
		s.spoolMu.Unlock()
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil // replayed and removed by another wrapper meanwhile
	}
	defer f.Close()
	if !own {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			return nil // a live wrapper owns it
		}
	}
	offPath := p + ".offset"
	off := readOffset(offPath)
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("spool %s: %w", p, err)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	var batch [][]byte
	var batchBytes int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.o.Client.Send(ctx, batch); err != nil {
			s.Failures.Add(1)
			return err
		}
		s.Replayed.Add(uint64(len(batch)))
		off += batchBytes
		batch, batchBytes = batch[:0], 0
		return os.WriteFile(offPath, []byte(strconv.FormatInt(off, 10)), 0o600)
	}
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			batchBytes += int64(len(line))
			if ev := strings.TrimSpace(string(line)); ev != "" {
				batch = append(batch, []byte(ev))
			}
			if len(batch) >= s.o.Batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err != nil {
			break // EOF, or a torn last line still being written: left for later
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if own {
		// caught up: start our file afresh rather than let it grow
		if err := f.Truncate(0); err == nil {
			_ = os.Remove(offPath)
		}
		return nil
	}
	if st, err := f.Stat(); err == nil && st.Size() == off {
		os.Remove(p)
		os.Remove(offPath)
	}
	return nil
}

func readOffset(p string) int64 {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

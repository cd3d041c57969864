package deliver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	// Stderr receives events the spool cannot take (default os.Stderr), one
	// per line after UndeliverablePrefix.
	Stderr io.Writer
}

// UndeliverablePrefix starts each stderr line that carries an event the spool
// could not take (disk full, spool unwritable). The rest of the line is the
// event as the spool would have held it.
const UndeliverablePrefix = "sentinel: undeliverable event: "

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
	spillBuf  []byte

	// offsets are the replay offsets reached in this process, kept for when
	// the offset file cannot be written (full disk): without them every retry
	// would send the same batch again. Used by the run goroutine only.
	offsets map[string]int64

	// Printed counts events written to stderr because the spool could not
	// take them; Lost those that not even stderr took.
	Sent, Spilled, Replayed, Failures, Printed, Lost atomic.Uint64
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
	removeAbandonedNew(o.SpoolDir)
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
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	s := &Sink{o: o, queue: make(chan []byte, o.Queue), stop: make(chan struct{}), done: make(chan struct{}),
		offsets: map[string]int64{}}
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
		s.save([][]byte{ev})
	}
}

// save spools events; those the spool cannot take are printed to stderr, so
// that each event is whole in exactly one of the two.
func (s *Sink) save(events [][]byte) {
	n, err := s.spill(events)
	if err == nil {
		return
	}
	rest := events[n:]
	s.o.Log("spool write failed; events printed to stderr as \""+strings.TrimSpace(UndeliverablePrefix)+" {...}\" lines",
		"events", len(rest), "spool", s.o.SpoolDir, "error", err)
	for _, ev := range rest {
		// one write per event: a line is not split between writes
		line := make([]byte, 0, len(UndeliverablePrefix)+len(ev)+1)
		line = append(append(append(line, UndeliverablePrefix...), ev...), '\n')
		if _, err := s.o.Stderr.Write(line); err != nil {
			s.Lost.Add(1)
		} else {
			s.Printed.Add(1)
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
	if len(rest) > 0 {
		s.save(rest)
	}
	s.spoolMu.Lock()
	if s.spool != nil {
		if st, err := s.spool.Stat(); err == nil && st.Size() == 0 {
			os.Remove(s.spoolPath) // everything it held was delivered
		}
		s.spool.Close() // releases the lock: a later wrapper replays it
		s.spool = nil
	}
	s.spoolMu.Unlock()
	s.o.Client.Close()
	if n := s.Lost.Load(); n > 0 {
		return fmt.Errorf("%d events could be neither spooled nor printed to stderr: lost (%d printed)", n, s.Printed.Load())
	}
	if n := s.Printed.Load(); n > 0 {
		return fmt.Errorf("%d events could not be spooled and were printed to stderr as %q lines instead; "+
			"to deliver them, put those JSON lines into a file in %s (see the mcp_tap README)", n, UndeliverablePrefix+"{...}", s.o.SpoolDir)
	}
	return nil
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
				s.save(batch)
			} else if err := s.o.Client.Send(ctx, batch); err != nil {
				s.Failures.Add(1)
				s.o.Log("ingest unavailable; spooling", "error", err)
				healthy = false
				s.save(batch)
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
// first use, so replays by other wrappers leave it alone while we live). It
// returns how many events, from the first, are whole in the file: a write cut
// short (disk full) is cut back to the last whole event, so the spool never
// holds a torn line that a later append would glue to the next event.
func (s *Sink) spill(events [][]byte) (int, error) {
	s.spoolMu.Lock()
	defer s.spoolMu.Unlock()
	if s.spool == nil {
		if err := s.openSpool(); err != nil {
			return 0, err
		}
	}
	path := s.spoolPath
	st, err := s.spool.Stat()
	if err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	buf := s.spillBuf[:0]
	for _, e := range events {
		buf = append(append(buf, e...), '\n')
	}
	if cap(buf) <= 1<<20 {
		s.spillBuf = buf[:0] // reused, unless one odd batch made it huge
	}
	n, err := s.spool.Write(buf)
	if err == nil {
		s.Spilled.Add(uint64(len(events)))
		return len(events), nil
	}
	whole, end := 0, 0
	for _, e := range events {
		if end+len(e)+1 > n {
			break
		}
		end += len(e) + 1
		whole++
	}
	if n > end {
		if terr := s.spool.Truncate(st.Size() + int64(end)); terr != nil {
			// the torn tail stays: leave this file to replay (which skips
			// a torn last line) and start a new one next time
			s.o.Log("spool: cannot cut back a torn write", "spool", s.spoolPath, "error", terr)
			s.spool.Close()
			s.spool, s.spoolPath = nil, ""
		}
	}
	s.Spilled.Add(uint64(whole))
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // it names the file by its name at creation
	}
	return whole, fmt.Errorf("spool %s: %w", path, err)
}

// openSpool creates this process's spool file. It is created under a name
// replays ignore, locked, then renamed: a replaying wrapper must never find it
// unlocked and empty, and remove it as delivered while events go into it.
func (s *Sink) openSpool() error {
	p := filepath.Join(s.o.SpoolDir, sdk.NewID(time.Now())+".jsonl")
	f, err := os.OpenFile(p+".new", os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(p + ".new")
		return fmt.Errorf("spool lock: %w", err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		f.Close()
		os.Remove(p + ".new")
		return fmt.Errorf("spool: %w", err)
	}
	s.spool, s.spoolPath = f, p
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
// file is first handed over: closed, so that spills meanwhile go to a new
// one and Emit never waits for the network behind the spool's mutex.
func (s *Sink) replayFile(ctx context.Context, p string) error {
	s.spoolMu.Lock()
	if p == s.spoolPath {
		s.spool.Close()
		s.spool, s.spoolPath = nil, ""
	}
	s.spoolMu.Unlock()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil // replayed and removed by another wrapper meanwhile
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil // a live wrapper owns it
	}
	offPath := p + ".offset"
	off := max(readOffset(offPath), s.offsets[p])
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("spool %s: %w", p, err)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	var batch [][]byte
	var batchBytes int64
	flush := func() error {
		if len(batch) == 0 {
			off += batchBytes // a dropped fragment: past it, so the file can go
			batchBytes = 0
			return nil
		}
		if err := s.o.Client.Send(ctx, batch); err != nil {
			s.Failures.Add(1)
			return err
		}
		s.Replayed.Add(uint64(len(batch)))
		off += batchBytes
		s.offsets[p] = off
		batch, batchBytes = batch[:0], 0
		// Not fatal: on a full disk the offset stays in memory, and only a
		// crash before the file is done would send these events twice.
		if err := writeOffset(offPath, off); err != nil {
			s.o.Log("spool: cannot record the replay offset", "spool", p, "error", err)
		}
		return nil
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
		} else if len(line) > 0 {
			// We hold the lock, so no wrapper is writing this file: a last
			// line without its newline was cut short (a crash, or a full disk
			// that would not let the cut be undone) and will never be
			// finished. A whole event is sent; a fragment is the start of an
			// event that went to stderr, and is dropped.
			batchBytes += int64(len(line))
			if ev := bytes.TrimSpace(line); json.Valid(ev) {
				batch = append(batch, ev)
			} else {
				s.o.Log("spool: dropping a torn last line (its event was printed to stderr when the write failed)",
					"spool", p, "bytes", len(line))
			}
		}
		if err != nil {
			break
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if st, err := f.Stat(); err == nil && st.Size() == off {
		os.Remove(p)
		os.Remove(offPath)
		delete(s.offsets, p)
	}
	return nil
}

// writeOffset records a replay offset by renaming a complete file into
// place: a half-written offset would point into the middle of a line.
func writeOffset(p string, off int64) error {
	tmp := p + ".new"
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(off, 10)), 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, p)
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

// removeAbandonedNew deletes spool files a wrapper created and died before
// renaming into place. Nothing is written to one before the rename, so an
// abandoned one is empty; one younger than a minute, or locked, may belong
// to a wrapper starting right now and is left alone.
func removeAbandonedNew(dir string) {
	names, _ := filepath.Glob(filepath.Join(dir, "*.jsonl.new"))
	for _, p := range names {
		st, err := os.Stat(p)
		if err != nil || st.Size() != 0 || time.Since(st.ModTime()) < time.Minute {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.Remove(p)
		}
		f.Close()
	}
}

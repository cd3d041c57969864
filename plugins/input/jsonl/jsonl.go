// Package jsonl is the "jsonl" input: NDJSON audit events from files or
// standard input, finite or tailing, resuming after restarts from the offset
// up to which the host has acknowledged delivery.
package jsonl

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition is the jsonl input plugin.
var Definition = &sdk.Definition{
	Name:    "jsonl",
	Kind:    sdk.KindInput,
	Version: "0.1.0",
	Summary: "Reads NDJSON audit events from files (globs, tailing, rotation) or standard input.",
	Description: "Each line is one JSON event object. Progress is saved per file (device and inode, so a " +
		"rotated file is recognised) in the component's data dir, committed only for batches the host " +
		"has delivered: after a restart, even a kill -9, reading resumes where delivered data ends (at " +
		"least once). An event without event_id gets an id derived from its file and offset, so a " +
		"re-read keeps its id. Lines that are not JSON objects, or longer than max_line, are dead-lettered.",
	Config: configSchema,
	New:    func() sdk.Plugin { return &Input{stdin: os.Stdin, rotateWait: 5 * time.Second} },
}

// Batch caps: a poll returns at most this much.
const (
	maxBatchRecords = 512
	maxBatchBytes   = 1 << 20
	arenaChunk      = 256 << 10
)

// Input is one jsonl input instance. Process runs on one goroutine; Ack may
// run concurrently with it, so everything Ack touches is under mu.
type Input struct {
	cfg        Config
	log        hclog.Logger
	dataDir    string
	stdin      io.Reader     // os.Stdin; tests substitute a reader
	rotateWait time.Duration // how long a rotated file is still read from

	// Owned by the Process goroutine.
	files    []*source
	byID     map[fileID]*source
	loaded   map[fileID]*stateEntry // offsets found at start
	stdinSrc *source
	stdinR   *stdinReader
	next     int // source to read first, for fairness
	lastScan time.Time
	ended    bool
	arena    []byte
	ids      lineID
	mkID     func(time.Time) string // in.ids.make, bound once

	mu        sync.Mutex
	seq       uint64
	pending   []*pendingBatch // emitted and not yet committed, by seq
	committed map[fileID]*stateEntry
	closed    bool

	stateDirty bool // committed offsets not yet written
	lastSave   time.Time
	saveTimer  *time.Timer
}

// pendingBatch is an emitted batch and the file offsets it reaches.
type pendingBatch struct {
	seq   uint64
	marks []mark
	acked bool
}

// mark is the progress of one file after a batch; forget drops the file
// from the state once everything before it is committed.
type mark struct {
	id     fileID
	entry  stateEntry
	forget bool
}

// Validate checks the arguments without touching files.
func (in *Input) Validate(cfg sdk.Config) error {
	_, err := sdk.DecodeSettings[Config](cfg)
	return err
}

// Configure loads saved offsets and opens the files.
func (in *Input) Configure(_ context.Context, cfg sdk.Config) error {
	c, err := sdk.DecodeSettings[Config](cfg)
	if err != nil {
		return err
	}
	in.cfg = *c
	in.log, in.dataDir = cfg.Log(), cfg.DataDir
	if in.dataDir == "" {
		in.log.Warn("no data dir: read offsets are not saved, a restart reads from start_at again")
	} else if err := os.MkdirAll(in.dataDir, 0o700); err != nil {
		return fmt.Errorf("jsonl: data dir: %w", err)
	}
	loaded, err := loadState(in.dataDir)
	if err != nil {
		in.log.Warn("ignoring saved offsets", "error", err)
	}
	in.loaded, in.byID, in.committed = loaded, map[fileID]*source{}, map[fileID]*stateEntry{}
	in.ids.h = sha256.New()
	in.mkID = in.ids.make
	if err := in.discover(true); err != nil {
		in.closeFiles()
		return err
	}
	// Offsets of files no longer found are dropped; the others carry over
	// until new acks move them.
	for _, s := range in.files {
		if e := in.loaded[s.id]; e != nil {
			c := *e
			c.Path = s.name
			in.committed[s.id] = &c
		}
	}
	in.loaded = nil
	for _, p := range in.cfg.Paths {
		if p == "-" {
			in.stdinR = newStdinReader(in.stdin)
			in.stdinSrc = &source{name: "stdin", r: in.stdinR, lr: newLineReader(int(in.cfg.MaxLine), 0)}
		}
	}
	if len(in.files) == 0 && in.stdinSrc == nil && !in.cfg.Follow {
		in.log.Warn("no file matches paths; the input ends at once", "paths", in.cfg.Paths)
	}
	in.lastScan = time.Now()
	return nil
}

// Process returns the next batch of lines: at most maxBatchRecords records
// or maxBatchBytes, whatever is available now, waiting (follow mode, stdin)
// until there is some or ctx ends.
func (in *Input) Process(ctx context.Context, _ *sdk.Batch) (*sdk.Batch, error) {
	if in.ended {
		return nil, sdk.ErrEndOfInput
	}
	for {
		now := time.Now()
		if in.cfg.Follow && now.Sub(in.lastScan) >= in.cfg.PollInterval.Std() {
			in.lastScan = now
			_ = in.discover(false)
		}
		out := &sdk.Batch{}
		marks := in.fill(out, now)
		if len(out.Records) > 0 || len(out.Rejected) > 0 {
			out.Seq = in.register(marks, false)
			return out, nil
		}
		if len(marks) > 0 {
			in.register(marks, true) // progress over blank lines or closed files: nothing to deliver
		}
		if !in.cfg.Follow && in.drained() {
			in.ended = true
			return nil, sdk.ErrEndOfInput
		}
		if err := in.wait(ctx); err != nil {
			return &sdk.Batch{}, nil
		}
	}
}

// drained reports whether every source has been read to its end.
func (in *Input) drained() bool {
	for _, s := range in.files {
		if !s.done {
			return false
		}
	}
	return in.stdinSrc == nil || in.stdinSrc.done
}

// wait sleeps until stdin has data, the next poll is due, or ctx ends.
func (in *Input) wait(ctx context.Context) error {
	var stdinReady <-chan []byte
	if in.stdinR != nil {
		stdinReady = in.stdinR.waitChan()
	}
	pollFiles := in.cfg.Follow || !in.drainedFiles()
	var tick <-chan time.Time
	if pollFiles {
		t := time.NewTimer(in.cfg.PollInterval.Std())
		defer t.Stop()
		tick = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case c, ok := <-stdinReady:
		in.stdinR.accept(c, ok)
	case <-tick:
	}
	return nil
}

func (in *Input) drainedFiles() bool {
	for _, s := range in.files {
		if !s.done {
			return false
		}
	}
	return true
}

// fill reads lines from the sources into out, round robin, and returns how
// far each file got.
func (in *Input) fill(out *sdk.Batch, now time.Time) []mark {
	var marks []mark
	size := 0
	sources := in.files
	if in.stdinSrc != nil {
		sources = append(sources[:len(sources):len(sources)], in.stdinSrc)
	}
	if len(sources) == 0 {
		return nil
	}
	first := in.next % len(sources)
	in.next++
	for k := range sources {
		s := sources[(first+k)%len(sources)]
		if s.done {
			continue
		}
		before := s.lr.committable()
		size = in.readSource(s, out, size, now)
		if s != in.stdinSrc && (s.lr.committable() != before || s.done) {
			marks = append(marks, in.markOf(s))
		}
		if len(out.Records)+len(out.Rejected) >= maxBatchRecords || size >= maxBatchBytes {
			break
		}
	}
	if s := in.stdinSrc; s != nil && s.done && in.stdinR != nil {
		in.stdinR = nil // ended: no more waiting on it
	}
	return marks
}

// readSource moves lines of s into out until the batch is full or s has
// nothing more for now; it returns the batch's byte size.
func (in *Input) readSource(s *source, out *sdk.Batch, size int, now time.Time) int {
	final := in.finalAt(s, now)
	for len(out.Records)+len(out.Rejected) < maxBatchRecords && size < maxBatchBytes {
		kind, line, off, err := s.lr.next(s.r, final)
		if err != nil {
			in.log.Error("read failed", "source", s.name, "error", err)
			if s.f == nil { // stdin cannot be re-read: it is over
				s.close()
			}
			return size
		}
		switch kind {
		case lineNone:
			if s.lr.eof && final && !s.lr.buffered() {
				if s.f != nil && in.cfg.Follow {
					in.log.Info("finished rotated file", "path", s.name)
				}
				s.close()
			}
			return size
		case lineTooLong:
			out.RejectData(line, fmt.Sprintf("%s: line at byte %d is longer than max_line (%d bytes); "+
				"its first %d bytes are kept", s.name, off, in.cfg.MaxLine, len(line)))
			size += len(line)
		case lineOK:
			if isBlank(line) {
				continue
			}
			body := in.copyLine(line)
			var rec *sdk.Record
			if s.f != nil {
				in.ids.set(s, off, body)
				rec, err = sdk.NewRecordWithID(body, in.mkID)
			} else {
				rec, err = sdk.NewRecord(body) // stdin has no stable position: random ids
			}
			if err != nil {
				out.RejectData(line, fmt.Sprintf("%s: line at byte %d: %v", s.name, off, err))
				size += len(line)
				continue
			}
			out.Records = append(out.Records, rec)
			size += rec.Size()
		}
	}
	return size
}

// copyLine copies a line out of the read buffer into the current arena
// chunk: one allocation per chunk instead of one per record. The slice is
// capped so that a stage appending to a body cannot overwrite its neighbour.
func (in *Input) copyLine(line []byte) []byte {
	if cap(in.arena)-len(in.arena) < len(line) {
		in.arena = make([]byte, 0, max(arenaChunk, len(line)))
	}
	start := len(in.arena)
	in.arena = append(in.arena, line...)
	return in.arena[start:len(in.arena):len(in.arena)]
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

func (in *Input) markOf(s *source) mark {
	s.refreshHead()
	return mark{id: s.id, forget: s.done && in.cfg.Follow, entry: stateEntry{
		Path: s.name, Dev: s.id.Dev, Ino: s.id.Ino, Offset: s.lr.committable(), HeadLen: s.headLen, Head: s.head,
	}}
}

// register queues the marks of an emitted batch under a new seq; done marks
// need no delivery and count as acknowledged at once.
func (in *Input) register(marks []mark, done bool) uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.seq++
	in.pending = append(in.pending, &pendingBatch{seq: in.seq, marks: marks, acked: done})
	if done {
		in.advanceLocked()
	}
	return in.seq
}

// Ack commits the offsets of the acknowledged batches, but only through the
// oldest batch not yet acknowledged: a restart must never skip undelivered lines.
func (in *Input) Ack(_ context.Context, seqs []uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.pending) == 0 {
		return
	}
	base := in.pending[0].seq
	for _, seq := range seqs {
		if seq >= base && seq-base < uint64(len(in.pending)) {
			in.pending[seq-base].acked = true
		}
	}
	in.advanceLocked()
}

func (in *Input) advanceLocked() {
	n := 0
	for n < len(in.pending) && in.pending[n].acked {
		for _, m := range in.pending[n].marks {
			if m.forget {
				delete(in.committed, m.id)
				continue
			}
			e := m.entry
			in.committed[m.id] = &e
		}
		n++
	}
	if n == 0 {
		return
	}
	clear(in.pending[:n])
	in.pending = in.pending[n:]
	if in.closed {
		return
	}
	in.stateDirty = true
	if time.Since(in.lastSave) >= saveEvery {
		in.saveLocked()
	} else if in.saveTimer == nil {
		in.saveTimer = time.AfterFunc(saveEvery, func() {
			in.mu.Lock()
			defer in.mu.Unlock()
			in.saveTimer = nil
			if in.stateDirty && !in.closed {
				in.saveLocked()
			}
		})
	}
}

// saveEvery bounds how often offsets are written: writing them on every
// acknowledgement cost more than reading the lines. A crash re-reads at most
// this much more, which at-least-once delivery allows.
const saveEvery = 100 * time.Millisecond

func (in *Input) saveLocked() {
	in.stateDirty, in.lastSave = false, time.Now()
	if err := saveState(in.dataDir, in.committed, false); err != nil {
		in.log.Error("cannot save read offsets", "error", err)
	}
}

// Close releases the files and saves the committed offsets durably. Lines
// read but not acknowledged are read again by the next run.
func (in *Input) Close(context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return nil
	}
	in.closed = true
	in.closeFiles()
	if in.committed == nil {
		return nil
	}
	if err := saveState(in.dataDir, in.committed, true); err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	return nil
}

func (in *Input) closeFiles() {
	for _, s := range in.files {
		s.close()
	}
	if in.stdinR != nil {
		close(in.stdinR.stop)
		in.stdinR = nil
	}
}

// lineID derives an event id from the file identity, the line's offset and
// its bytes, so that re-reading the same line gives the same id. It is bound
// once, as a method value, so the hot path allocates no closure.
type lineID struct {
	h    hash.Hash
	src  *source
	off  int64
	line []byte
	sum  [sha256.Size]byte
}

func (g *lineID) set(s *source, off int64, line []byte) { g.src, g.off, g.line = s, off, line }

func (g *lineID) make(t time.Time) string {
	var hdr [24]byte
	binary.BigEndian.PutUint64(hdr[0:], g.src.id.Dev)
	binary.BigEndian.PutUint64(hdr[8:], g.src.id.Ino)
	binary.BigEndian.PutUint64(hdr[16:], uint64(g.off))
	g.h.Reset()
	g.h.Write(hdr[:])
	io.WriteString(g.h, g.src.id.Path)
	g.h.Write(g.line)
	var key [10]byte
	copy(key[:], g.h.Sum(g.sum[:0]))
	return sdk.DeterministicID(t, key)
}

var (
	_ sdk.Plugin     = (*Input)(nil)
	_ sdk.Configurer = (*Input)(nil)
	_ sdk.Validator  = (*Input)(nil)
	_ sdk.Acker      = (*Input)(nil)
	_ sdk.Closer     = (*Input)(nil)
)

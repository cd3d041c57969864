package store

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
)

var newline = []byte{'\n'}

// Fsync policies.
const (
	FsyncAlways   = "always"
	FsyncInterval = "interval"
	FsyncNever    = "never"
)

// Options configure a store.
type Options struct {
	Dir           string
	SegmentSize   int64         // rotate once a segment would exceed this many bytes; 0 = never
	SegmentAge    time.Duration // rotate a segment this old; 0 = never
	Fsync         string        // always, interval or never
	FsyncInterval time.Duration
	// Framed writes headers and seals (the WORM store); false writes bare
	// JSONL segments, one record body per line.
	Framed bool
	// Signer, when set, signs a final checkpoint over the store's Merkle tree
	// at every seal.
	Signer note.Signer
	Now    func() time.Time
	// OnWriteError is told, at most every few seconds, that a write keeps
	// failing (a full disk): the store retries until it succeeds or is closed.
	OnWriteError func(err error)
	// OnSyncError is told, at most every few seconds, that a background
	// fsync failed: what it covered may not be on disk.
	OnSyncError func(err error)
}

// Store appends lines to the active segment. It is safe for concurrent use.
type Store struct {
	opts Options
	mu   sync.Mutex

	seg      int
	f        *os.File
	size     int64
	reserved int64 // the active segment's blocks are reserved up to here (reserveAhead)
	lines    int
	entries  uint64 // in the active segment
	created  time.Time
	segHash  hash.Hash
	prevSeal string // hash of the last seal line written

	flush         *flusher // nil with fsync = "always"
	writebackFrom int64    // the active segment's write-back was started up to here
	unsynced      bool     // appended since the flusher's last fsync
	flushErr      error    // the flusher's failed fsync, for the next Append (or Close) to return
	syncFile      func(*os.File) error
	writeback     func(f *os.File, off, n int64)

	ckpts *os.File

	// Chain tracking, so seals carry the point verification can resume from.
	track    tracker
	total    Totals
	lastSeal *Seal
	// Recovery reports what Open cut off, if anything.
	Recovery *Recovered
	buf      []byte
	closed   bool
}

// Totals are lifetime counters of the present segments.
type Totals struct {
	Segments int   `json:"segments"`
	Lines    int64 `json:"lines"`
	Entries  int64 `json:"entries"`
	Bytes    int64 `json:"bytes"`
	// Replayed counts entry and checkpoint lines delivered again after a
	// crash (the host replays unacknowledged batches) and skipped, so the
	// chain holds each entry once.
	Replayed int64 `json:"replayed_skipped"`
}

// Open opens (or creates) the store in opts.Dir, recovering a torn tail.
func Open(opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Fsync == "" {
		opts.Fsync = FsyncInterval
	}
	if opts.FsyncInterval <= 0 {
		opts.FsyncInterval = time.Second
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("store %s: %w", opts.Dir, err)
	}
	s := &Store{opts: opts, track: newTracker(), syncFile: syncSegment, writeback: beginWriteback}
	if err := s.recover(); err != nil {
		return nil, fmt.Errorf("store %s: %w", opts.Dir, err)
	}
	ck, err := os.OpenFile(filepath.Join(opts.Dir, CheckpointsFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", opts.Dir, err)
	}
	s.ckpts = ck
	s.startFlusher()
	return s, nil
}

// openSegment creates segment n and writes its header.
func (s *Store) openSegment(n int) error {
	f, err := os.OpenFile(SegmentPath(s.opts.Dir, n), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	s.seg, s.f, s.size, s.reserved, s.lines, s.entries, s.writebackFrom = n, f, 0, 0, 0, 0, 0
	s.created = s.opts.Now().UTC()
	s.segHash = sha256.New()
	s.total.Segments++
	if s.opts.Framed {
		hdr, _ := json.Marshal(headerLine{Hdr: Header{V: 1, Seg: n, Created: s.created, PrevSeal: s.prevSeal}})
		if err := s.write(append(hdr, '\n'), 1); err != nil {
			return err
		}
	}
	return nil
}

// reserveChunk is how far ahead of the segment's end its blocks are
// reserved: a few appends' worth, and never much of a nearly full disk.
const reserveChunk = 4 << 20

// reserveAhead reserves the active segment's blocks ahead of an append of n
// bytes. Reserved blocks past the end are released at seal; a file system
// that cannot reserve (or a full disk) just gets plain appends.
func (s *Store) reserveAhead(n int64) {
	if s.reserved < 0 || s.size+n <= s.reserved {
		return
	}
	end := s.size + n + reserveChunk
	if s.opts.SegmentSize > 0 {
		end = min(end, max(s.opts.SegmentSize, s.size+n))
	}
	if err := reserveSpace(s.f, s.reserved, end-s.reserved); err != nil {
		s.reserved = -1 // not for this segment
		return
	}
	s.reserved = end
}

// releaseReserved gives back the blocks reserved past the segment's end.
func (s *Store) releaseReserved() error {
	if s.reserved <= s.size {
		return nil
	}
	s.reserved = 0
	return s.f.Truncate(s.size)
}

// write appends bytes holding n lines to the active segment. Short writes and
// errors are retried in place so order is kept; the caller sees an error only
// when the disk keeps failing.
func (s *Store) write(b []byte, n int) error { return s.writeHashed(b, n, true) }

// writeHashed is write; hash says whether b goes into the seal's framing
// hash (entry lines do not: the Merkle root in the seal's point covers them).
//
// A failed write (a full disk) is retried with the bytes not yet written,
// until it succeeds or the store is closed: giving up would leave a torn
// line in the middle of the segment, or drop entries already admitted. The
// records stay unacknowledged meanwhile, so the pipeline back-pressures.
func (s *Store) writeHashed(b []byte, n int, hash bool) error {
	s.reserveAhead(int64(len(b)))
	var lastReport time.Time
	for attempt := 0; ; attempt++ {
		w, err := s.f.Write(b)
		if hash {
			s.segHash.Write(b[:w])
		}
		s.size += int64(w)
		s.total.Bytes += int64(w)
		b = b[w:]
		if err == nil {
			break
		}
		err = fmt.Errorf("write segment %d: %w", s.seg, err)
		if s.closed || attempt > 0 && s.opts.OnWriteError == nil && attempt >= 5 {
			return err
		}
		if s.opts.OnWriteError != nil && time.Since(lastReport) >= 5*time.Second {
			s.opts.OnWriteError(err)
			lastReport = time.Now()
		}
		time.Sleep(min(time.Duration(10<<min(attempt, 9))*time.Millisecond, 2*time.Second))
	}
	s.lines += n
	s.total.Lines += int64(n)
	s.appended()
	return nil
}

// Append writes lines (each without its newline) in order, rotating segments
// as needed, then applies the fsync policy. Checkpoint lines are copied to
// checkpoints.log as well.
func (s *Store) Append(lines [][]byte) error { return s.AppendLeaves(lines, nil) }

// AppendLeaves is Append for lines whose Merkle leaf hashes the caller may
// already hold: leaves[i], when leaves is as long as lines and leaves[i] is
// not nil, is taken as the leaf hash of lines[i] instead of hashing it. They
// must come from the integrity chain that wrote the very lines (see
// integrity.LeafMemo); a wrong one only yields seals that fail verification.
func (s *Store) AppendLeaves(lines [][]byte, leaves []*[32]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("store closed")
	}
	if err := s.flushErr; err != nil {
		// What the failed fsync covered may be lost: fail this batch so the
		// failure shows, rather than answer it as if all were well.
		s.flushErr = nil
		return err
	}
	now := s.opts.Now()
	if s.f == nil {
		if err := s.openSegment(s.seg + 1); err != nil {
			return err
		}
	}
	if s.opts.SegmentAge > 0 && now.Sub(s.created) >= s.opts.SegmentAge && s.lines > 1 {
		if err := s.rotate("age"); err != nil {
			return err
		}
	}
	buf, n := s.buf[:0], 0
	for i, line := range lines {
		if s.opts.SegmentSize > 0 && s.size+int64(len(buf)+len(line)+1) > s.opts.SegmentSize && s.lines+n > 1 {
			if err := s.writeHashed(buf, n, false); err != nil {
				return err
			}
			buf, n = buf[:0], 0
			if err := s.rotate("size"); err != nil {
				return err
			}
		}
		kind := classify(line)
		switch kind {
		case lineEntry:
			var leaf *[32]byte
			if len(leaves) == len(lines) {
				leaf = leaves[i]
			}
			if s.track.admit(line, leaf) {
				s.total.Replayed++
				continue
			}
			s.entries++
			s.total.Entries++
		case lineCheckpoint:
			if s.track.staleCheckpoint(line) {
				s.total.Replayed++
				continue
			}
			if _, err := s.ckpts.Write(append(append([]byte(nil), line...), '\n')); err != nil {
				return fmt.Errorf("write %s: %w", CheckpointsFile, err)
			}
		}
		if kind != lineEntry {
			s.segHash.Write(line)
			s.segHash.Write(newline)
		}
		buf = append(append(buf, line...), '\n')
		n++
	}
	if err := s.writeHashed(buf, n, false); err != nil {
		return err
	}
	s.buf = buf[:0]
	if s.opts.Fsync != FsyncAlways {
		return nil // the flusher's
	}
	if err := s.syncFile(s.f); err != nil {
		return fmt.Errorf("fsync segment %d: %w", s.seg, err)
	}
	return s.ckpts.Sync()
}

// Rotate seals the active segment now; the next Append opens a new one.
func (s *Store) Rotate(reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	return s.seal(reason)
}

func (s *Store) rotate(reason string) error {
	if err := s.seal(reason); err != nil {
		return err
	}
	return s.openSegment(s.seg + 1)
}

// seal writes the final checkpoint (when a signer is set) and the seal line,
// syncs, makes the segment read-only, and then records the seal checkpoint
// in checkpoints.log. The checkpoint names the segment (an extension line),
// so the log says "segment N was sealed at tree size S" and verify can tell
// a cut-off seal from a segment that was never sealed. The log gets it only
// once the seal is on disk: a crash mid-seal must not leave a record of a
// seal that is not there.
func (s *Store) seal(reason string) error {
	var ckpt []byte
	if s.opts.Framed {
		if s.opts.Signer != nil && s.track.started && s.track.tree.Size() > 0 {
			c := integrity.Checkpoint{Origin: s.track.origin(s.opts.Signer), Size: s.track.tree.Size(), Root: s.track.tree.Root(),
				Extensions: []string{sealExtension(s.seg)}}
			signed, err := integrity.SignCheckpoint(c, s.opts.Signer)
			if err != nil {
				return err
			}
			ckpt = append(integrity.AppendCheckpointLine(nil, signed), '\n')
			if err := s.write(ckpt, 1); err != nil {
				return err
			}
		}
		sl := Seal{Seg: s.seg, Lines: s.lines, Entries: s.entries, Sealed: s.opts.Now().UTC(), Reason: reason,
			SHA256: base64.RawURLEncoding.EncodeToString(s.segHash.Sum(nil))}
		if s.track.started {
			p := s.track.point()
			sl.Point = &p
		}
		line := sealLine{Seal: sl}
		if s.opts.Signer != nil {
			sig, err := s.opts.Signer.Sign(sealMessage(sl))
			if err != nil {
				return fmt.Errorf("sign seal: %w", err)
			}
			line.Sig = base64.StdEncoding.EncodeToString(sig)
		}
		b, _ := json.Marshal(line)
		if err := s.write(append(b, '\n'), 1); err != nil {
			return err
		}
		s.prevSeal = hashLine(b)
		s.lastSeal = &sl
	}
	if err := s.releaseReserved(); err != nil {
		return fmt.Errorf("release reserved space of segment %d: %w", s.seg, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("fsync segment %d: %w", s.seg, err)
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close segment %d: %w", s.seg, err)
	}
	s.f = nil
	if err := os.Chmod(SegmentPath(s.opts.Dir, s.seg), 0o440); err != nil {
		return fmt.Errorf("seal segment %d: %w", s.seg, err)
	}
	if ckpt != nil {
		if _, err := s.ckpts.Write(ckpt); err != nil {
			return fmt.Errorf("write %s: %w", CheckpointsFile, err)
		}
		if err := s.ckpts.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", CheckpointsFile, err)
		}
	}
	return nil
}

// Close seals the active segment. It is idempotent.
func (s *Store) Close() error {
	s.stopFlusher()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.flushErr // not yet returned by an Append
	if s.f != nil {
		err = errors.Join(err, s.seal("shutdown"))
	}
	if s.ckpts != nil {
		s.ckpts.Sync()
		if cerr := s.ckpts.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Status is what get_status reports.
type Status struct {
	Path          string `json:"path"`
	ActiveSegment int    `json:"active_segment"`
	Totals
	LastSeal *Seal      `json:"last_seal,omitempty"`
	Recovery *Recovered `json:"recovered,omitempty"`
}

// Status reports the store's counters.
func (s *Store) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Path: s.opts.Dir, ActiveSegment: s.seg, Totals: s.total, LastSeal: s.lastSeal, Recovery: s.Recovery}
	if st.LastSeal != nil {
		c := *st.LastSeal
		c.Point = nil // the Merkle range is noise in a status
		st.LastSeal = &c
	}
	return st
}

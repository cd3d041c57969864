package buffer

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/sentinel-audit/sentinel/sdk"
)

// ErrCorrupt is returned by Pop with a valid id when a stored batch no longer
// reads back (a disk fault after it was written). The caller dead-letters
// what it can say about it and Acks the id, so the queue moves on.
var ErrCorrupt = errCorrupt

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	frameHeader = 8 // u32 length, u32 CRC-32C of the payload
	ackLogName  = "acks.log"
	// maxFrame bounds what a corrupt length field can make us allocate.
	maxFrame = 1 << 30
)

// diskQueue keeps batches in append-only segment files of CRC-framed
// entries, fsynced on Push. Acks go to an append-only ack log, fsynced too.
// On open, every entry whose id is not in the ack log is pending again; a
// torn or corrupt tail (a crash mid-write) is cut off. A segment whose
// entries are all acked is deleted.
type diskQueue struct {
	dir    string
	max    int64
	segMax int64

	mu       sync.Mutex
	changed  signal
	closed   bool
	segs     []*segment // oldest first; the last is being written
	nextID   uint64
	pending  []ref
	inflight map[uint64]ref
	bytes    int64
	acks     *os.File
	ackSize  int64
}

type segment struct {
	seq             uint64
	path            string
	f               *os.File // the writer (active) or a reader, opened lazily
	size            int64
	live            int
	firstID, lastID uint64
	hasIDs          bool
}

type ref struct {
	id  uint64
	seg *segment
	off int64 // frame offset
	n   int64 // payload length
}

// OpenDisk opens (or creates) the durable queue in dir, holding at most
// maxBytes of unacknowledged batches.
func OpenDisk(dir string, maxBytes int64) (Queue, error) {
	return openDisk(dir, maxBytes, min(max(maxBytes/8, 1<<20), 128<<20))
}

func openDisk(dir string, maxBytes, segMax int64) (*diskQueue, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("buffer: %w", err)
	}
	q := &diskQueue{dir: dir, max: maxBytes, segMax: segMax, nextID: 1, inflight: map[uint64]ref{}, changed: newSignal()}
	acked, maxAcked, err := q.readAckLog()
	if err != nil {
		return nil, err
	}
	q.nextID = max(q.nextID, maxAcked+1)
	if err := q.recoverSegments(acked); err != nil {
		return nil, err
	}
	if err := q.rewriteAckLog(); err != nil {
		return nil, err
	}
	if err := q.roll(); err != nil {
		return nil, err
	}
	return q, nil
}

// readFrames calls fn for each intact frame of r and returns the offset
// after the last one; what follows it is a torn or corrupt tail.
func readFrames(r io.Reader, fn func(off int64, payload []byte) error) (int64, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var off int64
	var hdr [frameHeader]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return off, nil
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		if n == 0 || n > maxFrame {
			return off, nil
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return off, nil
		}
		if crc32.Checksum(buf, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
			return off, nil
		}
		if err := fn(off, buf); err != nil {
			return off, err
		}
		off += frameHeader + int64(n)
	}
}

func appendFrame(b, payload []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, castagnoli))
	return append(b, payload...)
}

func (q *diskQueue) readAckLog() (map[uint64]bool, uint64, error) {
	acked := map[uint64]bool{}
	var maxID uint64
	f, err := os.Open(filepath.Join(q.dir, ackLogName))
	if errors.Is(err, os.ErrNotExist) {
		return acked, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("buffer: %w", err)
	}
	defer f.Close()
	_, err = readFrames(f, func(_ int64, p []byte) error {
		if len(p) == 8 {
			id := binary.LittleEndian.Uint64(p)
			acked[id] = true
			maxID = max(maxID, id)
		}
		return nil
	})
	return acked, maxID, err
}

func (q *diskQueue) recoverSegments(acked map[uint64]bool) error {
	names, err := filepath.Glob(filepath.Join(q.dir, "seg-*.log"))
	if err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	for _, path := range names {
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "seg-"), ".log"), 16, 64)
		if err != nil {
			continue // not ours
		}
		q.segs = append(q.segs, &segment{seq: seq, path: path})
	}
	sort.Slice(q.segs, func(i, j int) bool { return q.segs[i].seq < q.segs[j].seq })
	kept := q.segs[:0]
	for _, s := range q.segs {
		f, err := os.OpenFile(s.path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("buffer: %w", err)
		}
		end, err := readFrames(f, func(off int64, p []byte) error {
			id, err := entryID(p)
			if err != nil {
				return nil // an intact frame without an id cannot be ours; skip it
			}
			if !s.hasIDs {
				s.firstID, s.hasIDs = id, true
			}
			s.lastID = id
			q.nextID = max(q.nextID, id+1)
			if !acked[id] {
				q.pending = append(q.pending, ref{id: id, seg: s, off: off, n: int64(len(p))})
				q.bytes += int64(len(p))
				s.live++
			}
			return nil
		})
		if err == nil {
			if st, serr := f.Stat(); serr == nil && st.Size() > end {
				// A torn tail from a crash mid-write: nothing after it was acknowledged to anyone.
				err = f.Truncate(end)
			}
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("buffer: recover %s: %w", s.path, err)
		}
		s.size = end
		if s.live == 0 {
			if err := os.Remove(s.path); err != nil {
				return fmt.Errorf("buffer: %w", err)
			}
			continue
		}
		kept = append(kept, s)
	}
	q.segs = kept
	// Entries must come out in id order even if segments were renamed by hand.
	sort.SliceStable(q.pending, func(i, j int) bool { return q.pending[i].id < q.pending[j].id })
	return nil
}

// rewriteAckLog replaces the ack log with the acked ids of live segments
// only, keeping it as small as the data it describes.
func (q *diskQueue) rewriteAckLog() error {
	unacked := make(map[uint64]bool, len(q.pending)+len(q.inflight))
	for _, r := range q.pending {
		unacked[r.id] = true
	}
	for id := range q.inflight {
		unacked[id] = true
	}
	var b []byte
	for _, s := range q.segs {
		if !s.hasIDs {
			continue
		}
		for id := s.firstID; id <= s.lastID; id++ {
			if !unacked[id] {
				b = appendFrame(b, binary.LittleEndian.AppendUint64(nil, id))
			}
		}
	}
	tmp := filepath.Join(q.dir, ackLogName+".tmp")
	if err := writeFileSync(tmp, b); err != nil {
		return err
	}
	if q.acks != nil {
		q.acks.Close()
	}
	if err := os.Rename(tmp, filepath.Join(q.dir, ackLogName)); err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	if err := syncDir(q.dir); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(q.dir, ackLogName), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	q.acks, q.ackSize = f, int64(len(b))
	return nil
}

// roll starts a new segment file for writing. When it fails (a full disk)
// nothing changes, and it can be tried again: the file it may have left is
// no segment yet, and is taken over by the next try.
func (q *diskQueue) roll() error {
	var seq uint64 = 1
	var last *segment
	if n := len(q.segs); n > 0 {
		last = q.segs[n-1]
		seq = last.seq + 1
	}
	s := &segment{seq: seq, path: filepath.Join(q.dir, fmt.Sprintf("seg-%016x.log", seq))}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	if err := syncDir(q.dir); err != nil {
		f.Close()
		return err
	}
	s.f = f
	q.segs = append(q.segs, s)
	// last.f stays open as the segment's reader: a Pop may be reading
	// through it right now. It is closed when the segment is removed.
	if last != nil && last.live == 0 {
		q.removeSegment(last)
	}
	return nil
}

func (q *diskQueue) active() *segment { return q.segs[len(q.segs)-1] }

func (q *diskQueue) Push(ctx context.Context, recs []*sdk.Record) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	payload, err := encodeBatch(q.nextID, recs)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnencodable, err)
	}
	size := int64(len(payload))
	for !q.closed && q.bytes > 0 && q.bytes+size > q.max {
		ch := q.changed.ch
		q.mu.Unlock()
		err := wait(ctx, ch)
		q.mu.Lock()
		if err != nil {
			return err
		}
	}
	if q.closed {
		return ErrClosed
	}
	// The id may have moved on while we waited.
	id := q.nextID
	binary.LittleEndian.PutUint64(payload, id)
	s := q.active()
	frame := appendFrame(make([]byte, 0, frameHeader+len(payload)), payload)
	if _, err := s.f.WriteAt(frame, s.size); err != nil {
		return fmt.Errorf("buffer: write: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("buffer: fsync: %w", err)
	}
	q.pending = append(q.pending, ref{id: id, seg: s, off: s.size, n: size})
	if !s.hasIDs {
		s.firstID, s.hasIDs = id, true
	}
	s.lastID = id
	s.size += int64(len(frame))
	s.live++
	q.nextID++
	q.bytes += size
	q.changed.broadcast()
	if s.size >= q.segMax {
		// The entry is durable whatever happens here: a roll that fails (a
		// full disk) is tried again after the next Push.
		_ = q.roll()
	}
	return nil
}

func (q *diskQueue) Pop(ctx context.Context) (uint64, []*sdk.Record, error) {
	q.mu.Lock()
	for !q.closed && len(q.pending) == 0 {
		ch := q.changed.ch
		q.mu.Unlock()
		if err := wait(ctx, ch); err != nil {
			return 0, nil, err
		}
		q.mu.Lock()
	}
	if q.closed {
		q.mu.Unlock()
		return 0, nil, ErrClosed
	}
	r := q.pending[0]
	q.pending = q.pending[1:]
	q.inflight[r.id] = r
	f, err := q.reader(r.seg)
	q.mu.Unlock()
	if err != nil {
		return r.id, nil, fmt.Errorf("buffer: batch %d: %w", r.id, err)
	}
	// The segment cannot go away while r is in flight: it is still live.
	frame := make([]byte, frameHeader+r.n)
	if _, err := f.ReadAt(frame, r.off); err != nil {
		return r.id, nil, fmt.Errorf("buffer: batch %d: %w: %v", r.id, ErrCorrupt, err)
	}
	payload := frame[frameHeader:]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(frame[4:8]) {
		return r.id, nil, fmt.Errorf("buffer: batch %d: %w: checksum mismatch", r.id, ErrCorrupt)
	}
	id, recs, err := decodeBatch(payload)
	if err != nil || id != r.id {
		return r.id, nil, fmt.Errorf("buffer: batch %d: %w", r.id, ErrCorrupt)
	}
	return id, recs, nil
}

// reader returns an open handle on a segment, under q.mu.
func (q *diskQueue) reader(s *segment) (*os.File, error) {
	if s.f != nil {
		return s.f, nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, err
	}
	s.f = f
	return f, nil
}

func (q *diskQueue) Ack(id uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	r, ok := q.inflight[id]
	if !ok {
		return fmt.Errorf("buffer: ack of unknown or unpopped batch %d", id)
	}
	if q.closed {
		return ErrClosed
	}
	frame := appendFrame(nil, binary.LittleEndian.AppendUint64(nil, id))
	if _, err := q.acks.Write(frame); err != nil {
		return fmt.Errorf("buffer: ack log: %w", err)
	}
	if err := q.acks.Sync(); err != nil {
		return fmt.Errorf("buffer: ack log fsync: %w", err)
	}
	q.ackSize += int64(len(frame))
	delete(q.inflight, id)
	q.bytes -= r.n
	r.seg.live--
	if r.seg.live == 0 && r.seg != q.active() {
		q.removeSegment(r.seg)
	}
	q.changed.broadcast()
	if q.ackSize > 4<<20 {
		return q.rewriteAckLog()
	}
	return nil
}

func (q *diskQueue) removeSegment(s *segment) {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	_ = os.Remove(s.path) // if this fails, the next open finds it fully acked and retries
	for i, x := range q.segs {
		if x == s {
			q.segs = append(q.segs[:i], q.segs[i+1:]...)
			break
		}
	}
}

func (q *diskQueue) Bytes() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

func (q *diskQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) + len(q.inflight)
}

func (q *diskQueue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	q.changed.broadcast()
	var first error
	for _, s := range q.segs {
		if s.f != nil {
			if err := s.f.Close(); err != nil && first == nil {
				first = err
			}
			s.f = nil
		}
	}
	if q.acks != nil {
		if err := q.acks.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("buffer: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("buffer: %w", err)
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("buffer: fsync dir: %w", err)
	}
	return nil
}

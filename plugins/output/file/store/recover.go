package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/note"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
)

// tracker follows the chain through the entry lines the store writes, so a
// seal can carry the point (seq, MAC, epoch, Merkle range) that verification
// resumes from once earlier segments are gone.
type tracker struct {
	started bool
	p       integrity.Point
	prev    [32]byte
	tree    *integrity.Tree
}

func newTracker() tracker { return tracker{tree: integrity.NewTree()} }

func (t *tracker) resume(p integrity.Point) error {
	tree, err := integrity.TreeFrom(p.TreeSize, p.Range)
	if err != nil {
		return err
	}
	t.p, t.tree, t.started = p, tree, true
	copy(t.prev[:], p.Prev)
	return nil
}

// admit follows an entry line the store is about to write, parsing it once.
// leaf is the line's Merkle leaf hash when the caller already has it (nil:
// hash the line). It returns true, and changes nothing, for a line the
// store already holds: the host delivers unacknowledged batches again after
// a crash.
func (t *tracker) admit(line []byte, leaf *[32]byte) (replayed bool) {
	var e integrity.Entry
	if err := integrity.ParseEntryLine(line, &e); err != nil {
		return false // stored as is; the verifier will name it
	}
	if t.started && e.Seq < t.p.NextSeq {
		return true
	}
	switch e.Kind {
	case integrity.KindGenesis:
		var g struct {
			Origin  string `json:"origin"`
			T0      int64  `json:"t0"`
			EpochNS int64  `json:"epoch_ns"`
			Window  uint64 `json:"window"`
		}
		_ = json.Unmarshal(e.Event, &g)
		t.p = integrity.Point{Version: e.Version, Origin: g.Origin, T0: g.T0, EpochNS: g.EpochNS, Window: g.Window}
		t.started = true
	case integrity.KindRestart:
		t.restart(&e)
	}
	if leaf != nil {
		t.tree.AppendHash(leaf)
	} else {
		t.tree.AppendEntry(line, &e, nil)
	}
	if e.Epoch != t.p.Epoch {
		t.p.Epoch, t.p.Pos = e.Epoch, 0
	}
	t.p.Pos++
	if e.Kind == integrity.KindEpochSeal {
		t.p.Epoch, t.p.Pos = e.Epoch+1, 0
	}
	t.p.NextSeq, t.p.LastT, t.prev = e.Seq+1, e.T, e.MAC
	return false
}

// restart follows a restart entry that comes after a gap (entries a crash
// cut off before they were stored): the chain continues from the Merkle
// range, MAC and key position it declares, so that seal points and seal
// checkpoints describe the same tree as the signer's checkpoints. The store
// cannot check the entry's MAC (it holds no chain key); the verifier does,
// and a seal built on a forged declaration does not verify.
func (t *tracker) restart(e *integrity.Entry) {
	if t.started && e.Seq <= t.p.NextSeq {
		return // no gap: nothing to take from it
	}
	var r integrity.RestartEvent
	if json.Unmarshal(e.Event, &r) != nil {
		return
	}
	tree, err := integrity.TreeFrom(e.Seq, r.Range)
	if err != nil || len(r.Prev) != 32 {
		return
	}
	if !t.started {
		t.p = integrity.Point{Version: e.Version, Origin: r.Origin, T0: r.T0, EpochNS: r.EpochNS, Window: r.Window}
		t.started = true
	}
	t.tree = tree
	copy(t.prev[:], r.Prev)
	t.p.Epoch, t.p.Pos = e.Epoch, r.Pos
}

// staleCheckpoint reports a checkpoint for a tree smaller than the stored one.
func (t *tracker) staleCheckpoint(line []byte) bool {
	msg, err := integrity.ParseCheckpointLine(line)
	if err != nil {
		return false
	}
	c, err := integrity.ParseCheckpointUnverified(msg)
	return err == nil && c.Size < t.tree.Size()
}

func (t *tracker) point() integrity.Point {
	p := t.p
	p.Prev = append([]byte(nil), t.prev[:]...)
	p.TreeSize, p.Range = t.tree.Size(), t.tree.Hashes()
	return p
}

func (t *tracker) origin(s note.Signer) string {
	if t.p.Origin != "" {
		return t.p.Origin
	}
	return s.Name()
}

// readSeal returns the seal of segment n and the hash of its line, or nil
// when the segment is not sealed.
func readSeal(dir string, n int) (*Seal, string, int64, error) {
	seal, raw, size, err := readSealLine(dir, n)
	if seal == nil || err != nil {
		return seal, "", size, err
	}
	return seal, hashLine(raw), size, nil
}

// readSealLine returns the seal of segment n and its line.
func readSealLine(dir string, n int) (*Seal, []byte, int64, error) {
	f, err := os.Open(SegmentPath(dir, n))
	if err != nil {
		return nil, nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, 0, err
	}
	size := fi.Size()
	tail := int64(1 << 20)
	if tail > size {
		tail = size
	}
	buf := make([]byte, tail)
	if _, err := f.ReadAt(buf, size-tail); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, size, err
	}
	buf = bytes.TrimSuffix(buf, []byte("\n"))
	last := buf[bytes.LastIndexByte(buf, '\n')+1:]
	if classify(last) != lineSeal {
		return nil, nil, size, nil
	}
	var sl sealLine
	if err := json.Unmarshal(last, &sl); err != nil {
		return nil, nil, size, fmt.Errorf("segment %d: bad seal: %w", n, err)
	}
	return &sl.Seal, append([]byte(nil), last...), size, nil
}

// recover finds where the store stands: the last seal, and for an unsealed
// last segment (a crash), cuts a torn final line and reopens it for append.
func (s *Store) recover() error {
	segs, err := Segments(s.opts.Dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return nil
	}
	s.total.Segments = len(segs)
	for _, n := range segs {
		seal, _, size, err := readSeal(s.opts.Dir, n)
		if err != nil {
			return err
		}
		s.total.Bytes += size
		if seal != nil {
			s.total.Entries += int64(seal.Entries)
			s.total.Lines += int64(seal.Lines + 1)
		}
	}
	last := segs[len(segs)-1]
	seal, sealHash, _, err := readSeal(s.opts.Dir, last)
	if err != nil {
		return err
	}
	s.seg = last
	if seal != nil {
		s.prevSeal, s.lastSeal = sealHash, seal
		if seal.Point != nil {
			return s.track.resume(*seal.Point)
		}
		return nil
	}
	// The last segment was never sealed: the previous run crashed.
	if len(segs) > 1 {
		if prev, h, _, err := readSeal(s.opts.Dir, segs[len(segs)-2]); err == nil && prev != nil {
			s.prevSeal, s.lastSeal = h, prev
			if prev.Point != nil {
				if err := s.track.resume(*prev.Point); err != nil {
					return err
				}
			}
		}
	}
	return s.reopenActive(last)
}

func (s *Store) reopenActive(n int) error {
	path := SegmentPath(s.opts.Dir, n)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	good := int64(bytes.LastIndexByte(data, '\n') + 1)
	torn := int64(len(data)) - good
	if torn > 0 {
		if err := os.Truncate(path, good); err != nil {
			return fmt.Errorf("cut torn tail of segment %d: %w", n, err)
		}
		s.total.Bytes -= torn
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("reopen segment %d: %w", n, err)
	}
	s.f, s.size, s.reserved, s.segHash = f, good, good, sha256.New()
	sc := bufio.NewScanner(bytes.NewReader(data[:good]))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		line := sc.Bytes()
		if classify(line) != lineEntry {
			s.segHash.Write(line)
			s.segHash.Write(newline)
		}
		s.lines++
		s.total.Lines++
		switch classify(line) {
		case lineHeader:
			var h headerLine
			if json.Unmarshal(line, &h) == nil {
				s.created = h.Hdr.Created
			}
		case lineEntry:
			s.track.admit(line, nil)
			s.entries++
			s.total.Entries++
		}
	}
	if s.created.IsZero() {
		s.created = s.opts.Now().UTC()
	}
	if s.opts.Framed && good == 0 {
		hdr, _ := json.Marshal(headerLine{Hdr: Header{V: 1, Seg: n, Created: s.created, PrevSeal: s.prevSeal}})
		if err := s.write(append(hdr, '\n'), 1); err != nil {
			return err
		}
	}
	if torn > 0 {
		s.Recovery = &Recovered{Seg: n, Bytes: torn, At: s.opts.Now().UTC()}
		if s.opts.Framed {
			b, _ := json.Marshal(recoveredLine{Recovered: *s.Recovery})
			if err := s.write(append(b, '\n'), 1); err != nil {
				return err
			}
		}
	}
	return nil
}

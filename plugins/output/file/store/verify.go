package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
)

// VerifyOptions choose what to check and what to do with verified events.
type VerifyOptions struct {
	Seed []byte        // chain seed: check every MAC and epoch
	Pub  note.Verifier // public key: check every checkpoint and the Merkle tree
	// OnEntry sees each entry line once it verified (for read and proofs);
	// returning an error stops the walk with that error.
	OnEntry func(pos integrity.Pos, e *integrity.Entry, line []byte) error
}

// Report is the outcome of a verification.
type Report struct {
	Path           string              `json:"path"`
	Segments       int                 `json:"segments"`
	Lines          int64               `json:"lines"`
	Entries        uint64              `json:"entries"`
	Events         uint64              `json:"events"`
	EpochSeals     uint64              `json:"epoch_seals"`
	Checkpoints    uint64              `json:"checkpoints"`
	LogCheckpoints int                 `json:"checkpoints_log"`
	Root           string              `json:"root"`
	NextSeq        uint64              `json:"next_seq"`
	Retired        []int               `json:"retired_segments,omitempty"`
	Recovered      []Recovered         `json:"recovered,omitempty"`
	Unchecked      uint64              `json:"entries_after_last_checkpoint"`
	Active         bool                `json:"active_segment_unsealed"`
	Findings       []integrity.Finding `json:"findings,omitempty"`
	// Restarts counts restart entries; Losses are the gaps they declared
	// (entries a crash cut off before the store had them): not tampering,
	// but reported.
	Restarts uint64           `json:"restarts,omitempty"`
	Losses   []integrity.Loss `json:"declared_losses,omitempty"`
}

// Intact reports whether nothing was found.
func (r *Report) Intact() bool { return len(r.Findings) == 0 }

// walker feeds a store's or a file's lines to the verifier.
type walker struct {
	v    *integrity.Verifier
	opts VerifyOptions
	rep  *Report

	// What the walk saw of segment seals, to check the seals checkpoints.log
	// records: the seal of each sealed segment, the segments retention
	// removed, and the last segment with its line count.
	seals    map[int]*Seal
	retired  map[int]Retired
	last     int
	lastLine int
}

// Verify checks a store directory: segment numbering and header chain, every
// line, every seal, and checkpoints.log. The error is for I/O and usage
// problems; alterations are Findings.
func Verify(dir string, opts VerifyOptions) (*Report, error) {
	v, err := integrity.NewVerifier(opts.Seed, opts.Pub)
	if err != nil {
		return nil, err
	}
	segs, err := Segments(dir)
	if err != nil {
		return nil, fmt.Errorf("read store: %w", err)
	}
	retired, err := readRetired(dir)
	if err != nil {
		return nil, fmt.Errorf("read store: %w", err)
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("%s holds no segments (seg-*.jsonl): not a store", dir)
	}
	logCkpts, err := readLogCheckpoints(dir)
	if err != nil {
		return nil, err
	}
	for _, c := range logCkpts {
		if cp, err := integrity.ParseCheckpointUnverified(c); err == nil {
			v.Want(cp.Size)
		}
	}
	w := &walker{v: v, opts: opts, rep: &Report{Path: dir, Segments: len(segs), LogCheckpoints: len(logCkpts)},
		seals: map[int]*Seal{}, retired: retired, last: segs[len(segs)-1]}

	prevSeal := ""
	for k := 1; k < segs[0]; k++ {
		r, ok := retired[k]
		if !ok {
			v.Report(integrity.Finding{Kind: integrity.MissingSegment, Segment: k, Detail: fmt.Sprintf("segment %d is gone and retention.log does not record its removal", k)})
			return w.finish(nil), nil
		}
		w.rep.Retired = append(w.rep.Retired, k)
		if k == segs[0]-1 {
			var sl sealLine
			if err := json.Unmarshal([]byte(r.Seal), &sl); err != nil {
				v.Report(integrity.Finding{Kind: integrity.Modified, Segment: k, Detail: "retention.log holds an unreadable seal"})
				return w.finish(nil), nil
			}
			prevSeal = hashLine([]byte(r.Seal))
			if sl.Seal.Point != nil {
				if err := v.Resume(*sl.Seal.Point); err != nil {
					v.Report(integrity.Finding{Kind: integrity.Modified, Segment: k, Detail: "retained seal's chain point is invalid: " + err.Error()})
					return w.finish(nil), nil
				}
			}
		}
	}
	for i, n := range segs {
		if want := segs[0] + i; n != want {
			v.Report(integrity.Finding{Kind: integrity.MissingSegment, Segment: want, Detail: fmt.Sprintf("segment %d is missing (next present is %d)", want, n)})
			break
		}
		h, err := w.segment(dir, n, prevSeal, i == len(segs)-1)
		if err != nil {
			return nil, err
		}
		prevSeal = h
		if v.Halted() {
			break
		}
	}
	return w.finish(logCkpts), nil
}

// segment walks one segment and returns the hash of its seal line.
func (w *walker) segment(dir string, n int, prevSeal string, last bool) (string, error) {
	f, err := os.Open(SegmentPath(dir, n))
	if err != nil {
		return "", fmt.Errorf("read segment %d: %w", n, err)
	}
	defer f.Close()
	hasher := sha256.New()
	var sealHash string
	framed, sealed := false, false
	lineNo := 0
	entries := uint64(0)
	err = eachLine(f, func(line []byte, torn bool) bool {
		lineNo++
		pos := integrity.Pos{Segment: n, Line: lineNo}
		if torn {
			kind := integrity.TruncatedTail
			if !last {
				kind = integrity.Modified
			}
			w.v.Report(integrity.Finding{Kind: kind, Segment: n, Line: lineNo, Detail: fmt.Sprintf("final line is cut short (%d bytes without a newline): a torn write or a cut file", len(line))})
			return false
		}
		if sealed {
			w.v.Report(integrity.Finding{Kind: integrity.Inserted, Segment: n, Line: lineNo, Detail: "line after the segment's seal"})
			return false
		}
		kind := classify(line)
		if lineNo == 1 {
			if kind == lineHeader {
				framed = true
				hasher.Write(line)
				hasher.Write(newline)
				var h headerLine
				if err := json.Unmarshal(line, &h); err != nil || h.Hdr.Seg != n || h.Hdr.PrevSeal != prevSeal {
					w.v.Report(integrity.Finding{Kind: integrity.ReplacedSegment, Segment: n, Line: 1, Detail: "segment header does not chain to the previous segment's seal"})
					return false
				}
				return true
			}
			if prevSeal != "" {
				w.v.Report(integrity.Finding{Kind: integrity.ReplacedSegment, Segment: n, Line: 1, Detail: "segment has no header although the store is framed"})
				return false
			}
		}
		switch kind {
		case lineEntry:
			entries++
			w.v.Entry(pos, line)
			if w.opts.OnEntry != nil && !w.v.Stopped() {
				var e integrity.Entry
				if integrity.ParseEntryLine(line, &e) == nil {
					if err := w.opts.OnEntry(pos, &e, line); err != nil {
						w.v.Report(integrity.Finding{Kind: integrity.Modified, Segment: n, Line: lineNo, Detail: err.Error()})
						return false
					}
				}
			}
		case lineCheckpoint:
			w.v.Checkpoint(pos, line)
		case lineSeal:
			var sl sealLine
			sum := base64.RawURLEncoding.EncodeToString(hasher.Sum(nil))
			if err := json.Unmarshal(line, &sl); err != nil || sl.Seal.Seg != n || sl.Seal.Lines != lineNo-1 || sl.Seal.Entries != entries || sl.Seal.SHA256 != sum {
				w.v.Report(integrity.Finding{Kind: integrity.Modified, Segment: n, Line: lineNo, Detail: "segment seal does not match the segment's bytes"})
				return false
			}
			if msg := w.checkSeal(line, &sl); msg != "" {
				w.v.Report(integrity.Finding{Kind: integrity.Modified, Segment: n, Line: lineNo, Detail: msg})
				return false
			}
			sealed, sealHash = true, hashLine(line)
			w.seals[n] = &sl.Seal
		case lineRecovered:
			var rl recoveredLine
			if json.Unmarshal(line, &rl) == nil {
				w.rep.Recovered = append(w.rep.Recovered, rl.Recovered)
			}
		case lineRetention:
		case lineHeader:
			w.v.Report(integrity.Finding{Kind: integrity.Inserted, Segment: n, Line: lineNo, Detail: "segment header in the middle of a segment"})
			return false
		default:
			if framed || w.v.Entries > 0 {
				w.v.Report(integrity.Finding{Kind: integrity.Inserted, Segment: n, Line: lineNo, Detail: "unsigned line in a signed store"})
				return false
			}
		}
		if kind != lineEntry {
			hasher.Write(line)
			hasher.Write(newline)
		}
		return !w.v.Halted()
	})
	w.rep.Lines += int64(lineNo)
	w.lastLine = lineNo
	if err != nil {
		return "", fmt.Errorf("read segment %d: %w", n, err)
	}
	if framed && !sealed && !w.v.Halted() {
		if last {
			w.rep.Active = true
		} else {
			w.v.Report(integrity.Finding{Kind: integrity.TruncatedTail, Segment: n, Line: lineNo, Detail: fmt.Sprintf("segment %d has no seal: its end was cut", n)})
		}
	}
	return sealHash, nil
}

// eachLine calls fn for every line of r, without its newline.
func eachLine(r io.Reader, fn func(line []byte, torn bool) bool) error {
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			big := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				big = append(big, line...)
			}
			line = big
		}
		if len(line) > 0 {
			torn := line[len(line)-1] != '\n'
			body := bytes.TrimSuffix(line, []byte("\n"))
			if !fn(body, torn) {
				return nil
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func readLogCheckpoints(dir string) ([][]byte, error) {
	data, err := os.ReadFile(filepath.Join(dir, CheckpointsFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", CheckpointsFile, err)
	}
	var out [][]byte
	for _, line := range splitLines(data) {
		msg, err := integrity.ParseCheckpointLine(line)
		if err != nil {
			msg = line // kept so that verification reports it as forged
		}
		out = append(out, msg)
	}
	return out, nil
}

// finish settles the verifier and checks checkpoints.log against the tree.
func (w *walker) finish(logCkpts [][]byte) *Report {
	v, rep := w.v, w.rep
	findings := v.Finish()
	if len(findings) == 0 && w.opts.Pub != nil {
		for i, msg := range logCkpts {
			pos := fmt.Sprintf("%s line %d", CheckpointsFile, i+1)
			c, err := integrity.OpenCheckpoint(msg, w.opts.Pub)
			if err != nil {
				findings = append(findings, integrity.Finding{Kind: integrity.ForgedCheckpoint, Line: i + 1, Detail: pos + ": " + err.Error()})
				break
			}
			if c.Size > v.Size() {
				findings = append(findings, integrity.Finding{Kind: integrity.TruncatedTail, Line: i + 1,
					Detail: fmt.Sprintf("%s vouches for %d entries but the store holds %d: the tail was cut", pos, c.Size, v.Size())})
				break
			}
			if l, ok := coveredLoss(v.Losses, c.Size); ok {
				findings = append(findings, integrity.Finding{Kind: integrity.Deleted, Line: i + 1, Seq: c.Size - 1, HasSeq: true,
					Detail: fmt.Sprintf("%s vouches for entry %d, which the restart entry at seq %d declares lost: it was stored, then removed", pos, c.Size-1, l.Restart)})
				break
			}
			if root, ok := v.RootAt(c.Size); ok && !bytes.Equal(root, c.Root) {
				findings = append(findings, integrity.Finding{Kind: integrity.InvalidCheckpoint, Line: i + 1,
					Detail: fmt.Sprintf("%s: checkpoint at size %d does not match the store (entries rewritten, or a fork)", pos, c.Size)})
				break
			}
			if f, bad := w.checkSealRecord(c, pos); bad {
				findings = append(findings, f)
				break
			}
		}
	}
	if len(findings) == 0 && v.Entries == 0 && len(w.rep.Retired) == 0 { // retention may have removed every entry
		findings = append(findings, integrity.Finding{Kind: integrity.Deleted, Detail: "the store holds no signed entries (is filter \"signer\" in front of output \"file\"?)"})
	}
	rep.Findings = findings
	rep.Entries, rep.Events, rep.EpochSeals, rep.Checkpoints = v.Entries, v.Events, v.EpochSeals, v.Checkpoints
	rep.Restarts, rep.Losses = v.Restarts, v.Losses
	rep.Root = base64.StdEncoding.EncodeToString(v.Root())
	rep.NextSeq = v.Point().NextSeq
	if w.opts.Pub != nil {
		rep.Unchecked = v.Unchecked()
	}
	return rep
}

// checkSealRecord checks a seal checkpoint from checkpoints.log against the
// segment it names: that segment must be sealed (or removed by retention),
// at the tree size the checkpoint covers. A last segment without its seal
// otherwise looks like the active segment of a store that crashed.
func (w *walker) checkSealRecord(c integrity.Checkpoint, pos string) (integrity.Finding, bool) {
	n, ok := sealedSegment(c)
	if !ok {
		return integrity.Finding{}, false
	}
	if _, ok := w.retired[n]; ok {
		return integrity.Finding{}, false
	}
	if sl, ok := w.seals[n]; ok {
		if sl.Point != nil && sl.Point.TreeSize != c.Size {
			return integrity.Finding{Kind: integrity.Modified, Segment: n,
				Detail: fmt.Sprintf("%s records segment %d sealed at tree size %d, but its seal says %d", pos, n, c.Size, sl.Point.TreeSize)}, true
		}
		return integrity.Finding{}, false
	}
	switch {
	case n == w.last:
		return integrity.Finding{Kind: integrity.TruncatedTail, Segment: n, Line: w.lastLine,
			Detail: fmt.Sprintf("segment %d ends without its seal, but %s records that it was sealed at tree size %d: its end was cut", n, pos, c.Size)}, true
	case n > w.last:
		return integrity.Finding{Kind: integrity.TruncatedTail, Segment: n,
			Detail: fmt.Sprintf("segment %d is gone, but %s records that it was sealed at tree size %d: the store's tail was cut", n, pos, c.Size)}, true
	}
	return integrity.Finding{}, false // earlier segments: the walk named what is wrong with them
}

// coveredLoss finds the declared loss that a checkpoint of size covers the
// last entry of: the store held that entry once (checkpoints are stored
// after the entries they cover), so it was not lost in a crash.
func coveredLoss(losses []integrity.Loss, size uint64) (integrity.Loss, bool) {
	for _, l := range losses {
		if size > l.From && size <= l.To+1 {
			return l, true
		}
	}
	return integrity.Loss{}, false
}

// VerifyFile checks one JSONL file of entry and checkpoint lines (the output
// of `sentinel sign`, or any unframed store file).
func VerifyFile(path string, opts VerifyOptions) (*Report, error) {
	v, err := integrity.NewVerifier(opts.Seed, opts.Pub)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	w := &walker{v: v, opts: opts, rep: &Report{Path: path}}
	lineNo := 0
	err = eachLine(f, func(line []byte, torn bool) bool {
		lineNo++
		pos := integrity.Pos{Line: lineNo}
		if torn {
			v.Report(integrity.Finding{Kind: integrity.TruncatedTail, Line: lineNo, Detail: "final line is cut short"})
			return false
		}
		switch classify(line) {
		case lineEntry:
			v.Entry(pos, line)
			if opts.OnEntry != nil && !v.Stopped() {
				var e integrity.Entry
				if integrity.ParseEntryLine(line, &e) == nil {
					if err := opts.OnEntry(pos, &e, line); err != nil {
						v.Report(integrity.Finding{Kind: integrity.Modified, Line: lineNo, Detail: err.Error()})
						return false
					}
				}
			}
		case lineCheckpoint:
			v.Checkpoint(pos, line)
		default:
			v.Report(integrity.Finding{Kind: integrity.Inserted, Line: lineNo, Detail: "unsigned line among signed entries"})
		}
		return !v.Halted()
	})
	w.rep.Lines = int64(lineNo)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return w.finish(nil), nil
}

// checkSeal checks what a seal says beyond the segment hash: its bytes are
// canonical, its chain point is where verification stands, and its signature
// (when the store signed it) verifies.
func (w *walker) checkSeal(line []byte, sl *sealLine) string {
	if canon, _ := json.Marshal(sl); !bytes.Equal(canon, line) {
		return "segment seal is not in its written form (altered)"
	}
	if p := sl.Seal.Point; p != nil && !w.v.Halted() && w.v.Size() > 0 {
		vp := w.v.Point()
		root := base64.StdEncoding.EncodeToString(w.v.Root())
		tree, err := integrity.TreeFrom(p.TreeSize, p.Range)
		if err != nil || p.NextSeq != vp.NextSeq || p.TreeSize != w.v.Size() || base64.StdEncoding.EncodeToString(tree.Root()) != root {
			return "segment seal's chain point does not match the entries before it"
		}
	}
	if sl.Sig != "" && w.opts.Pub != nil {
		sig, err := base64.StdEncoding.DecodeString(sl.Sig)
		if err != nil || !w.opts.Pub.Verify(sealMessage(sl.Seal), sig) {
			return "segment seal's signature does not verify"
		}
	}
	return ""
}

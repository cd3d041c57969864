package integrity

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// Kind names what was done to a store.
type Kind string

// The kinds of alteration the verifier names.
const (
	Modified          Kind = "modified"
	Deleted           Kind = "deleted"
	Inserted          Kind = "inserted"
	Reordered         Kind = "reordered"
	TruncatedTail     Kind = "truncated_tail"
	MissingSegment    Kind = "missing_segment"
	ReplacedSegment   Kind = "replaced_segment"
	ForgedCheckpoint  Kind = "forged_checkpoint"
	InvalidCheckpoint Kind = "invalid_checkpoint"
	KeyOutsideEpoch   Kind = "key_outside_epoch"
)

// Finding is one detected alteration, located as precisely as possible.
type Finding struct {
	Kind    Kind   `json:"kind"`
	Segment int    `json:"segment,omitempty"`
	Line    int    `json:"line,omitempty"`
	Seq     uint64 `json:"seq"`
	HasSeq  bool   `json:"-"`
	Detail  string `json:"detail"`
}

func (f Finding) String() string {
	loc := ""
	if f.Segment > 0 {
		loc = fmt.Sprintf(" segment %d line %d", f.Segment, f.Line)
	} else if f.Line > 0 {
		loc = fmt.Sprintf(" line %d", f.Line)
	}
	if f.HasSeq {
		loc += fmt.Sprintf(" seq %d", f.Seq)
	}
	return fmt.Sprintf("%s:%s: %s", f.Kind, loc, f.Detail)
}

// Pos locates a line: segment number (0 for a plain file) and 1-based line.
type Pos struct{ Segment, Line int }

// Verifier checks a stream of stored lines. With the seed it checks every
// entry's MAC chain and epochs; with a public key it checks every checkpoint
// against the Merkle tree of the entries before it. Feed lines in order, then
// call Finish.
type Verifier struct {
	seed []byte
	pub  note.Verifier

	p       Point
	prev    [32]byte
	r       Ratchet
	h       *hmacer
	tree    *Tree
	started bool

	findings []Finding
	pending  *pending
	stopped  bool

	wantRoots map[uint64][]byte

	// Counts for the summary.
	Entries, Events, EpochSeals, Checkpoints, Restarts uint64
	lastCkpt                                           uint64
	// Losses are the gaps restart entries declared (crash loss, not tampering).
	Losses []Loss
}

// Loss is a gap in the sequence that the restart entry right after it
// declares: entries a crash cut off between the signer and the store. They
// were never stored, and the restart entry's MAC vouches that the chain
// continues from the one entry that had them.
type Loss struct {
	From    uint64 `json:"from"`
	To      uint64 `json:"to"`
	Segment int    `json:"segment,omitempty"`
	Line    int    `json:"line,omitempty"`
	Restart uint64 `json:"restart_seq"`
}

func (l Loss) String() string {
	loc := ""
	if l.Segment > 0 {
		loc = fmt.Sprintf("segment %d ", l.Segment)
	}
	return fmt.Sprintf("entries %d..%d were lost in a crash before they were stored (declared by the restart entry at %sline %d seq %d)",
		l.From, l.To, loc, l.Line, l.Restart)
}

// pending is a chain anomaly whose kind is decided by the entries after it.
type pending struct {
	pos       Pos
	seq, want uint64
	prevLine  []byte
	line      []byte
	macBad    bool
	after     []uint64
}

const lookahead = 8

// NewVerifier builds a verifier; seed and pub may each be nil, not both.
func NewVerifier(seed []byte, pub note.Verifier) (*Verifier, error) {
	if seed == nil && pub == nil {
		return nil, errors.New("verify needs the chain seed (--keys) or the public key (--pub)")
	}
	v := &Verifier{seed: seed, pub: pub, h: newHMACer(), tree: NewTree(), wantRoots: map[uint64][]byte{}}
	if seed != nil {
		if _, err := NewRatchet(seed, CurrentVersion); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// begin starts the chain at p, where its first stored entry, in the given
// format, tells what the chain is.
func (v *Verifier) begin(p Point, version byte) {
	p.Version = version
	v.p, v.started = p, true
	if v.seed != nil {
		v.r, _ = NewRatchet(v.seed, version) // the seed was checked by NewVerifier
	} else {
		v.r = Ratchet{Version: version}
	}
}

// Resume starts verification at a chain point (from the seal of the last
// segment removed by retention) instead of at the genesis entry.
func (v *Verifier) Resume(p Point) error {
	tree, err := TreeFrom(p.TreeSize, p.Range)
	if err != nil {
		return err
	}
	if v.seed != nil {
		r, err := Seek(v.seed, p.EntryVersion(), p.Epoch, p.Pos)
		if err != nil {
			return err
		}
		v.r = r
	}
	v.p, v.tree, v.started = p, tree, true
	v.p.Version = p.EntryVersion()
	v.r.Version = v.p.Version
	copy(v.prev[:], p.Prev)
	return nil
}

// restart checks a restart entry before it is added to the tree. Without a
// gap before it, what it claims must be the chain's state. After a gap it
// must declare the gap (within the genesis entry's window) and its MAC must
// verify under the key of the position it claims; the verifier then
// continues from the MAC, key and Merkle range it carries. It reports and
// returns false when the entry is forged or the gap is undeclared.
func (v *Verifier) restart(pos Pos, e *Entry, evHash *[32]byte) bool {
	report := func(k Kind, detail string) bool {
		v.Report(Finding{Kind: k, Segment: pos.Segment, Line: pos.Line, Seq: e.Seq, HasSeq: true, Detail: detail})
		return false
	}
	var r RestartEvent
	if err := json.Unmarshal(e.Event, &r); err != nil || len(r.Prev) != 32 || r.EpochNS <= 0 {
		return report(Modified, "restart entry unreadable")
	}
	if !v.started {
		if r.LostFrom != 0 || e.Seq > r.Window {
			return report(Deleted, "the chain does not start with its genesis entry: the first entries are missing")
		}
		v.begin(Point{Origin: r.Origin, T0: r.T0, EpochNS: r.EpochNS, LastT: r.T0, Window: r.Window}, e.Version)
	} else if r.Origin != v.p.Origin || r.T0 != v.p.T0 || r.EpochNS != v.p.EpochNS || r.Window != v.p.Window {
		return report(Modified, "restart entry does not match the chain's genesis")
	} else if e.Version != v.p.Version {
		return report(Modified, versionMismatch(e.Version, v.p.Version))
	}
	want := v.p.NextSeq
	if e.Seq < want {
		return true // out of order: the sequence check names it
	}
	if e.Seq == want {
		if !bytes.Equal(r.Prev, v.prev[:]) || !equalHashes(r.Range, v.tree.Hashes()) || (v.seed != nil && r.Pos != v.r.Pos) {
			return report(Modified, "restart entry does not match the chain before it")
		}
		return true
	}
	gap := e.Seq - want
	if r.LostFrom > want || e.Seq-r.LostFrom > v.p.Window {
		return report(Deleted, fmt.Sprintf("entries %d..%d are missing (the restart entry after them may declare at most %d..%d lost)",
			want, e.Seq-1, max(r.LostFrom, e.Seq-min(e.Seq, v.p.Window)), e.Seq-1))
	}
	if e.Epoch < v.r.Epoch || (e.Epoch == v.r.Epoch && r.Pos < v.r.Pos) {
		return report(Reordered, "restart entry claims a key position before the chain's")
	}
	if v.seed != nil {
		steps := r.Pos
		if e.Epoch == v.r.Epoch {
			steps -= v.r.Pos
		}
		if steps > gap {
			return report(Modified, "restart entry claims a key position the missing entries cannot account for")
		}
		nr := v.r
		for nr.Epoch < e.Epoch {
			nr.StepEpoch(v.h)
		}
		for nr.Pos < r.Pos {
			nr.StepEntry(v.h)
		}
		var prev, mac [32]byte
		copy(prev[:], r.Prev)
		computeMAC(v.h, &mac, &nr.EntryKey, e, &prev, evHash)
		if !hmac.Equal(mac[:], e.MAC[:]) {
			return report(Deleted, fmt.Sprintf("entries %d..%d are missing, and the restart entry that would declare them lost is forged (its MAC does not verify)", want, e.Seq-1))
		}
		v.r = nr
	} else {
		v.r.Epoch, v.r.Pos = e.Epoch, r.Pos
	}
	tree, err := TreeFrom(e.Seq, r.Range)
	if err != nil {
		return report(Modified, "restart entry's Merkle range is invalid: "+err.Error())
	}
	v.tree = tree
	copy(v.prev[:], r.Prev)
	v.p.NextSeq = e.Seq
	v.Losses = append(v.Losses, Loss{From: want, To: e.Seq - 1, Segment: pos.Segment, Line: pos.Line, Restart: e.Seq})
	return true
}

func equalHashes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// Want asks for the tree root at size, to check a checkpoint kept elsewhere.
func (v *Verifier) Want(size uint64) { v.wantRoots[size] = nil }

// RootAt returns a root asked for with Want, once the stream reached it.
func (v *Verifier) RootAt(size uint64) ([]byte, bool) {
	r := v.wantRoots[size]
	return r, r != nil
}

// Size is the number of entries fed so far.
func (v *Verifier) Size() uint64 { return v.tree.Size() }

// Report adds a finding (used by the store layer for segment-level problems).
func (v *Verifier) Report(f Finding) {
	v.settle()
	v.findings = append(v.findings, f)
	v.stopped = true
}

// Halted reports whether a finding has been made; nothing after it counts.
func (v *Verifier) Halted() bool { return v.stopped }

// Stopped reports whether a finding ended chain checking.
func (v *Verifier) Stopped() bool { return v.stopped || v.pending != nil }

// Entry feeds one entry line.
func (v *Verifier) Entry(pos Pos, line []byte) {
	var e Entry
	if err := ParseEntryLine(line, &e); err != nil {
		if v.pending != nil {
			v.settle()
		}
		if !v.stopped {
			v.Report(Finding{Kind: Modified, Segment: pos.Segment, Line: pos.Line, Detail: "entry line is not well formed (altered bytes)"})
		}
		return
	}
	v.Entries++
	var evHash [32]byte
	if e.Version >= Version2 || v.seed != nil {
		evHash = sha256.Sum256(e.Event) // once, for both the MAC and the leaf
	}
	if e.Kind == KindRestart && v.pending == nil && !v.stopped {
		v.Restarts++
		if !v.restart(pos, &e, &evHash) {
			return
		}
	}
	v.tree.AppendEntry(line, &e, &evHash)
	if r, ok := v.wantRoots[v.tree.Size()]; ok && r == nil {
		v.wantRoots[v.tree.Size()] = v.tree.Root()
	}
	if v.pending != nil {
		v.pending.after = append(v.pending.after, e.Seq)
		if len(v.pending.after) >= lookahead {
			v.settle()
		}
		return
	}
	if v.stopped {
		return
	}
	switch e.Kind {
	case KindEvent:
		v.Events++
	case KindEpochSeal:
		v.EpochSeals++
	}
	if !v.started {
		if e.Kind != KindGenesis || e.Seq != 0 {
			v.Report(Finding{Kind: Deleted, Segment: pos.Segment, Line: pos.Line, Seq: e.Seq, HasSeq: true,
				Detail: "the chain does not start with its genesis entry: the first entries are missing"})
			return
		}
		var g genesisEvent
		if err := json.Unmarshal(e.Event, &g); err != nil || g.EpochNS <= 0 {
			v.Report(Finding{Kind: Modified, Segment: pos.Segment, Line: pos.Line, Seq: e.Seq, HasSeq: true, Detail: "genesis entry unreadable"})
			return
		}
		v.begin(Point{Origin: g.Origin, T0: g.T0, EpochNS: g.EpochNS, LastT: g.T0, Window: g.Window}, e.Version)
	}
	if e.Version != v.p.Version {
		v.Report(Finding{Kind: Modified, Segment: pos.Segment, Line: pos.Line, Seq: e.Seq, HasSeq: true, Detail: versionMismatch(e.Version, v.p.Version)})
		return
	}
	if want := v.epochOf(e.T); e.Epoch != want {
		v.Report(Finding{Kind: KeyOutsideEpoch, Segment: pos.Segment, Line: pos.Line, Seq: e.Seq, HasSeq: true,
			Detail: fmt.Sprintf("entry signed in epoch %d but its time falls in epoch %d", e.Epoch, want)})
		return
	}
	if e.Seq != v.p.NextSeq {
		v.pending = &pending{pos: pos, seq: e.Seq, want: v.p.NextSeq, line: append([]byte(nil), line...)}
		return
	}
	if v.seed != nil {
		if e.Epoch != v.r.Epoch {
			v.Report(Finding{Kind: KeyOutsideEpoch, Segment: pos.Segment, Line: pos.Line, Seq: e.Seq, HasSeq: true,
				Detail: fmt.Sprintf("entry claims epoch %d where the chain is in epoch %d (a later key re-signed it, or an epoch seal is missing)", e.Epoch, v.r.Epoch)})
			return
		}
		var mac [32]byte
		computeMAC(v.h, &mac, &v.r.EntryKey, &e, &v.prev, &evHash)
		if !hmac.Equal(mac[:], e.MAC[:]) {
			v.pending = &pending{pos: pos, seq: e.Seq, want: v.p.NextSeq, line: append([]byte(nil), line...), macBad: true}
			return
		}
	}
	if e.T < v.p.LastT {
		v.Report(Finding{Kind: Reordered, Segment: pos.Segment, Line: pos.Line, Seq: e.Seq, HasSeq: true, Detail: "entry time goes backwards"})
		return
	}
	v.prev = e.MAC
	v.p.NextSeq++
	v.p.LastT = e.T
	if e.Kind == KindEpochSeal {
		var s epochSealEvent
		if err := json.Unmarshal(e.Event, &s); err != nil || s.Epoch != e.Epoch || (v.seed != nil && s.Entries != v.r.Pos) {
			v.Report(Finding{Kind: Modified, Segment: pos.Segment, Line: pos.Line, Seq: e.Seq, HasSeq: true, Detail: "epoch seal does not match its epoch"})
			return
		}
	}
	if v.seed != nil {
		v.r.StepEntry(v.h)
		if e.Kind == KindEpochSeal {
			v.r.StepEpoch(v.h)
		}
	} else if e.Kind == KindEpochSeal {
		v.r.Epoch++
	}
}

func versionMismatch(line, chain byte) string {
	return fmt.Sprintf("entry is in format v%d where its chain is in format v%d", line, chain)
}

func (v *Verifier) epochOf(t int64) uint64 {
	if t <= v.p.T0 {
		return 0
	}
	return uint64((t - v.p.T0) / v.p.EpochNS)
}

// settle classifies a pending anomaly from the sequence numbers after it.
func (v *Verifier) settle() {
	pd := v.pending
	if pd == nil {
		return
	}
	v.pending = nil
	f := Finding{Segment: pd.pos.Segment, Line: pd.pos.Line, Seq: pd.seq, HasSeq: true}
	removalFixes := len(pd.after) > 0
	for i, s := range pd.after {
		if s != pd.want+uint64(i) {
			removalFixes = false
			break
		}
	}
	switch {
	case pd.macBad && len(pd.after) > 0 && pd.after[0] == pd.seq:
		f.Kind, f.Detail = Inserted, "a forged entry was inserted before the genuine entry with the same sequence number"
	case pd.macBad:
		f.Kind, f.Detail = Modified, "MAC mismatch: the entry's bytes were altered"
	case removalFixes:
		f.Kind, f.Detail = Inserted, fmt.Sprintf("entry with sequence %d does not belong here (expected %d); the chain continues without it", pd.seq, pd.want)
	case pd.seq < pd.want || contains(pd.after, pd.want):
		f.Kind, f.Detail = Reordered, fmt.Sprintf("expected sequence %d, found %d: entries are out of order", pd.want, pd.seq)
	default:
		f.Kind, f.Detail = Deleted, fmt.Sprintf("entries %d..%d are missing", pd.want, pd.seq-1)
	}
	v.findings = append(v.findings, f)
	v.stopped = true
}

func contains(xs []uint64, x uint64) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Checkpoint feeds one stored checkpoint line, which covers the entries
// before it.
func (v *Verifier) Checkpoint(pos Pos, line []byte) {
	if v.pending != nil {
		return
	}
	v.Checkpoints++
	if v.pub == nil || v.stopped {
		return
	}
	msg, err := ParseCheckpointLine(line)
	if err != nil {
		v.Report(Finding{Kind: ForgedCheckpoint, Segment: pos.Segment, Line: pos.Line, Detail: "checkpoint line is not well formed"})
		return
	}
	c, err := OpenCheckpoint(msg, v.pub)
	if err != nil {
		v.Report(Finding{Kind: ForgedCheckpoint, Segment: pos.Segment, Line: pos.Line, Detail: err.Error()})
		return
	}
	size := v.tree.Size()
	switch {
	case c.Size > size:
		v.Report(Finding{Kind: Deleted, Segment: pos.Segment, Line: pos.Line, Detail: fmt.Sprintf("checkpoint covers %d entries but only %d precede it: entries were removed", c.Size, size)})
	case c.Size < size && v.seed == nil:
		v.Report(Finding{Kind: Inserted, Segment: pos.Segment, Line: pos.Line, Detail: fmt.Sprintf("checkpoint covers %d entries but %d precede it: entries were added", c.Size, size)})
	case c.Size < size:
		v.Report(Finding{Kind: InvalidCheckpoint, Segment: pos.Segment, Line: pos.Line, Detail: fmt.Sprintf("checkpoint of size %d found after %d entries (moved or replayed checkpoint)", c.Size, size)})
	case !bytes.Equal(c.Root, v.tree.Root()):
		if v.seed == nil {
			v.Report(Finding{Kind: Modified, Segment: pos.Segment, Line: pos.Line, Detail: fmt.Sprintf("Merkle root mismatch: an entry between tree sizes %d and %d was altered, inserted, deleted or reordered", v.lastCkpt, c.Size)})
		} else {
			v.Report(Finding{Kind: InvalidCheckpoint, Segment: pos.Segment, Line: pos.Line, Detail: "validly signed checkpoint whose root does not match the verified entries (a fork)"})
		}
	default:
		v.lastCkpt = c.Size
	}
}

// Finish settles any pending anomaly and returns every finding, first first.
func (v *Verifier) Finish() []Finding {
	v.settle()
	return v.findings
}

// Unchecked is how many entries come after the last verified checkpoint: in
// public-key mode nothing vouches for them yet.
func (v *Verifier) Unchecked() uint64 { return v.tree.Size() - v.lastCkpt }

// Point is where verification stands (for summaries).
func (v *Verifier) Point() Point { return v.p }

// Root is the root over every entry fed.
func (v *Verifier) Root() []byte { return v.tree.Root() }

package integrity

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Point is where a chain stands after some entry: everything a verifier needs
// to continue from there (given the seed), and nothing secret. Segment seals
// carry it so verification can start after segments removed by retention.
type Point struct {
	// Version is the chain's entry format; 0 in points written before
	// version 2 existed, which means version 1.
	Version  byte     `json:"version,omitempty"`
	Origin   string   `json:"origin"`
	T0       int64    `json:"t0"`
	EpochNS  int64    `json:"epoch_ns"`
	NextSeq  uint64   `json:"next_seq"`
	Prev     []byte   `json:"prev_mac"`
	Epoch    uint64   `json:"epoch"`
	Pos      uint64   `json:"pos"`
	LastT    int64    `json:"last_t"`
	TreeSize uint64   `json:"tree_size"`
	Range    [][]byte `json:"range"`
	// Window is the most entries a restart entry may declare lost (fixed by
	// the genesis entry; 0 means none).
	Window uint64 `json:"window,omitempty"`
}

// EntryVersion is the chain's entry format version.
func (p Point) EntryVersion() byte { return max(p.Version, Version1) }

// genesisEvent is the ev of a chain's first entry.
type genesisEvent struct {
	Origin  string `json:"origin"`
	T0      int64  `json:"t0"`
	EpochNS int64  `json:"epoch_ns"`
	Window  uint64 `json:"window,omitempty"`
}

// RestartEvent is the ev of a restart entry: the first entry a signer writes
// after it was restarted from its saved state. A crash may have cut the
// newest entries of the previous run off before they reached the store (they
// were signed, so their sequence numbers are used up); the restart entry
// declares that entries from LostFrom on may be missing and carries what a
// verifier needs to continue after such a gap: the MAC the entry chains to,
// the key position, and the Merkle range of every entry before it. Its MAC
// (under the key of its own position) authenticates all of it, and LostFrom
// may reach back at most Window entries, a bound fixed in the genesis entry.
type RestartEvent struct {
	LostFrom uint64   `json:"lost_from"`
	Pos      uint64   `json:"pos"`
	Prev     []byte   `json:"prev_mac"`
	Range    [][]byte `json:"range"`
	Origin   string   `json:"origin"`
	T0       int64    `json:"t0"`
	EpochNS  int64    `json:"epoch_ns"`
	Window   uint64   `json:"window"`
}

type epochSealEvent struct {
	Epoch   uint64 `json:"epoch"`
	Entries uint64 `json:"entries"`
}

// Chain is the signer's side: it turns event bytes into entry lines, keeps
// the Merkle tree over them and signs checkpoints.
type Chain struct {
	p    Point
	prev [32]byte
	r    Ratchet
	h    *hmacer
	tree *Tree
	slab sdk.Slab // lines are carved from it: one allocation for many entries
	last LeafMemo // the line append wrote last, and its leaf hash
}

// LeafMemo binds a Merkle leaf hash to the very line it was computed from,
// so that a store following the chain in the same process takes the hash
// instead of hashing the line again. It is a hint, never trusted further
// than that line's bytes: a wrong hash would only make seals that fail
// verification.
type LeafMemo struct {
	line []byte
	hash [32]byte
}

// For returns the leaf hash of line when the memo was made for this very
// slice (the same bytes in memory, not merely equal ones).
func (m *LeafMemo) For(line []byte) (*[32]byte, bool) {
	if m == nil || len(line) == 0 || len(m.line) != len(line) || &m.line[0] != &line[0] {
		return nil, false
	}
	return &m.hash, true
}

// LastLeaf is the memo of the entry line the chain emitted last.
func (c *Chain) LastLeaf() LeafMemo { return c.last }

// chainState is the persisted form: the point plus the ratchet's keys.
type chainState struct {
	Point   Point   `json:"point"`
	Ratchet Ratchet `json:"ratchet"`
}

// NewChain starts a chain whose genesis entry is written with the first
// event. Epochs are epoch long and start at now.
func NewChain(seed []byte, origin string, epoch time.Duration, now time.Time) (*Chain, error) {
	if epoch <= 0 {
		return nil, errors.New("epoch must be positive")
	}
	r, err := NewRatchet(seed, CurrentVersion)
	if err != nil {
		return nil, err
	}
	return &Chain{
		p:    Point{Version: CurrentVersion, Origin: origin, T0: now.UnixNano(), EpochNS: int64(epoch), LastT: now.UnixNano()},
		r:    r,
		h:    newHMACer(),
		tree: NewTree(),
	}, nil
}

// RestoreChain reads a chain persisted by MarshalState.
func RestoreChain(state []byte) (*Chain, error) {
	var st chainState
	if err := json.Unmarshal(state, &st); err != nil {
		return nil, fmt.Errorf("chain state: %w", err)
	}
	tree, err := TreeFrom(st.Point.TreeSize, st.Point.Range)
	if err != nil {
		return nil, fmt.Errorf("chain state: %w", err)
	}
	c := &Chain{p: st.Point, r: st.Ratchet, h: newHMACer(), tree: tree}
	c.p.Version = c.p.EntryVersion()
	if c.p.Version > CurrentVersion {
		return nil, fmt.Errorf("chain state: entry format %d is newer than this release's (%d)", c.p.Version, CurrentVersion)
	}
	if c.r.Version != c.p.Version && !(c.r.Version == 0 && c.p.Version == Version1) {
		return nil, fmt.Errorf("chain state: ratchet of format %d in a chain of format %d", c.r.Version, c.p.Version)
	}
	if len(st.Point.Prev) == 32 {
		copy(c.prev[:], st.Point.Prev)
	}
	return c, nil
}

// MarshalState is the chain's durable state, holding the current entry key
// and next epoch root (never an already-used key).
func (c *Chain) MarshalState() []byte {
	b, _ := json.Marshal(chainState{Point: c.Point(), Ratchet: c.r})
	return b
}

// Point is the chain's current position.
func (c *Chain) Point() Point {
	p := c.p
	p.Prev = append([]byte(nil), c.prev[:]...)
	p.Epoch, p.Pos = c.r.Epoch, c.r.Pos
	p.TreeSize, p.Range = c.tree.Size(), c.tree.Hashes()
	return p
}

// Origin names the log in its checkpoints.
func (c *Chain) Origin() string { return c.p.Origin }

// Size is the number of entries written.
func (c *Chain) Size() uint64 { return c.tree.Size() }

func (c *Chain) epochOf(t int64) uint64 {
	if t <= c.p.T0 {
		return 0
	}
	return uint64((t - c.p.T0) / c.p.EpochNS)
}

// append signs one entry at the ratchet's position and emits its line.
func (c *Chain) append(kind byte, t int64, ev []byte, emit func([]byte)) {
	e := Entry{Version: c.p.Version, Seq: c.p.NextSeq, Epoch: c.r.Epoch, T: t, Kind: kind, Event: ev}
	evHash := sha256.Sum256(ev)
	computeMAC(c.h, &e.MAC, &c.r.EntryKey, &e, &c.prev, &evHash)
	line := c.slab.Keep(AppendEntryLine(c.slab.Buf(len(ev)+maxLineOverhead), &e))
	e.Event = line[len(line)-macSuffixAt-len(ev) : len(line)-macSuffixAt]
	c.tree.AppendEntry(line, &e, &evHash)
	c.last = LeafMemo{line: line, hash: c.tree.leaf}
	c.prev = e.MAC
	c.p.NextSeq++
	c.p.LastT = t
	c.r.StepEntry(c.h)
	emit(line)
}

// maxLineOverhead bounds an entry line's bytes besides its ev: framing,
// three numbers of at most 20 digits, kind and MAC.
const maxLineOverhead = 192

// Advance writes the genesis entry if none yet, and a seal for every epoch
// that ended before now, so that no epoch goes unsealed even when idle.
func (c *Chain) Advance(now time.Time, emit func([]byte)) {
	if c.p.NextSeq == 0 {
		ev, _ := json.Marshal(genesisEvent{Origin: c.p.Origin, T0: c.p.T0, EpochNS: c.p.EpochNS, Window: c.p.Window})
		c.append(KindGenesis, c.p.T0, ev, emit)
	}
	t := max(now.UnixNano(), c.p.LastT)
	for target := c.epochOf(t); c.r.Epoch < target; {
		ev, _ := json.Marshal(epochSealEvent{Epoch: c.r.Epoch, Entries: c.r.Pos})
		end := c.p.T0 + int64(c.r.Epoch+1)*c.p.EpochNS - 1
		c.append(KindEpochSeal, max(end, c.p.LastT), ev, emit)
		c.r.StepEpoch(c.h)
	}
}

// SetRestartWindow fixes how many of its newest entries a restarted signer
// may declare lost; it takes effect only before the genesis entry is written.
func (c *Chain) SetRestartWindow(n uint64) {
	if c.p.NextSeq == 0 {
		c.p.Window = n
	}
}

// Restart writes the restart entry, which must be the first entry a
// restarted signer writes: it is signed in the ratchet's current epoch (the
// epoch seals that are due follow it), and declares the last Window entries
// lost-if-missing.
func (c *Chain) Restart(now time.Time, emit func([]byte)) {
	if c.p.NextSeq == 0 {
		return // nothing was signed, nothing can be lost
	}
	start := c.p.T0 + int64(c.r.Epoch)*c.p.EpochNS
	t := min(max(now.UnixNano(), c.p.LastT, start), start+c.p.EpochNS-1)
	ev, _ := json.Marshal(RestartEvent{
		LostFrom: c.p.NextSeq - min(c.p.Window, c.p.NextSeq), Pos: c.r.Pos, Prev: c.prev[:],
		Range: c.tree.Hashes(), Origin: c.p.Origin, T0: c.p.T0, EpochNS: c.p.EpochNS, Window: c.p.Window,
	})
	c.append(KindRestart, t, ev, emit)
}

// Sign writes ev (an event's exact JSON bytes) as the next entry, after any
// genesis and epoch seals that are due.
func (c *Chain) Sign(now time.Time, ev []byte, emit func([]byte)) {
	c.Advance(now, emit)
	c.append(KindEvent, max(now.UnixNano(), c.p.LastT), ev, emit)
}

// Checkpoint signs the current tree and returns the stored checkpoint line.
func (c *Chain) Checkpoint(s note.Signer) ([]byte, error) {
	signed, err := SignCheckpoint(Checkpoint{Origin: c.p.Origin, Size: c.tree.Size(), Root: c.tree.Root()}, s)
	if err != nil {
		return nil, err
	}
	return AppendCheckpointLine(nil, signed), nil
}

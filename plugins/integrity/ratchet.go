// Package integrity is Sentinel's tamper evidence: a forward-secure HMAC
// chain over every stored entry, an RFC 6962 Merkle tree over the same lines
// with Ed25519-signed checkpoints in the C2SP signed-note format, and the
// verifier that names the first bad entry and the kind of alteration.
//
// # What is guaranteed
//
// The chain seed S (keygen's chain.seed) derives a two-level ratchet:
//
//	E_0      = HKDF-SHA256(S, "sentinel/v1/epoch0")
//	E_{e+1}  = HMAC(E_e, "epoch-next")
//	k_{e,0}  = HMAC(E_e, "entry-0")
//	k_{e,j+1}= SHA-256(D ‖ k_{e,j})      (format v2; D is a 32-byte domain)
//	k_{e,j+1}= HMAC(k_{e,j}, "entry-next") (format v1)
//
// On entering epoch e the signer computes k_{e,0} and E_{e+1} and erases E_e;
// after each entry it replaces k_{e,j} by k_{e,j+1}. A host compromised at
// time t therefore holds only keys for positions not yet used: it cannot
// recompute the MAC of any entry written before t, so it cannot modify,
// insert, reorder or delete such entries, nor re-sign them with a later key,
// without the verifier (who holds S) noticing. Every epoch ends with an epoch
// seal entry, even when empty, and every entry's epoch must match its
// timestamp, closing the journald CVE-2023-31438/31439 class.
//
// Not guaranteed: entries written after the compromise; the deletion of the
// newest entries together with every later trace (truncating the tail of the
// store and of checkpoints.log), which only an off-host copy of checkpoints
// (an anchor) reveals; secure erasure on SSDs and journaling filesystems,
// which is best effort. The Ed25519 checkpoint key is long-lived: the public
// layer lets anyone without S verify, but is not itself forward-secure.
package integrity

import (
	"crypto/hkdf"
	"crypto/sha256"
	"hash"
)

// hmacer computes HMAC-SHA256 with 32-byte keys without allocating: the two
// digests are reused and the pads are built per key.
type hmacer struct {
	inner, outer hash.Hash
	pad          [64]byte
	key          [32]byte
	sum          [32]byte
	out          [32]byte
	msg          [128]byte // an entry MAC's message; here, not on the stack, so the digest's Write does not move it to the heap
}

func newHMACer() *hmacer { return &hmacer{inner: sha256.New(), outer: sha256.New()} }

func (h *hmacer) begin(key *[32]byte) {
	h.key = *key
	for i := range h.pad {
		h.pad[i] = 0x36
	}
	for i, b := range key {
		h.pad[i] ^= b
	}
	h.inner.Reset()
	h.inner.Write(h.pad[:])
}

func (h *hmacer) write(p []byte) { h.inner.Write(p) }

func (h *hmacer) finish(out *[32]byte) {
	h.inner.Sum(h.sum[:0])
	for i := range h.pad {
		h.pad[i] = 0x5c
	}
	for i, b := range h.key {
		h.pad[i] ^= b
	}
	h.outer.Reset()
	h.outer.Write(h.pad[:])
	h.outer.Write(h.sum[:])
	h.outer.Sum(h.out[:0])
	*out = h.out
	// The key, its pads and the digests' chaining values (which stand for
	// the key once its pad block is absorbed) must not outlive the MAC: a
	// used ratchet key is to be gone from memory too.
	h.key, h.pad, h.sum, h.out = [32]byte{}, [64]byte{}, [32]byte{}, [32]byte{}
	h.inner.Reset()
	h.outer.Reset()
}

func (h *hmacer) mac(out, key *[32]byte, label []byte) {
	h.begin(key)
	h.inner.Write(label)
	h.finish(out)
}

// Ratchet labels, as bytes so that writing them allocates nothing.
var (
	labelEntry0    = []byte("entry-0")
	labelEpochNext = []byte("epoch-next")
	labelEntryNext = []byte("entry-next")
)

// Ratchet is the position of the key schedule: epoch, entry index within the
// epoch, the key for that entry and the next epoch's root. It never holds the
// current epoch's root, so used entry keys cannot be recomputed from it.
type Ratchet struct {
	// Version is the chain's entry format (0 in states saved before
	// version 2 existed: version 1), which fixes the entry step.
	Version   byte     `json:"version,omitempty"`
	Epoch     uint64   `json:"epoch"`
	Pos       uint64   `json:"pos"`
	EntryKey  [32]byte `json:"entry_key"`
	NextEpoch [32]byte `json:"next_epoch"`
}

// NewRatchet starts the schedule of a chain of the given format version at
// epoch 0, entry 0.
func NewRatchet(seed []byte, version byte) (Ratchet, error) {
	e0, err := hkdf.Key(sha256.New, seed, nil, "sentinel/v1/epoch0", 32)
	if err != nil {
		return Ratchet{}, err
	}
	r := Ratchet{Version: version}
	var root [32]byte
	copy(root[:], e0)
	r.enter(newHMACer(), &root)
	clear(e0)
	return r, nil
}

func (r *Ratchet) enter(h *hmacer, root *[32]byte) {
	h.mac(&r.EntryKey, root, labelEntry0)
	h.mac(&r.NextEpoch, root, labelEpochNext)
	clear(root[:])
	r.Pos = 0
}

// StepEntry moves to the next entry's key and erases the used one.
func (r *Ratchet) StepEntry(h *hmacer) {
	if r.Version >= Version2 {
		stepEntryKey(&r.EntryKey)
	} else {
		h.mac(&r.EntryKey, &r.EntryKey, labelEntryNext)
	}
	r.Pos++
}

// entryStepDomain fills the first half of the one block the v2 entry step
// hashes; the key fills the other half.
const entryStepDomain = "sentinel/v2/entry-next\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

// stepEntryKey replaces key by SHA-256(entryStepDomain ‖ key): one-way, so a
// later key does not give an earlier one, at one compression of a full
// block. The block is hashed in place, never copied into the digest's
// buffer, and erased here after.
func stepEntryKey(key *[32]byte) {
	var block [64]byte
	copy(block[:32], entryStepDomain)
	copy(block[32:], key[:])
	*key = sha256.Sum256(block[:])
	clear(block[:])
}

// StepEpoch moves to entry 0 of the next epoch, erasing this epoch's keys.
func (r *Ratchet) StepEpoch(h *hmacer) {
	root := r.NextEpoch
	r.enter(h, &root)
	r.Epoch++
}

// Seek returns the ratchet of a chain of the given version at (epoch, pos)
// from the seed: the verifier's way in, epoch+pos steps.
func Seek(seed []byte, version byte, epoch, pos uint64) (Ratchet, error) {
	r, err := NewRatchet(seed, version)
	if err != nil {
		return r, err
	}
	h := newHMACer()
	for r.Epoch < epoch {
		r.StepEpoch(h)
	}
	for r.Pos < pos {
		r.StepEntry(h)
	}
	return r, nil
}

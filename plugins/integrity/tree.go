package integrity

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/bits"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// LeafHash is the RFC 6962 leaf hash of a stored line (without its newline):
// for a version 2 entry line, the hash of its bytes with ev replaced by
// SHA-256(ev) (see entryLeaf); for any other line, of the line itself.
func LeafHash(line []byte) []byte {
	var leaf [32]byte
	leafOf(&leaf, line, sha256.New())
	return leaf[:]
}

// leafDomainV2 starts a version 2 leaf's input after RFC 6962's 0x00 leaf
// prefix; no stored line starts with it, so v1 and v2 leaves cannot collide.
const leafDomainV2 = "\x00sentinel/v2/leaf\x00"

// entryLeaf is the leaf hash of the entry line whose parsed form is e, given
// evHash = SHA-256(e.Event). A version 2 leaf covers every byte of the line
// but ev, and ev through its hash, which the entry's MAC also covers: ev is
// read once per entry instead of twice.
func entryLeaf(out *[32]byte, line []byte, e *Entry, evHash *[32]byte, h hash.Hash) {
	if e.Version < Version2 {
		h.Reset()
		h.Write(leafPrefix)
		h.Write(line)
		h.Sum(out[:0])
		return
	}
	head := line[:len(line)-macSuffixAt-len(e.Event)]
	tail := line[len(line)-macSuffixAt:]
	var buf [256]byte // enough for any line ParseEntryLine accepts: head is at most ~100 bytes
	b := append(buf[:0], leafDomainV2...)
	b = append(b, head...)
	b = append(b, evHash[:]...)
	b = append(b, tail...)
	*out = sha256.Sum256(b)
}

// Tree is the compact Merkle range over every entry line so far: the roots
// of the perfect subtrees that make up [0, size), largest first, one per set
// bit of size (the compact range of RFC 6962 / C2SP tlog). An append costs
// the leaf hash and on average one interior hash, and allocates nothing.
type Tree struct {
	size  uint64
	nodes [][32]byte
	h     hash.Hash // reused for leaf hashes
	leaf  [32]byte  // the digest's Sum writes here: a local would escape
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{h: sha256.New(), nodes: make([][32]byte, 0, 64)} }

// TreeFrom rebuilds a tree of the given size from its compact range hashes.
func TreeFrom(size uint64, hashes [][]byte) (*Tree, error) {
	if len(hashes) != bits.OnesCount64(size) {
		return nil, fmt.Errorf("merkle range: %d hashes for size %d", len(hashes), size)
	}
	t := NewTree()
	for _, h := range hashes {
		if len(h) != 32 {
			return nil, errors.New("merkle range: hash is not 32 bytes")
		}
		t.nodes = append(t.nodes, [32]byte(h))
	}
	t.size = size
	return t, nil
}

var leafPrefix = []byte{0}

// Append adds the line as the next leaf.
func (t *Tree) Append(line []byte) {
	leafOf(&t.leaf, line, t.h)
	t.AppendHash(&t.leaf)
}

// AppendEntry adds an entry line already parsed into e, whose ev hashes to
// evHash (nil: not yet hashed).
func (t *Tree) AppendEntry(line []byte, e *Entry, evHash *[32]byte) {
	if evHash == nil && e.Version >= Version2 {
		sum := sha256.Sum256(e.Event)
		evHash = &sum
	}
	entryLeaf(&t.leaf, line, e, evHash, t.h)
	t.AppendHash(&t.leaf)
}

// leafOf writes the leaf hash of any stored line. A line that claims
// version 2 but does not parse is hashed whole: the verifier reports it.
func leafOf(out *[32]byte, line []byte, h hash.Hash) {
	var e Entry
	if lineVersion(line) < Version2 || ParseEntryLine(line, &e) != nil {
		e.Version = Version1
	}
	var evHash [32]byte
	if e.Version >= Version2 {
		evHash = sha256.Sum256(e.Event)
	}
	entryLeaf(out, line, &e, &evHash, h)
}

// AppendHash adds a leaf by its leaf hash: every full pair of equal
// subtrees at the right edge merges into their parent.
func (t *Tree) AppendHash(leaf *[32]byte) {
	t.nodes = append(t.nodes, *leaf)
	for s := t.size; s&1 == 1; s >>= 1 {
		n := len(t.nodes)
		t.nodes[n-2] = hashChildren(&t.nodes[n-2], &t.nodes[n-1])
		t.nodes = t.nodes[:n-1]
	}
	t.size++
}

func hashChildren(l, r *[32]byte) [32]byte {
	var b [65]byte
	b[0] = 1
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return t.size }

// Root is the RFC 6962 root hash.
func (t *Tree) Root() []byte {
	if t.size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	root := t.nodes[len(t.nodes)-1]
	for i := len(t.nodes) - 2; i >= 0; i-- {
		root = hashChildren(&t.nodes[i], &root)
	}
	return root[:]
}

// Hashes is the compact range, to persist and resume from.
func (t *Tree) Hashes() [][]byte {
	out := make([][]byte, len(t.nodes))
	for i := range t.nodes {
		out[i] = append([]byte(nil), t.nodes[i][:]...)
	}
	return out
}

// Checkpoint is the C2SP tlog-checkpoint body: origin, tree size, root,
// and optional extension lines after them (the store marks its seal
// checkpoints with one). Readers ignore extensions they do not know.
type Checkpoint struct {
	Origin     string
	Size       uint64
	Root       []byte
	Extensions []string
}

func (c Checkpoint) body() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.String()
}

// SignCheckpoint returns the signed note for c.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	for _, e := range c.Extensions {
		if e == "" || strings.ContainsAny(e, "\n") {
			return nil, fmt.Errorf("sign checkpoint: extension line %q is empty or holds a newline", e)
		}
	}
	msg, err := note.Sign(&note.Note{Text: c.body()}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// ErrForgedCheckpoint means a checkpoint's signature does not verify with
// any known key.
var ErrForgedCheckpoint = errors.New("checkpoint signature does not verify")

// OpenCheckpoint verifies a signed checkpoint note and parses its body.
func OpenCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrForgedCheckpoint, err)
	}
	return parseCheckpointBody(n.Text)
}

// ParseCheckpointUnverified reads a checkpoint's body without checking its
// signature (for listing sizes before verification).
func ParseCheckpointUnverified(msg []byte) (Checkpoint, error) {
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return Checkpoint{}, errors.New("checkpoint: no signature block")
	}
	return parseCheckpointBody(string(msg[:i+1]))
}

func parseCheckpointBody(text string) (Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 {
		return Checkpoint{}, errors.New("checkpoint: need origin, size and root lines")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: bad size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return Checkpoint{}, fmt.Errorf("checkpoint: bad root hash")
	}
	c := Checkpoint{Origin: lines[0], Size: size, Root: root}
	// Extension lines sit between the root and the body's final newline;
	// checkpoints without them (all before seal markers) parse as before.
	for _, e := range lines[3 : len(lines)-1] {
		if e == "" {
			return Checkpoint{}, errors.New("checkpoint: empty extension line")
		}
		c.Extensions = append(c.Extensions, e)
	}
	return c, nil
}

// CheckpointLine is how a checkpoint is stored in a segment and in
// checkpoints.log: {"ckpt":"<signed note>"}.
type CheckpointLine struct {
	Note string `json:"ckpt"`
}

// IsCheckpointLine reports whether line is a stored checkpoint.
func IsCheckpointLine(line []byte) bool { return bytes.HasPrefix(line, []byte(`{"ckpt":`)) }

// AppendCheckpointLine appends the stored form of a signed note.
func AppendCheckpointLine(dst, signed []byte) []byte {
	b, _ := json.Marshal(CheckpointLine{Note: string(signed)})
	return append(dst, b...)
}

// ParseCheckpointLine returns the signed note of a stored checkpoint.
func ParseCheckpointLine(line []byte) ([]byte, error) {
	var cl CheckpointLine
	if err := json.Unmarshal(line, &cl); err != nil || cl.Note == "" {
		return nil, errors.New("malformed checkpoint line")
	}
	return []byte(cl.Note), nil
}

package integrity

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// LeafHash is the RFC 6962 leaf hash of a stored line (without its newline).
func LeafHash(line []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(line)
	return h.Sum(make([]byte, 0, 32))
}

// Tree is the compact Merkle range over every entry line so far: O(log n)
// hashes, about two SHA-256 per append.
type Tree struct {
	r *compact.Range
	h hash.Hash // reused for leaf hashes
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{r: rangeFactory.NewEmptyRange(0), h: sha256.New()} }

// TreeFrom rebuilds a tree of the given size from its compact range hashes.
func TreeFrom(size uint64, hashes [][]byte) (*Tree, error) {
	r, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("merkle range: %w", err)
	}
	return &Tree{r: r, h: sha256.New()}, nil
}

var leafPrefix = []byte{0}

// Append adds the line as the next leaf.
func (t *Tree) Append(line []byte) {
	t.h.Reset()
	t.h.Write(leafPrefix)
	t.h.Write(line)
	_ = t.r.Append(t.h.Sum(make([]byte, 0, 32)), nil)
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return t.r.End() }

// Root is the RFC 6962 root hash.
func (t *Tree) Root() []byte {
	if t.r.End() == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	root, _ := t.r.GetRootHash(nil)
	return root
}

// Hashes is the compact range, to persist and resume from.
func (t *Tree) Hashes() [][]byte {
	hs := t.r.Hashes()
	out := make([][]byte, len(hs))
	for i, h := range hs {
		out[i] = append([]byte(nil), h...)
	}
	return out
}

// Checkpoint is the C2SP tlog-checkpoint body: origin, tree size, root.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
}

func (c Checkpoint) body() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
}

// SignCheckpoint returns the signed note for c.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
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
	return Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
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

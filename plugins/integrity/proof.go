package integrity

import (
	"encoding/base64"
	"fmt"

	"github.com/buger/jsonparser"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// InclusionProof lets anyone holding only the public key check that one
// entry line is in the log committed to by a signed checkpoint.
type InclusionProof struct {
	EventID    string   `json:"event_id,omitempty"`
	LeafIndex  uint64   `json:"leaf_index"`
	Entry      string   `json:"entry"`      // the stored entry line
	Checkpoint string   `json:"checkpoint"` // signed note
	Proof      []string `json:"proof"`      // base64 RFC 6962 audit path
}

// BuildInclusion computes the audit path of leaf index in the tree of the
// first size leaves.
func BuildInclusion(leaves [][]byte, index, size uint64) ([][]byte, error) {
	if size > uint64(len(leaves)) {
		return nil, fmt.Errorf("tree size %d beyond %d leaves", size, len(leaves))
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		begin := id.Index << id.Level
		end := (id.Index + 1) << id.Level
		hashes[i] = subtreeHash(leaves[begin:end])
	}
	return nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

// subtreeHash hashes a perfect subtree (len a power of two).
func subtreeHash(leaves [][]byte) []byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	half := len(leaves) / 2
	return rfc6962.DefaultHasher.HashChildren(subtreeHash(leaves[:half]), subtreeHash(leaves[half:]))
}

// CheckInclusion verifies p with only the public key: the checkpoint's
// signature, then the audit path from the entry's leaf hash to its root.
func CheckInclusion(p *InclusionProof, pub note.Verifier) (Checkpoint, error) {
	c, err := OpenCheckpoint([]byte(p.Checkpoint), pub)
	if err != nil {
		return c, err
	}
	// Only an entry line is a leaf: any other text hashed as one could be
	// built to match an entry's version 2 leaf.
	var e Entry
	if err := ParseEntryLine([]byte(p.Entry), &e); err != nil {
		return c, fmt.Errorf("proof's entry is not an entry line: %w", err)
	}
	if p.EventID != "" {
		if id, err := jsonparser.GetString(e.Event, "event_id"); err != nil || id != p.EventID {
			return c, fmt.Errorf("proof names event %q but its entry holds event %q", p.EventID, id)
		}
	}
	path := make([][]byte, len(p.Proof))
	for i, s := range p.Proof {
		h, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(h) != 32 {
			return c, fmt.Errorf("proof hash %d malformed", i)
		}
		path[i] = h
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, c.Size, LeafHash([]byte(p.Entry)), path, c.Root); err != nil {
		return c, fmt.Errorf("inclusion proof does not verify: %w", err)
	}
	return c, nil
}

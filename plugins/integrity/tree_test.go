package integrity

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The tree agrees with the transparency-dev compact range (the reference
// RFC 6962 implementation) on root and range at every size, and resumes from
// its range.
func TestTreeMatchesCompactRange(t *testing.T) {
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	ref := rf.NewEmptyRange(0)
	tree := NewTree()
	for i := range 600 {
		line := []byte(fmt.Sprintf(`{"v":1,"seq":%d}`, i))
		tree.Append(line)
		if err := ref.Append(rfc6962.DefaultHasher.HashLeaf(line), nil); err != nil {
			t.Fatal(err)
		}
		want, err := ref.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tree.Root(), want) {
			t.Fatalf("size %d: root differs", i+1)
		}
		hs := tree.Hashes()
		if len(hs) != len(ref.Hashes()) {
			t.Fatalf("size %d: %d range hashes, want %d", i+1, len(hs), len(ref.Hashes()))
		}
		for j := range hs {
			if !bytes.Equal(hs[j], ref.Hashes()[j]) {
				t.Fatalf("size %d: range hash %d differs", i+1, j)
			}
		}
		if i%37 == 0 {
			if tree, err = TreeFrom(tree.Size(), hs); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !bytes.Equal(NewTree().Root(), rfc6962.DefaultHasher.EmptyRoot()) {
		t.Fatal("empty root")
	}
	if _, err := TreeFrom(5, [][]byte{make([]byte, 32)}); err == nil {
		t.Fatal("accepted a range with too few hashes")
	}
}

// A chain's leaf memo gives the leaf hash a store would compute, and only
// for the very slice it was made for.
func TestLeafMemoBindsTheVeryLine(t *testing.T) {
	now := time.Unix(1_790_000_000, 0)
	c, err := NewChain(v1Seed, "test.example/memo", time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	var line []byte
	c.Sign(now, []byte(`{"event_id":"a","n":1}`), func(l []byte) { line = l })
	m := c.LastLeaf()
	leaf, ok := m.For(line)
	if !ok || !bytes.Equal(leaf[:], LeafHash(line)) {
		t.Fatalf("memo for its own line: ok %v, leaf %x, want %x", ok, leaf, LeafHash(line))
	}
	if _, ok := m.For(bytes.Clone(line)); ok {
		t.Error("memo taken for equal bytes elsewhere in memory")
	}
	if _, ok := m.For(line[:len(line)-1]); ok {
		t.Error("memo taken for a prefix of its line")
	}
	var none *LeafMemo
	if _, ok := none.For(line); ok {
		t.Error("nil memo taken")
	}
}

package integrity

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
)

// testdata/v1 holds a chain written by the version 1 signer (entries, epoch
// seals and its saved state) under a fixed seed.
var v1Seed = []byte("0123456789abcdef0123456789abcdef")

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

func verifyLines(t *testing.T, seed []byte, lines [][]byte) (*Verifier, []Finding) {
	t.Helper()
	v, err := NewVerifier(seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		v.Entry(Pos{Line: i + 1}, l)
	}
	return v, v.Finish()
}

// A version 1 chain still verifies, and a signer restored from its state
// goes on writing version 1 entries that verify as one chain with it.
func TestVersion1ChainVerifiesAndContinues(t *testing.T) {
	lines := readLines(t, filepath.Join("testdata", "v1", "chain.jsonl"))
	v, findings := verifyLines(t, v1Seed, lines)
	if len(findings) != 0 || v.Events != 12 || v.EpochSeals != 2 {
		t.Fatalf("v1 fixture: findings %v, %d events, %d seals", findings, v.Events, v.EpochSeals)
	}
	state, err := os.ReadFile(filepath.Join("testdata", "v1", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := RestoreChain(state)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_130, 0)
	for i := range 5 {
		c.Sign(now.Add(time.Duration(i)*time.Second), []byte(fmt.Sprintf(`{"event_id":"late%d"}`, i)), func(l []byte) {
			if lineVersion(l) != Version1 {
				t.Fatalf("restored v1 chain wrote %.12s", l)
			}
			lines = append(lines, append([]byte(nil), l...))
		})
	}
	if _, findings := verifyLines(t, v1Seed, lines); len(findings) != 0 {
		t.Fatalf("v1 chain continued after restore: %v", findings)
	}
}

func signV2(t *testing.T, n int) [][]byte {
	lines, _ := signV2Chain(t, n)
	return lines
}

// signV2Chain signs n events in a new chain and returns their lines and the
// chain.
func signV2Chain(t *testing.T, n int) ([][]byte, *Chain) {
	t.Helper()
	now := time.Unix(1_800_000_000, 0)
	c, err := NewChain(v1Seed, "test.example/v2", time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for i := range n {
		c.Sign(now.Add(time.Duration(i)*7*time.Second), []byte(fmt.Sprintf(`{"event_id":"ev%d","n":%d}`, i, i)), func(l []byte) {
			lines = append(lines, append([]byte(nil), l...))
		})
	}
	return lines, c
}

// A new chain is version 2; its leaves are RFC 6962 leaves over the line
// with ev replaced by its SHA-256, and the chain verifies.
func TestVersion2LeafAndChain(t *testing.T) {
	lines, chain := signV2Chain(t, 30)
	if _, findings := verifyLines(t, v1Seed, lines); len(findings) != 0 {
		t.Fatalf("v2 chain: %v", findings)
	}
	tree := NewTree()
	for _, l := range lines {
		if lineVersion(l) != Version2 {
			t.Fatalf("new chain wrote %.12s", l)
		}
		var e Entry
		if err := ParseEntryLine(l, &e); err != nil {
			t.Fatal(err)
		}
		evAt := bytes.Index(l, []byte(`,"ev":`)) + len(`,"ev":`)
		sum := sha256.Sum256(e.Event)
		input := append([]byte("sentinel/v2/leaf\x00"), l[:evAt]...)
		input = append(append(input, sum[:]...), l[evAt+len(e.Event):]...)
		if want := rfc6962.DefaultHasher.HashLeaf(input); !bytes.Equal(LeafHash(l), want) {
			t.Fatalf("leaf of %.30s differs from the documented input", l)
		}
		tree.Append(l)
	}
	// The signer hashed ev before the line existed; a reader hashes the
	// stored line: both must come to the same tree.
	if !bytes.Equal(tree.Root(), chain.tree.Root()) {
		t.Fatal("the tree over the stored lines differs from the signer's")
	}
}

// Every byte of a v2 line is covered: one changed byte changes the leaf or
// the line no longer parses, and a line relabelled v1 is named.
func TestVersion2LineBinding(t *testing.T) {
	lines := signV2(t, 3)
	l := lines[2]
	leaf := LeafHash(l)
	for i := range l {
		m := append([]byte(nil), l...)
		m[i] ^= 0x01
		var e Entry
		if ParseEntryLine(m, &e) == nil && bytes.Equal(LeafHash(m), leaf) {
			t.Fatalf("byte %d (%q) changed, leaf unchanged", i, l[i])
		}
	}
	relabelled := append([][]byte(nil), lines...)
	relabelled[2] = bytes.Replace(l, []byte(`{"v":2,`), []byte(`{"v":1,`), 1)
	_, findings := verifyLines(t, v1Seed, relabelled)
	if len(findings) == 0 || findings[0].Kind != Modified || findings[0].Line != 3 {
		t.Fatalf("relabelled line: %v", findings)
	}
}

// Numbers past uint64 and non-canonical MAC spellings do not parse: they
// would let two lines read as one entry.
func TestEntryLineSpellings(t *testing.T) {
	l := signV2(t, 2)[1]
	var e Entry
	if err := ParseEntryLine(l, &e); err != nil {
		t.Fatal(err)
	}
	over := bytes.Replace(l, []byte(`"seq":1,`), []byte(`"seq":18446744073709551617,`), 1)
	if ParseEntryLine(over, &e) == nil {
		t.Fatal("seq past uint64 parsed")
	}
	// The MAC's last character carries 2 bits and 4 zero bits; the next
	// character of the alphabet sets a zero bit and decodes to the same MAC
	// under a lenient decoder.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := len(l) - len(`"}`) - 1
	alt := append([]byte(nil), l...)
	alt[i] = alphabet[bytes.IndexByte([]byte(alphabet), l[i])+1]
	if ParseEntryLine(alt, &e) == nil {
		t.Fatal("non-canonical MAC spelling parsed")
	}
}

package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
)

// testdata/v1store was written by encryptor -> signer -> file before entry
// format 2 (two signer runs, so a restart entry, over two sealed segments).
// It verifies with the seed and with the public key alone, and altering it
// is still named.
func TestVersion1StoreVerifies(t *testing.T) {
	keys := filepath.Join("testdata", "v1store", "keys")
	seed, err := integrity.LoadSeed(keys)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := integrity.LoadVerifier(keys)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("testdata", "v1store", "store")
	for _, opts := range []VerifyOptions{{Seed: seed, Pub: pub}, {Pub: pub}} {
		rep, err := Verify(src, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Intact() || rep.Events != 40 || rep.Segments != 2 || rep.Restarts != 1 || rep.Checkpoints == 0 {
			t.Fatalf("v1 store (seed %v): %+v", opts.Seed != nil, rep)
		}
	}

	dir := t.TempDir()
	for _, name := range []string{"seg-00000001.jsonl", "seg-00000002.jsonl", "checkpoints.log"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "seg-00000002.jsonl" {
			b = bytes.Replace(b, []byte(`"ev0031"`), []byte(`"ev0013"`), 1)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, opts := range []VerifyOptions{{Seed: seed}, {Pub: pub}} {
		rep, err := Verify(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Intact() || rep.Findings[0].Kind != integrity.Modified || rep.Findings[0].Segment != 2 {
			t.Fatalf("altered v1 store: %+v", rep.Findings)
		}
	}
}

package signer

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func keygen(t *testing.T) string {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "keys")
	if _, err := integrity.Keygen(keys, ""); err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestConformance(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"keys": keygen(t)})
	sdktest.Conformance(t, Definition, sdktest.Options{Config: raw})
}

// Idle ticks still seal epochs and write checkpoints.
func TestIdleTicksSealEpochsAndCheckpoint(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"keys": keygen(t), "epoch": "1m", "checkpoint_interval": "10s"})
	now := time.Unix(1_800_000_000, 0)
	s := &Signer{now: func() time.Time { return now }}
	if err := s.Configure(context.Background(), sdk.Config{DataDir: t.TempDir(), Raw: raw}); err != nil {
		t.Fatal(err)
	}
	out, _ := s.Process(context.Background(), &sdk.Batch{Records: sdktest.Records(2)})
	if out.Len() != 3 { // genesis + 2 events
		t.Fatalf("%d records", out.Len())
	}
	now = now.Add(3*time.Minute + time.Second)
	out, err := s.Process(context.Background(), &sdk.Batch{})
	if err != nil {
		t.Fatal(err)
	}
	seals, ckpts := 0, 0
	for _, r := range out.Records {
		switch r.Attributes[AttrLine] {
		case "checkpoint":
			ckpts++
		case "entry":
			var e integrity.Entry
			if integrity.ParseEntryLine(r.Body, &e) == nil && e.Kind == integrity.KindEpochSeal {
				seals++
			}
		}
	}
	if seals != 3 || ckpts != 1 {
		t.Fatalf("idle tick: %d epoch seals, %d checkpoints; want 3 and 1", seals, ckpts)
	}
}

func TestMissingKeysFailClearly(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"keys": filepath.Join(t.TempDir(), "nope")})
	err := (&Signer{}).Configure(context.Background(), sdk.Config{DataDir: t.TempDir(), Raw: raw})
	if err == nil {
		t.Fatal("configured without keys")
	}
}

// Each event's entry record carries its line's leaf hash for a store in the
// same process, right for that line and for nothing else.
func TestEntryRecordsCarryTheirLeafHash(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"keys": keygen(t)})
	s := &Signer{}
	if err := s.Configure(context.Background(), sdk.Config{DataDir: t.TempDir(), Raw: raw}); err != nil {
		t.Fatal(err)
	}
	in := sdktest.Records(5)
	out, err := s.Process(context.Background(), &sdk.Batch{Records: in})
	if err != nil {
		t.Fatal(err)
	}
	withMemo := 0
	for _, r := range out.Records {
		memo, ok := r.Memo.(*integrity.LeafMemo)
		if !ok {
			continue // the genesis entry: the store hashes it
		}
		leaf, ok := memo.For(r.Body)
		if !ok || string(leaf[:]) != string(integrity.LeafHash(r.Body)) {
			t.Fatalf("memo of %s does not give its line's leaf hash", r.ID)
		}
		withMemo++
	}
	if withMemo != len(in) {
		t.Fatalf("%d of %d event entries carry a leaf memo", withMemo, len(in))
	}
	for _, r := range in {
		if r.Memo != nil {
			t.Fatal("the signer left a memo on its input, which a retry sends again")
		}
	}
}

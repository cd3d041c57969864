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

package store

import (
	"testing"
	"time"
)

func TestIntactStoreVerifiesWithSeedAndWithPublicKey(t *testing.T) {
	fx := newFixture(t, Options{SegmentSize: 16 << 10})
	fx.write(500, 64, 100*time.Millisecond)
	fx.write(300, 64, 2*time.Second) // crosses epochs
	fx.close()
	for _, mode := range []struct {
		name      string
		seed, pub bool
	}{{"seed and public key", true, true}, {"seed only", true, false}, {"public key only", false, true}} {
		t.Run(mode.name, func(t *testing.T) {
			rep := fx.verify(mode.seed, mode.pub)
			if !rep.Intact() {
				t.Fatalf("intact store reported %v", rep.Findings)
			}
			if rep.Events != 800 || rep.Segments < 3 || rep.EpochSeals == 0 {
				t.Fatalf("summary: %+v", rep)
			}
		})
	}
}

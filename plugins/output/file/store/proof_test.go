package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
)

func TestInclusionProofChecksWithPublicKeyOnly(t *testing.T) {
	fx := newFixture(t, Options{SegmentSize: 8 << 10})
	fx.write(300, 32, 50*time.Millisecond)
	fx.close()
	for _, id := range []string{"ev000000", "ev000123", "ev000299"} {
		p, err := Prove(fx.dir, id, fx.pub)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(p)
		var back integrity.InclusionProof
		json.Unmarshal(b, &back)
		if _, err := integrity.CheckInclusion(&back, fx.pub); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		back.Entry = back.Entry[:len(back.Entry)-50] + back.Entry[len(back.Entry)-49:]
		if _, err := integrity.CheckInclusion(&back, fx.pub); err == nil {
			t.Fatalf("%s: altered entry passed its proof", id)
		}
	}
}

package store

import (
	"crypto/sha256"
	"encoding/json"
	"strings"
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
		entry := back.Entry
		back.Entry = entry[:len(entry)-50] + entry[len(entry)-49:]
		if _, err := integrity.CheckInclusion(&back, fx.pub); err == nil {
			t.Fatalf("%s: altered entry passed its proof", id)
		}
		// The text a version 2 leaf hashes, offered as the entry, is not one.
		var e integrity.Entry
		if err := integrity.ParseEntryLine([]byte(entry), &e); err != nil {
			t.Fatal(err)
		}
		evAt := strings.Index(entry, `,"ev":`) + len(`,"ev":`)
		sum := sha256.Sum256(e.Event)
		back.EventID = ""
		back.Entry = "sentinel/v2/leaf\x00" + entry[:evAt] + string(sum[:]) + entry[evAt+len(e.Event):]
		if _, err := integrity.CheckInclusion(&back, fx.pub); err == nil {
			t.Fatalf("%s: a leaf's preimage passed as its entry", id)
		}
		back.Entry, back.EventID = entry, "ev999999" // a proof for one event, relabelled as another
		if _, err := integrity.CheckInclusion(&back, fx.pub); err == nil {
			t.Fatalf("%s: proof passed for an event it does not hold", id)
		}
	}
}

package store

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
)

// restartFixture writes 60 stored events, then signs 10 that never reach the
// store (a crash between signer and store), restarts the chain from its
// state, and stores 30 more.
func restartFixture(t *testing.T, window uint64) (*fixture, uint64, uint64) {
	fx := newFixture(t, Options{SegmentSize: 16 << 10})
	fx.chain.SetRestartWindow(window)
	fx.write(60, 25, 100*time.Millisecond)
	lostFrom := fx.chain.Point().NextSeq
	for i := range 10 {
		fx.now = fx.now.Add(time.Second)
		fx.chain.Sign(fx.now, []byte(`{"event_id":"lost`+string(rune('a'+i))+`"}`), func([]byte) {})
	}
	lostTo := fx.chain.Point().NextSeq - 1
	restored, err := integrity.RestoreChain(fx.chain.MarshalState())
	if err != nil {
		t.Fatal(err)
	}
	fx.chain = restored
	var lines [][]byte
	fx.chain.Restart(fx.now, func(l []byte) { lines = append(lines, l) })
	if err := fx.st.Append(lines); err != nil {
		t.Fatal(err)
	}
	fx.write(30, 25, 100*time.Millisecond)
	fx.checkpoint()
	return fx, lostFrom, lostTo
}

func TestDeclaredCrashLossVerifiesWithAWarning(t *testing.T) {
	fx, from, to := restartFixture(t, 100)
	fx.close()
	for _, mode := range []struct{ seed, pub bool }{{true, true}, {true, false}, {false, true}} {
		rep := fx.verify(mode.seed, mode.pub)
		if !rep.Intact() {
			t.Fatalf("seed=%v pub=%v: %v", mode.seed, mode.pub, rep.Findings)
		}
		if len(rep.Losses) != 1 || rep.Losses[0].From != from || rep.Losses[0].To != to || rep.Restarts != 1 {
			t.Fatalf("seed=%v pub=%v: losses %+v, want one %d..%d", mode.seed, mode.pub, rep.Losses, from, to)
		}
	}
	// The store reopens after the restart entry (tracker follows it).
	st := fx.open(Options{Dir: fx.dir, Framed: true, Signer: fx.signer, Now: func() time.Time { return fx.now }})
	fx.st = st
	fx.write(5, 0, time.Second)
	fx.close()
	if rep := fx.verify(true, true); !rep.Intact() {
		t.Fatalf("after reopening: %v", rep.Findings)
	}
}

func TestRestartWithoutGapIsNoLoss(t *testing.T) {
	fx := newFixture(t, Options{})
	fx.chain.SetRestartWindow(100)
	fx.write(20, 10, time.Second)
	var lines [][]byte
	fx.chain.Restart(fx.now, func(l []byte) { lines = append(lines, l) })
	fx.st.Append(lines)
	fx.write(5, 0, time.Second)
	fx.checkpoint()
	fx.close()
	rep := fx.verify(true, true)
	if !rep.Intact() || len(rep.Losses) != 0 || rep.Restarts != 1 {
		t.Fatalf("findings %v losses %v restarts %d", rep.Findings, rep.Losses, rep.Restarts)
	}
}

func TestGapBeyondTheRestartWindowIsDeletion(t *testing.T) {
	fx, _, _ := restartFixture(t, 5) // 10 lost, at most 5 declarable
	fx.close()
	expect(t, fx.verify(true, true), integrity.Deleted)
	expect(t, fx.verify(false, true), integrity.Deleted)
}

// An attacker without the chain key deletes the newest entries and forges a
// restart entry that would excuse the gap: the MAC gives it away, and
// checkpoints.log still vouches for the deleted entries.
func TestAttackForgedRestartEntry(t *testing.T) {
	fx := newFixture(t, Options{})
	fx.chain.SetRestartWindow(100)
	fx.write(40, 10, time.Second) // checkpoints at 10, 20, 30, 40 entries (and in checkpoints.log)
	// The attacker knows the public chain point but not the key.
	var st map[string]map[string]any
	json.Unmarshal(fx.chain.MarshalState(), &st)
	var fake [32]byte
	rand.Read(fake[:])
	key := make([]int, 32)
	for i, b := range fake {
		key[i] = int(b)
	}
	st["ratchet"]["entry_key"] = key
	b, _ := json.Marshal(st)
	forger, err := integrity.RestoreChain(b)
	if err != nil {
		t.Fatal(err)
	}
	var forged []byte
	forger.Restart(fx.now, func(l []byte) { forged = l })
	fx.st.f.Close() // the host is gone; the attacker edits the active segment
	editSeg(fx, 1, func(ls [][]byte) [][]byte {
		var keep [][]byte
		for _, l := range ls {
			var e integrity.Entry
			if integrity.ParseEntryLine(l, &e) == nil && e.Seq >= 25 {
				continue
			}
			if integrity.IsCheckpointLine(l) && (bytes.Contains(l, []byte(`\n30\n`)) || bytes.Contains(l, []byte(`\n40\n`))) {
				continue
			}
			keep = append(keep, l)
		}
		return append(keep, forged)
	})
	f := expect(t, fx.verify(true, false), integrity.Deleted)
	if !bytes.Contains([]byte(f.Detail), []byte("forged")) {
		t.Fatalf("finding %v does not name the forged restart entry", f)
	}
	// With only the public key the MAC cannot be checked, but checkpoints.log
	// vouches for entries the forged entry calls lost.
	expect(t, fx.verify(false, true), integrity.Deleted)
}

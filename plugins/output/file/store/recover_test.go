package store

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// A crash mid-write leaves a torn line; on reopen it is cut and reported, the
// host's replay of the unacknowledged batch is deduplicated, and the store
// verifies intact.
func TestTornWriteIsCutReportedAndReplayedBatchDeduplicated(t *testing.T) {
	fx := newFixture(t, Options{})
	fx.write(50, 10, 100*time.Millisecond)
	var batch [][]byte
	for i := 0; i < 20; i++ {
		fx.now = fx.now.Add(100 * time.Millisecond)
		fx.chain.Sign(fx.now, []byte(fmt.Sprintf(`{"event_id":"b2-%d"}`, i)), func(l []byte) { batch = append(batch, l) })
	}
	// The crash: the first lines of the batch and half of the next reach the disk.
	var partial []byte
	for _, l := range batch[:5] {
		partial = append(append(partial, l...), '\n')
	}
	partial = append(partial, batch[5][:len(batch[5])/2]...)
	seg := SegmentPath(fx.dir, 1)
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(partial)
	f.Close()
	fx.st.ckpts.Close() // the process died; nothing sealed

	st := fx.open(Options{Dir: fx.dir, Framed: true, Signer: fx.signer, Now: func() time.Time { return fx.now }})
	if st.Recovery == nil || st.Recovery.Bytes != int64(len(batch[5])/2) {
		t.Fatalf("recovery = %+v, want %d bytes cut", st.Recovery, len(batch[5])/2)
	}
	fx.st = st
	if err := st.Append(batch); err != nil { // the host's replay
		t.Fatal(err)
	}
	if st.Status().Replayed != 5 {
		t.Fatalf("replayed = %d, want 5", st.Status().Replayed)
	}
	fx.checkpoint()
	fx.close()
	rep := fx.verify(true, true)
	if !rep.Intact() {
		t.Fatalf("recovered store: %v", rep.Findings)
	}
	if len(rep.Recovered) != 1 || rep.Events != 70 {
		t.Fatalf("report %+v", rep)
	}
}

func TestSealedSegmentsAreReadOnlyAndRotateBySize(t *testing.T) {
	fx := newFixture(t, Options{SegmentSize: 8 << 10})
	fx.write(200, 0, 10*time.Millisecond)
	fx.close()
	segs, _ := Segments(fx.dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want rotation by size", len(segs))
	}
	for _, n := range segs {
		fi, err := os.Stat(SegmentPath(fx.dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o440 {
			t.Fatalf("segment %d mode %v, want 0440", n, fi.Mode().Perm())
		}
		if fi.Size() > 8<<10+2048 {
			t.Fatalf("segment %d is %d bytes", n, fi.Size())
		}
	}
}

func TestRetentionDeletesOnlyExpiredSealedSegmentsAndStillVerifies(t *testing.T) {
	fx := newFixture(t, Options{SegmentSize: 8 << 10})
	fx.write(200, 20, 10*time.Millisecond)
	fx.now = fx.now.Add(48 * time.Hour)
	fx.write(50, 20, 10*time.Millisecond)
	before, _ := Segments(fx.dir)
	events, err := fx.st.EnforceRetention(24 * time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := Segments(fx.dir)
	if len(events) == 0 || len(after) >= len(before) {
		t.Fatalf("retention removed %d events; segments %v -> %v", len(events), before, after)
	}
	for _, ev := range events {
		if !strings.Contains(string(ev), `"event_type":"mcp_compliance_events"`) {
			t.Fatalf("retention event %s", ev)
		}
	}
	fx.checkpoint()
	fx.close()
	rep := fx.verify(true, true)
	if !rep.Intact() {
		t.Fatalf("store after retention: %v", rep.Findings)
	}
	if len(rep.Retired) != len(events) {
		t.Fatalf("report names %v retired", rep.Retired)
	}
}

func TestRotationByAge(t *testing.T) {
	fx := newFixture(t, Options{SegmentAge: time.Hour})
	fx.write(10, 0, time.Second)
	fx.now = fx.now.Add(2 * time.Hour)
	fx.write(10, 0, time.Second)
	fx.close()
	if segs, _ := Segments(fx.dir); len(segs) != 2 {
		t.Fatalf("segments %v, want 2", segs)
	}
	if rep := fx.verify(true, true); !rep.Intact() {
		t.Fatal(rep.Findings)
	}
}

// A store reopened after a clean close has no active segment until it
// writes. Retention then must not leave it without any segment: the
// removal is recorded in a new active segment, chained to the last seal,
// and the store verifies, naming what retention removed.
func TestRetentionOnAReopenedStoreKeepsItVerifiable(t *testing.T) {
	fx := newFixture(t, Options{SegmentSize: 8 << 10})
	fx.write(200, 20, 10*time.Millisecond)
	fx.close()
	fx.now = fx.now.Add(48 * time.Hour)
	fx.st = fx.open(Options{Dir: fx.dir, Framed: true, SegmentSize: 8 << 10, Signer: fx.signer, Now: func() time.Time { return fx.now }})
	before, _ := Segments(fx.dir)
	events, err := fx.st.EnforceRetention(24 * time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != len(before) {
		t.Fatalf("retention removed %d of %d expired segments", len(events), len(before))
	}
	fx.close()
	after, _ := Segments(fx.dir)
	if len(after) == 0 {
		t.Fatal("retention left no segment")
	}
	if !strings.Contains(string(fx.readSegment(after[len(after)-1])), `"retention_delete"`) {
		t.Fatal("the removal is not recorded in the store")
	}
	for _, pub := range []bool{false, true} {
		if rep := fx.verify(true, pub); !rep.Intact() || len(rep.Retired) != len(events) {
			t.Fatalf("pub %v: findings %v, retired %v", pub, rep.Findings, rep.Retired)
		}
	}
}

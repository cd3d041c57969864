package store

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
)

// closedAfterCheckpoint is the fuzz target's store: the last thing before
// Close is a checkpoint, so the seal's checkpoint covers the same tree.
func closedAfterCheckpoint(t *testing.T) (*fixture, int) {
	fx := newFixture(t, Options{SegmentSize: 8 << 10})
	fx.write(120, 16, 300*time.Millisecond)
	fx.checkpoint()
	fx.close()
	segs, _ := Segments(fx.dir)
	return fx, segs[len(segs)-1]
}

// Cutting the last segment after its last entry removes the signer's final
// checkpoint, the seal checkpoint and the seal: the segment then looks like
// one a crash left unsealed. checkpoints.log still records the seal, so the
// cut is named.
func TestCutSealOfLastSegment(t *testing.T) {
	for _, keep := range []string{"entries", "seal checkpoint"} {
		t.Run(keep, func(t *testing.T) {
			fx, last := closedAfterCheckpoint(t)
			var lines int
			editSeg(fx, last, func(ls [][]byte) [][]byte {
				end := len(ls) - 1 // drop the seal line
				if keep == "entries" {
					for !integrity.IsEntryLine(ls[end-1]) {
						end--
					}
				}
				lines = end
				return ls[:end]
			})
			for _, seed := range []bool{true, false} {
				f := expect(t, fx.verify(seed, true), integrity.TruncatedTail)
				if f.Segment != last || f.Line != lines || !strings.Contains(f.Detail, CheckpointsFile) {
					t.Fatalf("named %v, want segment %d line %d from %s", f, last, lines, CheckpointsFile)
				}
			}
		})
	}
}

// Removing the whole last segment is named even when it held no entries of
// its own (a restart that sealed at once): only its seal record is left.
func TestDeletedEmptyLastSegment(t *testing.T) {
	fx, last := closedAfterCheckpoint(t)
	opts := Options{Dir: fx.dir, Framed: true, Signer: fx.signer, Now: func() time.Time { return fx.now }}
	st := fx.open(opts)
	if err := st.Append([][]byte{}); err != nil { // opens segment last+1
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if rep := fx.verify(true, true); !rep.Intact() {
		t.Fatalf("store with an empty sealed segment: %v", rep.Findings)
	}
	os.Remove(SegmentPath(fx.dir, last+1))
	f := expect(t, fx.verify(true, true), integrity.TruncatedTail)
	if f.Segment != last+1 {
		t.Fatalf("named %v, want segment %d", f, last+1)
	}
}

// Every seal checkpoint names its segment, reaches checkpoints.log, and
// differs from a signer checkpoint of the same tree.
func TestSealCheckpointNamesSegment(t *testing.T) {
	fx, last := closedAfterCheckpoint(t)
	b, err := os.ReadFile(filepath.Join(fx.dir, CheckpointsFile))
	if err != nil {
		t.Fatal(err)
	}
	var sealed []int
	var prev []byte
	for _, l := range splitLines(b) {
		msg, err := integrity.ParseCheckpointLine(l)
		if err != nil {
			t.Fatal(err)
		}
		c, err := integrity.OpenCheckpoint(msg, fx.pub)
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := sealedSegment(c); ok {
			sealed = append(sealed, n)
			if bytes.Equal(l, prev) {
				t.Fatal("seal checkpoint is byte-identical to the checkpoint before it")
			}
		}
		prev = l
	}
	if len(sealed) != last || sealed[len(sealed)-1] != last {
		t.Fatalf("seal records %v, want one per segment 1..%d", sealed, last)
	}
	if seg := fx.readSegment(last); !bytes.Contains(seg, []byte(sealExtension(last))) {
		t.Fatal("segment's own seal checkpoint does not name it")
	}
}

// A checkpoint without extension lines (every one before seal records)
// parses as before; extension lines must not be empty.
func TestCheckpointExtensions(t *testing.T) {
	fx, _ := closedAfterCheckpoint(t)
	c := integrity.Checkpoint{Origin: "test.example/audit", Size: 3, Root: make([]byte, 32)}
	plain, err := integrity.SignCheckpoint(c, fx.signer)
	if err != nil {
		t.Fatal(err)
	}
	got, err := integrity.OpenCheckpoint(plain, fx.pub)
	if err != nil || got.Size != 3 || got.Extensions != nil {
		t.Fatalf("plain checkpoint: %+v %v", got, err)
	}
	if _, ok := sealedSegment(got); ok {
		t.Fatal("plain checkpoint read as a seal")
	}
	c.Extensions = []string{"other-ext 1", sealExtension(7)}
	ext, err := integrity.SignCheckpoint(c, fx.signer)
	if err != nil {
		t.Fatal(err)
	}
	got, err = integrity.OpenCheckpoint(ext, fx.pub)
	if n, ok := sealedSegment(got); err != nil || !ok || n != 7 || len(got.Extensions) != 2 {
		t.Fatalf("seal checkpoint: %+v %v", got, err)
	}
	if u, err := integrity.ParseCheckpointUnverified(ext); err != nil || len(u.Extensions) != 2 {
		t.Fatalf("unverified: %+v %v", u, err)
	}
	c.Extensions = []string{""}
	if _, err := integrity.SignCheckpoint(c, fx.signer); err == nil {
		t.Fatal("empty extension line signed")
	}
}

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

// The attack suite: one test per alteration, each must be detected and named.

func splitSeg(b []byte) [][]byte { return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) }

func joinSeg(lines [][]byte) []byte { return append(bytes.Join(lines, []byte("\n")), '\n') }

// entryIdx returns the indexes of the event entry lines of a segment.
func entryIdx(lines [][]byte) []int {
	var out []int
	for i, l := range lines {
		if integrity.IsEntryLine(l) && bytes.Contains(l, []byte(`"k":"e"`)) {
			out = append(out, i)
		}
	}
	return out
}

func sealedFixture(t *testing.T) *fixture {
	fx := newFixture(t, Options{SegmentSize: 16 << 10})
	fx.write(400, 50, 200*time.Millisecond)
	fx.checkpoint()
	fx.close()
	return fx
}

func expect(t *testing.T, rep *Report, kind integrity.Kind) integrity.Finding {
	t.Helper()
	if rep.Intact() {
		t.Fatalf("tampered store reported intact (want %s)", kind)
	}
	if got := rep.Findings[0].Kind; got != kind {
		t.Fatalf("first finding %v, want kind %s", rep.Findings[0], kind)
	}
	return rep.Findings[0]
}

func editSeg(fx *fixture, n int, edit func(lines [][]byte) [][]byte) {
	fx.writeSegment(n, joinSeg(edit(splitSeg(fx.readSegment(n)))))
}

func TestAttackModifyOneByte(t *testing.T) {
	fx := sealedFixture(t)
	var line int
	editSeg(fx, 2, func(ls [][]byte) [][]byte {
		i := entryIdx(ls)[3]
		line = i + 1
		ls[i] = bytes.Replace(ls[i], []byte("read_file"), []byte("read_fild"), 1)
		return ls
	})
	f := expect(t, fx.verify(true, true), integrity.Modified)
	if f.Segment != 2 || f.Line != line {
		t.Fatalf("named %v, want segment 2 line %d", f, line)
	}
	expect(t, fx.verify(false, true), integrity.Modified)
}

func TestAttackDeleteLine(t *testing.T) {
	fx := sealedFixture(t)
	editSeg(fx, 2, func(ls [][]byte) [][]byte {
		i := entryIdx(ls)[5]
		return append(ls[:i], ls[i+1:]...)
	})
	f := expect(t, fx.verify(true, false), integrity.Deleted)
	if f.Segment != 2 {
		t.Fatalf("named %v", f)
	}
}

func TestAttackSwapLines(t *testing.T) {
	fx := sealedFixture(t)
	editSeg(fx, 1, func(ls [][]byte) [][]byte {
		idx := entryIdx(ls)
		ls[idx[4]], ls[idx[5]] = ls[idx[5]], ls[idx[4]]
		return ls
	})
	expect(t, fx.verify(true, false), integrity.Reordered)
}

func TestAttackInsertUnsignedLine(t *testing.T) {
	fx := sealedFixture(t)
	editSeg(fx, 1, func(ls [][]byte) [][]byte {
		i := entryIdx(ls)[2]
		fake := []byte(`{"event_id":"forged","event_type":"mcp_tool_execution"}`)
		return append(ls[:i], append([][]byte{fake}, ls[i:]...)...)
	})
	expect(t, fx.verify(true, false), integrity.Inserted)
}

// An intruder holding the signer's current state forges an entry with the
// current key and slips it between old entries.
func TestAttackInsertForgedWithCurrentKey(t *testing.T) {
	fx := sealedFixture(t)
	var forged [][]byte
	fx.chain.Sign(fx.now.Add(time.Second), []byte(`{"event_id":"forged"}`), func(l []byte) { forged = append(forged, l) })
	editSeg(fx, 1, func(ls [][]byte) [][]byte {
		i := entryIdx(ls)[2]
		return append(ls[:i], append([][]byte{forged[len(forged)-1]}, ls[i:]...)...)
	})
	rep := fx.verify(true, false)
	if rep.Intact() {
		t.Fatal("forged insertion reported intact")
	}
	if k := rep.Findings[0].Kind; k != integrity.Inserted && k != integrity.KeyOutsideEpoch {
		t.Fatalf("got %v", rep.Findings[0])
	}
}

// The CVE-2023-31439 analogue: re-sign an old entry with a later key.
func TestAttackResignOldEntryWithLaterKey(t *testing.T) {
	fx := sealedFixture(t)
	later := fx.now.Add(10 * time.Minute)
	var lines [][]byte
	fx.chain.Sign(later, []byte(`{"event_id":"ev000003","tool_name":"delete_everything"}`), func(l []byte) { lines = append(lines, l) })
	resigned := lines[len(lines)-1]
	editSeg(fx, 1, func(ls [][]byte) [][]byte {
		i := entryIdx(ls)[3]
		var old integrity.Entry
		if err := integrity.ParseEntryLine(ls[i], &old); err != nil {
			t.Fatal(err)
		}
		// keep the old seq and time, so the line sits where the old one was
		var e integrity.Entry
		integrity.ParseEntryLine(resigned, &e)
		e.Seq, e.T = old.Seq, old.T
		ls[i] = integrity.AppendEntryLine(nil, &e)
		return ls
	})
	expect(t, fx.verify(true, false), integrity.KeyOutsideEpoch)
}

// The CVE-2023-31438 analogue: cut the tail and continue with the current key.
func TestAttackTruncateAndContinue(t *testing.T) {
	fx := newFixture(t, Options{})
	fx.write(100, 0, 100*time.Millisecond)
	segs, _ := Segments(fx.dir)
	editSeg(fx, segs[len(segs)-1], func(ls [][]byte) [][]byte { return ls[:len(ls)-20] })
	var lines [][]byte
	fx.chain.Sign(fx.now.Add(time.Second), []byte(`{"event_id":"after"}`), func(l []byte) { lines = append(lines, l) })
	p := SegmentPath(fx.dir, segs[len(segs)-1])
	b, _ := os.ReadFile(p)
	os.WriteFile(p, append(b, append(lines[len(lines)-1], '\n')...), 0o640)
	expect(t, fx.verify(true, false), integrity.Deleted)
}

func TestAttackTruncateTailCaughtByCheckpointLog(t *testing.T) {
	fx := newFixture(t, Options{})
	fx.write(100, 10, 100*time.Millisecond)
	editSeg(fx, 1, func(ls [][]byte) [][]byte { return ls[:len(ls)-25] })
	expect(t, fx.verify(true, true), integrity.TruncatedTail)
}

func TestAttackTornFinalLine(t *testing.T) {
	fx := newFixture(t, Options{})
	fx.write(20, 0, time.Second)
	b := fx.readSegment(1)
	fx.writeSegment(1, b[:len(b)-7])
	expect(t, fx.verify(true, false), integrity.TruncatedTail)
}

func TestAttackDeleteSegment(t *testing.T) {
	for _, n := range []int{1, 2} {
		fx := sealedFixture(t)
		os.Remove(SegmentPath(fx.dir, n))
		f := expect(t, fx.verify(true, true), integrity.MissingSegment)
		if f.Segment != n {
			t.Fatalf("named %v, want segment %d", f, n)
		}
	}
}

func TestAttackReplaceSegmentFromAnotherStore(t *testing.T) {
	fx := sealedFixture(t)
	other := sealedFixture(t)
	fx.writeSegment(2, other.readSegment(2))
	expect(t, fx.verify(true, true), integrity.ReplacedSegment)
}

func TestAttackForgedCheckpointSignature(t *testing.T) {
	fx := sealedFixture(t)
	editSeg(fx, 1, func(ls [][]byte) [][]byte {
		for i, l := range ls {
			if integrity.IsCheckpointLine(l) {
				msg, _ := integrity.ParseCheckpointLine(l)
				forged := string(msg)
				sig := forged[strings.LastIndex(forged, " ")+1:]
				ls[i] = integrity.AppendCheckpointLine(nil, []byte(strings.Replace(forged, sig, "AAAA"+sig[4:], 1)))
				return ls
			}
		}
		t.Fatal("no checkpoint in segment 1")
		return ls
	})
	expect(t, fx.verify(true, true), integrity.ForgedCheckpoint)
}

func TestAttackCheckpointSignedByAnotherKey(t *testing.T) {
	fx := sealedFixture(t)
	other := sealedFixture(t)
	editSeg(fx, 1, func(ls [][]byte) [][]byte {
		for i, l := range ls {
			if integrity.IsCheckpointLine(l) {
				msg, _ := integrity.ParseCheckpointLine(l)
				c, _ := integrity.ParseCheckpointUnverified(msg)
				signed, _ := integrity.SignCheckpoint(c, other.signer)
				ls[i] = integrity.AppendCheckpointLine(nil, signed)
				return ls
			}
		}
		return ls
	})
	expect(t, fx.verify(true, true), integrity.ForgedCheckpoint)
}

// A fork: a validly signed checkpoint whose root is not the stored tree's.
func TestAttackForkedCheckpoint(t *testing.T) {
	fx := sealedFixture(t)
	editSeg(fx, 1, func(ls [][]byte) [][]byte {
		for i, l := range ls {
			if integrity.IsCheckpointLine(l) {
				msg, _ := integrity.ParseCheckpointLine(l)
				c, _ := integrity.ParseCheckpointUnverified(msg)
				c.Root = make([]byte, 32)
				signed, _ := integrity.SignCheckpoint(c, fx.signer)
				ls[i] = integrity.AppendCheckpointLine(nil, signed)
				return ls
			}
		}
		return ls
	})
	expect(t, fx.verify(true, true), integrity.InvalidCheckpoint)
}

func TestAttackReplaceCheckpointLog(t *testing.T) {
	fx := sealedFixture(t)
	other := sealedFixture(t)
	b, _ := os.ReadFile(filepath.Join(other.dir, CheckpointsFile))
	os.WriteFile(filepath.Join(fx.dir, CheckpointsFile), b, 0o640)
	rep := fx.verify(true, true)
	if rep.Intact() {
		t.Fatal("replaced checkpoints.log reported intact")
	}
	if k := rep.Findings[0].Kind; k != integrity.InvalidCheckpoint && k != integrity.TruncatedTail && k != integrity.ForgedCheckpoint {
		t.Fatalf("got %v", rep.Findings[0])
	}
}

func TestAttackEditSealLine(t *testing.T) {
	fx := sealedFixture(t)
	editSeg(fx, 1, func(ls [][]byte) [][]byte {
		ls[len(ls)-1] = bytes.Replace(ls[len(ls)-1], []byte(`"reason":"size"`), []byte(`"reason":"sizf"`), 1)
		return ls
	})
	rep := fx.verify(true, true)
	if rep.Intact() {
		t.Fatal("edited seal reported intact")
	}
}

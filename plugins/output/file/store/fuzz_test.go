package store

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzVerifyCorruptedStore corrupts a sealed store at random (flip, delete,
// duplicate or cut bytes in a segment) and requires that verify never panics
// and never calls a changed store intact.
func FuzzVerifyCorruptedStore(f *testing.F) {
	f.Add(uint64(1), uint8(0), uint16(100))
	f.Add(uint64(7), uint8(1), uint16(3000))
	f.Add(uint64(42), uint8(2), uint16(9))
	f.Add(uint64(9), uint8(3), uint16(5000))
	fx := newFixture(&testing.T{}, Options{SegmentSize: 8 << 10})
	fx.write(120, 16, 300*time.Millisecond)
	fx.checkpoint()
	fx.close()
	segs, _ := Segments(fx.dir)
	orig := map[int][]byte{}
	for _, n := range segs {
		b, _ := os.ReadFile(SegmentPath(fx.dir, n))
		orig[n] = b
	}
	ckpts, _ := os.ReadFile(filepath.Join(fx.dir, CheckpointsFile))
	f.Fuzz(func(t *testing.T, seed uint64, op uint8, at uint16) {
		dir := t.TempDir()
		rng := rand.New(rand.NewPCG(seed, uint64(op)))
		victim := segs[rng.IntN(len(segs))]
		for n, b := range orig {
			data := append([]byte(nil), b...)
			if n == victim {
				i := int(at) % len(data)
				switch op % 4 {
				case 0: // flip bits
					data[i] ^= byte(rng.IntN(255) + 1)
				case 1: // delete a span
					j := min(len(data), i+1+rng.IntN(200))
					data = append(data[:i], data[j:]...)
				case 2: // duplicate a span
					j := min(len(data), i+1+rng.IntN(200))
					data = append(data[:j], append(append([]byte(nil), data[i:j]...), data[j:]...)...)
				case 3: // cut the file
					data = data[:i]
				}
			}
			os.WriteFile(SegmentPath(dir, n), data, 0o640)
		}
		os.WriteFile(filepath.Join(dir, CheckpointsFile), ckpts, 0o640)
		changed := false
		for n, b := range orig {
			got, _ := os.ReadFile(SegmentPath(dir, n))
			if string(got) != string(b) {
				changed = true
			}
		}
		rep, err := Verify(dir, VerifyOptions{Seed: fx.seed, Pub: fx.pub})
		if err != nil {
			return // unreadable store: an error, not "intact"
		}
		if changed && rep.Intact() {
			t.Fatalf("corrupted store (op %d at %d in segment %d) reported intact", op%4, at, victim)
		}
	})
}

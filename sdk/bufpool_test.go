package sdk

import "testing"

func TestWirePoolSizes(t *testing.T) {
	for _, tc := range []struct{ n, cap int }{
		{0, 256}, {1, 256}, {256, 256}, {257, 512}, {48 << 10, 64 << 10},
		{300 << 10, 512 << 10}, {16 << 20, 16 << 20}, {16<<20 + 1, 16<<20 + 1},
	} {
		b := wireBuffers.Get(tc.n)
		if len(*b) != tc.n || cap(*b) != tc.cap {
			t.Errorf("Get(%d): len %d cap %d, want len %d cap %d", tc.n, len(*b), cap(*b), tc.n, tc.cap)
		}
		wireBuffers.Put(b)
	}
}

func TestWirePoolReusesByCapacity(t *testing.T) {
	p := &wirePool{}
	// sync.Pool may drop what it holds at any time (the race detector drops
	// a quarter on purpose), so a reuse is looked for over a few rounds.
	reused := false
	for i := 0; i < 20 && !reused; i++ {
		b := p.Get(40 << 10)
		first := &(*b)[0]
		p.Put(b)
		again := p.Get(33 << 10)
		if len(*again) != 33<<10 || cap(*again) != 64<<10 {
			t.Fatalf("len %d cap %d, want 33 KiB in a 64 KiB buffer", len(*again), cap(*again))
		}
		reused = &(*again)[0] == first
	}
	if !reused {
		t.Fatal("a buffer put back was never handed out again")
	}
	// A capacity that is not a class would land in the class below it and
	// be handed out too small; it must not be pooled at all.
	for i := 0; i < 20; i++ {
		odd := make([]byte, 100, 1000)
		p.Put(&odd)
		if got := p.Get(300); cap(*got) != 512 {
			t.Fatalf("Get(300) after putting back a 1000-byte buffer: cap %d, want 512", cap(*got))
		}
	}
}

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
	b := p.Get(40 << 10)
	(*b)[0] = 7
	p.Put(b)
	// sync.Pool may drop what it holds at any time; a reuse, when it
	// happens, must come back at the asked length with the class's capacity.
	again := p.Get(33 << 10)
	if len(*again) != 33<<10 || cap(*again) != 64<<10 {
		t.Fatalf("len %d cap %d", len(*again), cap(*again))
	}
	odd := make([]byte, 100, 1000) // not a class: must not enter a pool
	p.Put(&odd)
	if got := p.Get(1000); cap(*got) != 1024 {
		t.Fatalf("an odd capacity was pooled: cap %d", cap(*got))
	}
}

package sdk

// Slab hands out byte slices carved from shared arrays of 64 KiB, for a
// plugin that builds a new body for every record: one allocation then serves
// a hundred records instead of one each. Slices never share bytes, and an
// array stays alive while any body carved from it does, so it suits bodies
// that live as long as their batch, not caches. A Slab is not safe for
// concurrent use. A nil *Slab allocates each slice on its own.
type Slab struct{ buf []byte }

const slabSize = 64 << 10

// Buf returns an empty slice with room for n bytes. Append to it, then hand
// the result to Keep before the next Buf.
func (s *Slab) Buf(n int) []byte {
	if s == nil {
		return make([]byte, 0, n)
	}
	if cap(s.buf)-len(s.buf) < n {
		s.buf = make([]byte, 0, max(slabSize, n))
	}
	return s.buf[len(s.buf):len(s.buf)]
}

// Keep takes b, grown from the last Buf, into the slab and returns it with
// its capacity cut to its length, so appending to it never reaches the next
// slice. A b that outgrew its Buf (and so was moved) is returned as it is.
func (s *Slab) Keep(b []byte) []byte {
	if s == nil {
		return b
	}
	if free := s.buf[len(s.buf):cap(s.buf)]; cap(b) == cap(free) && len(b) > 0 && &b[0] == &free[:1][0] {
		s.buf = s.buf[:len(s.buf)+len(b)]
	}
	return b[:len(b):len(b)]
}

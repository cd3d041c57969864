package sdk

import (
	"bytes"
	"testing"
)

func TestSlabCarvesDisjointSlices(t *testing.T) {
	var s Slab
	var kept [][]byte
	for i := range 300 {
		b := s.Buf(500)
		b = append(b, bytes.Repeat([]byte{byte(i)}, 500)...)
		kept = append(kept, s.Keep(b))
	}
	for i, b := range kept {
		if len(b) != 500 || cap(b) != 500 || b[0] != byte(i) || b[499] != byte(i) {
			t.Fatalf("slice %d overwritten or not capped: len %d cap %d first %d", i, len(b), cap(b), b[0])
		}
	}
	// A body that outgrows its Buf moves, and the slab does not count it.
	b := s.Buf(10)
	b = append(b, make([]byte, slabSize+1)...)
	if k := s.Keep(b); len(k) != slabSize+1 {
		t.Fatal("outgrown body cut")
	}
	next := append(s.Buf(4), "next"...)
	last := byte(len(kept) - 1)
	if string(s.Keep(next)) != "next" || kept[len(kept)-1][0] != last {
		t.Fatal("slab reused a kept slice")
	}
	// Appending to a kept slice never writes into the next one.
	first := s.Keep(append(s.Buf(3), "abc"...))
	second := s.Keep(append(s.Buf(3), "xyz"...))
	_ = append(first, '!')
	if string(second) != "xyz" {
		t.Fatalf("append to a kept slice reached the next: %q", second)
	}
}

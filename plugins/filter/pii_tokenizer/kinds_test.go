package piitokenizer

import (
	"strconv"
	"testing"
)

// Type names go into JSON and tokens unquoted; they must stay plain.
func TestKindNamesNeedNoEscaping(t *testing.T) {
	for _, name := range KindNames() {
		if strconv.Quote(name) != `"`+name+`"` {
			t.Errorf("type name %q needs escaping", name)
		}
	}
}

// Every kind fits in a kindSet.
func TestKindSetHoldsEveryKind(t *testing.T) {
	var s kindSet
	for k := kindEmail; k < numKinds; k++ {
		s.add(k)
	}
	var got []kind
	for k := range s.all() {
		got = append(got, k)
	}
	if len(got) != int(numKinds)-1 || got[0] != kindEmail || got[len(got)-1] != numKinds-1 {
		t.Fatalf("kindSet holds %v", got)
	}
}

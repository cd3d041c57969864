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

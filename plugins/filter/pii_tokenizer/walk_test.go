package piitokenizer

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// strByBytes is the plain definition of where a JSON string ends: a
// backslash escapes the next byte, the first unescaped quote ends it; ok
// says whether it ends.
func strByBytes(body []byte, i int) (end int, ok bool) {
	for j := i + 1; j < len(body); j++ {
		switch body[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return len(body), false
}

// The quote search agrees with the byte-by-byte definition on escaped
// quotes, backslash runs, truncated input and long escaped text.
func TestStringScanMatchesDefinition(t *testing.T) {
	bodies := []string{
		`""`, `"a"`, `"a\"b"`, `"\\"`, `"\\\""`, `"\"`, `"a\`, `"abc`, `"\\\\"x"`, `"\u0022"`, `"` + strings.Repeat(`\n`, 300) + `"`,
		`"` + strings.Repeat(`x\"`, 100) + `"`, `"` + strings.Repeat("y", 100) + `\`, `"\\\\\"\\"`,
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 2000; n++ {
		b := make([]byte, 1+r.IntN(40))
		b[0] = '"'
		for k := 1; k < len(b); k++ {
			b[k] = `ab"\\`[r.IntN(4)]
		}
		bodies = append(bodies, string(b))
	}
	for _, body := range bodies {
		for _, prefix := range []string{"", `\\`, `"x":`} { // backslashes before the string are not its own
			w := &walker{body: []byte(prefix + body)}
			end, err := w.str(len(prefix))
			wantEnd, ok := strByBytes(w.body, len(prefix))
			if end != wantEnd || (err == nil) != ok {
				t.Errorf("str(%q) = %d %v, want %d ok=%v", w.body, end, err, wantEnd, ok)
			}
		}
	}
}

package piitokenizer

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// strByBytes is the plain definition of where a JSON string ends: a
// backslash escapes the next byte, the first unescaped quote ends it; the
// bool results say whether it holds escapes and whether it ends.
func strByBytes(body []byte, i int) (int, bool, bool) {
	esc := false
	for j := i + 1; j < len(body); j++ {
		switch body[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc, true
		}
	}
	return len(body), esc, false
}

// The vectorized string scan agrees with the byte-by-byte definition on
// escaped quotes, backslash runs, truncated input and long escaped text.
func TestStringScanMatchesDefinition(t *testing.T) {
	bodies := []string{
		`""`, `"a"`, `"a\"b"`, `"\\"`, `"\\\""`, `"\"`, `"a\`, `"abc`, `"\\\\"x"`, `"\u0022"`, `"` + strings.Repeat(`\n`, 300) + `"`,
		`"` + strings.Repeat(`x\"`, 100) + `"`, `"` + strings.Repeat("y", 100) + `\`,
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
		w := &walker{body: []byte(body)}
		end, esc, err := w.str(0)
		wantEnd, wantEsc, ok := strByBytes(w.body, 0)
		// esc matters only for a string that ends: callers drop it with the error
		if end != wantEnd || (err == nil) != ok || (ok && esc != wantEsc) {
			t.Errorf("str(%q) = %d %v %v, want %d %v ok=%v", body, end, esc, err, wantEnd, wantEsc, ok)
		}
	}
}

package piitokenizer

import (
	"fmt"
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

// Every byte is encoded as before the run-copying change: quotes,
// backslashes and control characters escaped, everything else as it is.
func TestJSONStringEscapesOnlyWhatJSONNeeds(t *testing.T) {
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c), 'x')
	}
	var want []byte
	want = append(want, '"')
	for _, c := range all {
		switch {
		case c == '"' || c == '\\':
			want = append(want, '\\', c)
		case c == '\n':
			want = append(want, `\n`...)
		case c == '\r':
			want = append(want, `\r`...)
		case c == '\t':
			want = append(want, `\t`...)
		case c < 0x20:
			want = append(want, fmt.Sprintf(`\u%04x`, c)...)
		default:
			want = append(want, c)
		}
	}
	want = append(want, '"')
	if got := appendJSONString([]byte("p"), all); string(got) != "p"+string(want) {
		t.Errorf("appendJSONString:\n got %q\nwant %q", got, want)
	}
}

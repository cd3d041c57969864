package classifier

import (
	"math/rand/v2"
	"testing"
)

// skipStringByByte is the definition skipString must meet: a backslash
// escapes the byte after it, and the first unescaped quote ends the string.
func skipStringByByte(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return len(b), false
}

func checkSkipString(t *testing.T, b []byte, i int) {
	t.Helper()
	want, ok := skipStringByByte(b, i)
	got, err := skipString(b, i)
	if got != want || (err == nil) != ok {
		t.Fatalf("skipString(%q, %d) = %d, %v; want %d, ok=%v", b, i, got, err, want, ok)
	}
}

// The word-at-a-time search must find the same end as a byte-by-byte scan
// wherever quotes and backslashes fall relative to the eight-byte words,
// next to bytes that trip up zero-byte tests (0x00, 0x01, 0x80, 0xff) and
// in UTF-8 text.
func TestSkipStringMatchesByteScan(t *testing.T) {
	alphabet := []byte{'a', '"', '\\', '\\', 0x00, 0x01, 0x21, 0x23, 0x5b, 0x5d, 0x80, 0xc3, 0xa9, 0xff}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200000; n++ {
		b := make([]byte, 1+rng.IntN(40))
		for k := range b {
			b[k] = alphabet[rng.IntN(len(alphabet))]
		}
		i := rng.IntN(len(b))
		b[i] = '"'
		checkSkipString(t, b, i)
	}
	for _, s := range []string{`""`, `"`, `"\`, `"\"`, `"\\"`, `"abcdefgh"`, `"abcdefghijklmnop\"q"x`,
		`"abcdefg\\\\\\\"\\"tail`, `"0123456789abcdef0123456789abcdef"`, "\"\x00\x01\x01\"", "\"\xff\xfe\x80\x22"} {
		checkSkipString(t, []byte(s), 0)
	}
}

func FuzzSkipString(f *testing.F) {
	for _, s := range []string{`"plain"`, `"esc\"aped"`, `"back\\slash"`, `"unterminated`, `"\u00e9t\u00e9"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || b[0] != '"' {
			return
		}
		checkSkipString(t, b, 0)
	})
}

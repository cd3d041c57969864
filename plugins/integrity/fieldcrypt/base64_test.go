package fieldcrypt

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// appendBase64 writes what the standard encoder writes, for every length
// around the six-byte steps and for every byte value in every position of
// a step.
func TestAppendBase64MatchesStandard(t *testing.T) {
	src := make([]byte, 300)
	for i := range src {
		src[i] = byte(i*7 + i/256)
	}
	for n := range len(src) {
		checkBase64(t, src[:n])
	}
	for v := range 256 {
		checkBase64(t, bytes.Repeat([]byte{byte(v)}, 14))
	}
}

func FuzzAppendBase64(f *testing.F) {
	f.Add([]byte("nonce-ciphertext-tag"))
	f.Fuzz(checkBase64)
}

func checkBase64(t *testing.T, src []byte) {
	prefix := []byte(`"$enc:v1.k.`)
	got := appendBase64(append([]byte(nil), prefix...), src)
	if want := base64.RawURLEncoding.AppendEncode(append([]byte(nil), prefix...), src); !bytes.Equal(got, want) {
		t.Fatalf("%x:\n got %s\nwant %s", src, got, want)
	}
}

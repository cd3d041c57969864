package piitokenizer

import (
	"encoding/base32"
	"strings"
	"testing"
)

// A token is tok_<type>_ and the first token_length characters of the
// digest in lower-case, unpadded standard base32, for every allowed length.
func TestTokenIsTruncatedBase32OfDigest(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	for n := 16; n <= maxTokenLength; n++ {
		var actions [numKinds]action
		r := newReplacer(key, actions, n)
		got := string(r.appendReplacement([]byte("x"), kindEmail, "a@example.com", ""))
		full := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(r.digest(kindEmail, "a@example.com"))
		if want := "xtok_email_" + strings.ToLower(full[:n]); got != want {
			t.Errorf("token_length %d: %s, want %s", n, got, want)
		}
	}
}

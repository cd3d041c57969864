package piitokenizer

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// lookupByDefinition is what a key name means, spelled out: configured
// names, then built-in names, then the first suffix rule, all on the
// normalized name, and nothing for names longer than maxKeyLen.
func lookupByDefinition(extra map[string]kind, raw string) kind {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		default:
			continue
		}
		b.WriteByte(c)
	}
	key := b.String()
	if key == "" || len(key) > maxKeyLen {
		return kindNone
	}
	if k, ok := extra[key]; ok {
		return k
	}
	if k, ok := exactKeyKinds[key]; ok {
		return k
	}
	for _, s := range suffixKeyKinds {
		if len(key) > len(s.suffix) && strings.HasSuffix(key, s.suffix) {
			return s.kind
		}
	}
	return kindNone
}

// The key trie answers as the definition does for built-in names, their
// suffixes and prefixes, configured names that shadow them, spelling
// variants, names around the length limit and random names.
func TestKeyLookupMatchesDefinition(t *testing.T) {
	keyNames := map[string]string{"customer_tin": "ssn", "Contact": "email", "secret": "password", "word": "secret", "my-key": "secret"}
	extra := map[string]kind{}
	for name, typ := range keyNames {
		k, _ := kindByName(typ)
		extra[normalizeKey(name)] = k
	}
	kc := newKeyContext(keyNames)
	var names []string
	for name := range exactKeyKinds {
		names = append(names, name, "x"+name, name+"x", "X-"+strings.ToUpper(name), name[1:], "user_"+name, "a"+name[:len(name)-1])
	}
	for _, s := range suffixKeyKinds {
		names = append(names, s.suffix, "db_"+s.suffix, "DB-"+strings.ToUpper(s.suffix), "client"+s.suffix, "1"+s.suffix, s.suffix[1:], "é"+s.suffix)
	}
	for name := range keyNames {
		names = append(names, name, "x_"+name, name+"s")
	}
	names = append(names, "", "_", "-", "é", "clientSecret", "Session-Token", "passwordpassword", "keyword", "myword", "swordfish",
		strings.Repeat("a", 56)+"password", strings.Repeat("a", 57)+"password", strings.Repeat("_", 80)+"password", strings.Repeat("a", 63)+"é")
	r := rand.New(rand.NewPCG(3, 4))
	const alphabet = "aceiknoprstwydlmb0_-ABC"
	for n := 0; n < 5000; n++ {
		b := make([]byte, 1+r.IntN(14))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		names = append(names, string(b), string(b)+"secret", "pass"+string(b))
	}
	for _, name := range names {
		want := lookupByDefinition(extra, name)
		if got := kc.lookup([]byte(name)); got != want {
			t.Errorf("lookup(%q) = %v, want %v", name, got, want)
		}
		if got := kc.lookupString(name); got != want {
			t.Errorf("lookupString(%q) = %v, want %v", name, got, want)
		}
	}
}

package piitokenizer

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// scanByDefinition is the scan without shortcuts: every detector that can
// start on a word's first byte is tried at every word start, and words are
// measured by each detector itself.
func scanByDefinition(d *detector, s string, noIP bool) []finding {
	at := atFindings(s, nil)
	var dst []finding
	ai := 0
	for i := 0; i < len(s); {
		for ai < len(at) && at[ai].start < i {
			ai++
		}
		if ai < len(at) && at[ai].start == i {
			dst = append(dst, at[ai])
			i = at[ai].end
			continue
		}
		if i == 0 || !is(s[i-1], cWord) {
			if f, ok := atByDefinition(d, s, i); ok && !(noIP && f.kind == kindIP) {
				dst = append(dst, f)
				i = f.end
				continue
			}
		}
		next := i + 1
		for next < len(s) && is(s[next-1], cWord) && is(s[next], cWord) {
			next++
		}
		if ai < len(at) && at[ai].start < next {
			next = at[ai].start
		}
		i = next
	}
	return dst
}

func atByDefinition(d *detector, s string, i int) (finding, bool) {
	try := []func() (finding, bool){}
	c := s[i]
	switch {
	case c >= '0' && c <= '9':
		if f, ok := ipv6At(s, i); ok {
			return f, true
		}
		return d.numeric(s, i)
	case c == '+' || c == '(':
		return d.numeric(s, i)
	case c == '-':
		return pemAt(s, i)
	case c == ':':
		return ipv6At(s, i)
	case is(c, cWord) && c < 0x80:
		try = append(try,
			func() (finding, bool) { return jwtAt(s, i) },
			func() (finding, bool) { return tokenRuleAt(s, i) },
			func() (finding, bool) { return authSchemeAt(s, i) },
			func() (finding, bool) { return d.keyValueAt(s, i, i) }, // measures the name itself
		)
		if is(c, cUpper) {
			try = append(try, func() (finding, bool) { return ibanAt(s, i) })
		}
		if is(c, cHex) {
			try = append(try, func() (finding, bool) { return ipv6At(s, i) })
		}
	}
	for _, t := range try {
		if f, ok := t(); ok {
			return f, true
		}
	}
	return finding{}, false
}

// The scan's shortcuts (word measured once, detectors chosen by first
// byte and skipped when the text has no separator they need) find exactly
// what trying everything everywhere finds, on random texts built from the
// pieces the detectors look for.
func TestScanShortcutsMatchDefinition(t *testing.T) {
	pieces := []string{
		"word", "Word", "e", "eleven", "b", "bearer", "Bearer ", "Basic ", "basic", "dXNlcjpwYXNz", "abcDEF123456ghiJKL",
		"sk-", "sk-ant-", "sk_live_", "ghp_", "glpat-", "xoxb-", "AKIA", "AIza", "whsec_", "rk_test_", "github_pat_",
		"ABCDEFGHIJKLMNOP", "abcdefghijklmnopqrstuvwxyz0123456789", "eyJhbGciOiJIUzI1NiJ9", "eyJzdWIiOiIxIn0", "sig",
		"fe80", "::", ":", "1", "db8", "2001", "8a2e", "0370", "7334", "ff", "a", "c0ffee",
		"=", ": ", "\t", " ", " ", " ", "-", "_", ".", "/", "(", ")", "+", "@", "'", `"`, ",", ";", "&", "?", "\n", "é", "名",
		"password", "DB_PASSWORD", "api_key", "client-secret", "token", "ssn", "SSN", "version", "hunter22", "x" + strings.Repeat("y", 70),
		"078-05-1123", "4242 4242 4242 4242", "4012888888881881", "+1 415-555-2671", "(415) 555-2671", "020 7946 0958",
		"192.168.0.1", "10.0.19045.3803", "2024-06-10", "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000",
		"jane@example.com", "x@y.io", "postgres://u:pw@db:5432", "git@github.com:a/b", "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----",
		"tok_email_abc", "null", "<redacted>",
	}
	d := &detector{regions: defaultPhoneRegions, keys: newKeyContext(map[string]string{"word": "secret"})}
	r := rand.New(rand.NewPCG(5, 6))
	for n := 0; n < 20000; n++ {
		var b strings.Builder
		for k := 1 + r.IntN(12); k > 0; k-- {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		s := b.String()
		noIP := n%5 == 0
		got := outcome(func() any { return d.scan(s, noIP, nil) })
		want := outcome(func() any { return scanByDefinition(d, s, noIP) })
		if got != want {
			t.Fatalf("scan(%q):\n got %s\nwant %s", s, got, want)
		}
	}
}

// outcome is f's result, or its panic: a text such as "(12" at the end of a
// value makes numeric index past the text, and both scans must agree on
// that too.
func outcome(f func() any) (s string) {
	defer func() {
		if v := recover(); v != nil {
			s = fmt.Sprint("panic: ", v)
		}
	}()
	return fmt.Sprint(f())
}

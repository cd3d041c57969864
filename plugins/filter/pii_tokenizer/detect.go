package piitokenizer

import (
	"net/netip"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// finding is one sensitive value inside a scanned string.
type finding struct {
	kind       kind
	start, end int    // byte offsets into the scanned text
	norm       string // normalized value the token is computed from; "" means the text itself
}

// detector finds sensitive values in text with one left-to-right pass. It
// visits each word start once and dispatches on its first byte, so text
// without candidates costs a table lookup per byte; validators (Luhn, mod 97,
// SSN ranges, libphonenumber, JWT header decoding) run only on candidates.
// Regular expressions are avoided on purpose: a dozen of them over every
// string would cost more than the whole event budget.
type detector struct {
	regions []string
	keys    keyContext
}

// character classes
const (
	cWord   = 1 << iota // letters, digits, '_' and non-ASCII bytes
	cDigit              // 0-9
	cHex                // 0-9a-fA-F
	cLocal              // email local part
	cDomain             // email domain
	cToken              // secret token bodies: letters, digits, '_' and '-'
	cUpper              // A-Z
	cLower              // a-z

	cAlnum = cDigit | cUpper | cLower
)

var class [256]uint8

func init() {
	for c := 0; c < 256; c++ {
		var m uint8
		switch {
		case c >= '0' && c <= '9':
			m = cWord | cDigit | cHex | cLocal | cDomain | cToken
		case c >= 'a' && c <= 'z':
			m = cWord | cLocal | cDomain | cToken | cLower
			if c <= 'f' {
				m |= cHex
			}
		case c >= 'A' && c <= 'Z':
			m = cWord | cLocal | cDomain | cToken | cUpper
			if c <= 'F' {
				m |= cHex
			}
		case c == '_':
			m = cWord | cLocal | cToken
		case c == '-':
			m = cLocal | cDomain | cToken
		case c == '.':
			m = cLocal | cDomain
		case c == '%' || c == '+':
			m = cLocal
		case c >= 0x80:
			m = cWord
		}
		class[c] = m
	}
	initDetectors()
}

func is(c byte, m uint8) bool { return class[c]&m != 0 }

// scan appends the findings in s to dst, in order and without overlap.
// noIP suppresses addresses, for values under keys such as "version".
func (d *detector) scan(s string, noIP bool, dst []finding) []finding {
	var atBuf [8]finding
	at := atFindings(s, atBuf[:0])
	ai := 0
	// An IPv6 address has two colons at or after its start, and a "name:
	// value" secret a ':' or '=' after its name: where the text has none
	// left, those detectors are not tried, and most words try none.
	lastColon := strings.LastIndexByte(s, ':')
	lastSep := max(lastColon, strings.LastIndexByte(s, '='))
	for i := 0; i < len(s); {
		for ai < len(at) && at[ai].start < i {
			ai++ // overlapped by an earlier finding
		}
		if ai < len(at) && at[ai].start == i {
			dst = append(dst, at[ai])
			i = at[ai].end
			continue
		}
		// The word at i is measured once here; the detectors that need its
		// end get it instead of each scanning it again.
		next := i + 1
		if is(s[i], cWord) {
			for next < len(s) && is(s[next], cWord) {
				next++
			}
		}
		if i == 0 || !is(s[i-1], cWord) {
			try := detectors[s[i]]
			if lastColon <= i {
				try &^= tryIPv6
			}
			if lastSep < next {
				try &^= tryKeyValue
			}
			if try != 0 {
				if f, ok := d.at(s, i, next, try); ok && !(noIP && f.kind == kindIP) {
					dst = append(dst, f)
					i = f.end
					continue
				}
			}
		}
		if ai < len(at) && at[ai].start < next {
			next = at[ai].start // an email local part inside this word
		}
		i = next
	}
	return dst
}

// Detectors by the byte they start on. at tries those of a word's first
// byte, in this order, minus those the text rules out (see scan).
const (
	tryNumeric  = 1 << iota // digits, '+', '(': IPv4, SSN, card, phone
	tryPEM                  // '-': PEM private key
	tryToken                // first bytes of provider prefixes, 'e' of eyJ (JWT)
	tryAuth                 // 'b', 'B': Bearer, Basic
	tryKeyValue             // ASCII letters and '_': "name: value" secrets
	tryIBAN                 // upper case: IBAN
	tryIPv6                 // hex digits, ':': IPv6
)

var detectors [256]uint8

func initDetectors() {
	for c := 0; c < 0x80; c++ {
		var t uint8
		switch {
		case c >= '0' && c <= '9':
			t = tryNumeric | tryIPv6
		case c == '+' || c == '(':
			t = tryNumeric
		case c == '-':
			t = tryPEM
		case c == ':':
			t = tryIPv6
		case is(byte(c), cWord):
			t = tryKeyValue
			if tokenRulesByByte[c] != nil || c == 'e' {
				t |= tryToken
			}
			if c|0x20 == 'b' {
				t |= tryAuth
			}
			if is(byte(c), cUpper) {
				t |= tryIBAN
			}
			if is(byte(c), cHex) {
				t |= tryIPv6
			}
		}
		detectors[c] = t
	}
}

// at runs the detectors in try at word start i; the word bytes (cWord) run
// to wordEnd.
func (d *detector) at(s string, i, wordEnd int, try uint8) (finding, bool) {
	if try&tryNumeric != 0 {
		if try&tryIPv6 != 0 {
			if f, ok := ipv6At(s, i); ok {
				return f, true
			}
		}
		return d.numeric(s, i)
	}
	if try&tryPEM != 0 {
		return pemAt(s, i)
	}
	if try&tryToken != 0 {
		if f, ok := prefixSecretAt(s, i); ok {
			return f, true
		}
	}
	if try&tryAuth != 0 {
		if f, ok := authSchemeAt(s, i); ok {
			return f, true
		}
	}
	if try&tryKeyValue != 0 {
		if f, ok := d.keyValueAt(s, i, wordEnd); ok {
			return f, true
		}
	}
	if try&tryIBAN != 0 {
		if f, ok := ibanAt(s, i); ok {
			return f, true
		}
	}
	if try&tryIPv6 != 0 {
		return ipv6At(s, i)
	}
	return finding{}, false
}

// atFindings finds what hangs on an '@': emails, and the password of URLs
// with embedded credentials (scheme://user:password@host).
func atFindings(s string, dst []finding) []finding {
	for off := 0; ; {
		rel := strings.IndexByte(s[off:], '@')
		if rel < 0 {
			return dst
		}
		a := off + rel
		off = a + 1
		if f, isURL := urlCredentials(s, a); isURL {
			if f.kind != kindNone {
				dst = append(dst, f)
			}
			continue
		}
		if f, ok := emailAround(s, a); ok {
			if len(dst) > 0 && dst[len(dst)-1].end > f.start {
				continue
			}
			dst = append(dst, f)
			off = f.end
		}
	}
}

func urlCredentials(s string, a int) (finding, bool) {
	u := a
	for u > 0 && u > a-256 {
		c := s[u-1]
		if c <= ' ' || c == '/' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '@' {
			break
		}
		u--
	}
	if u < 3 || s[u-1] != '/' || s[u-2] != '/' || s[u-3] != ':' {
		return finding{}, false
	}
	colon := strings.IndexByte(s[u:a], ':')
	if colon < 0 || u+colon+1 == a {
		return finding{}, true // a user name alone is no credential
	}
	return finding{kind: kindURLCredentials, start: u + colon + 1, end: a}, true
}

func emailAround(s string, a int) (finding, bool) {
	ls := a
	for ls > 0 && a-ls < 64 && is(s[ls-1], cLocal) {
		ls--
	}
	for ls < a && (s[ls] == '.' || s[ls] == '-') {
		ls++
	}
	if ls == a || (ls > 0 && is(s[ls-1], cWord)) {
		return finding{}, false
	}
	de := a + 1
	for de < len(s) && de-a <= 253 && is(s[de], cDomain) {
		de++
	}
	for de > a+1 && (s[de-1] == '.' || s[de-1] == '-') {
		de--
	}
	domain := s[a+1 : de]
	dot := strings.LastIndexByte(domain, '.')
	if dot <= 0 || strings.Contains(domain, "..") || domain[0] == '.' || domain[0] == '-' {
		return finding{}, false
	}
	tld := domain[dot+1:]
	if len(tld) < 2 {
		return finding{}, false
	}
	for i := 0; i < len(tld); i++ {
		if c := tld[i] | 0x20; c < 'a' || c > 'z' {
			return finding{}, false
		}
	}
	// scp-style "git@github.com:org/repo" names a host, not a mailbox
	if de < len(s) && (s[de] == '@' || (s[de] == ':' && de+1 < len(s) && !is(s[de+1], cDigit) && s[de+1] > ' ')) {
		return finding{}, false
	}
	return finding{kind: kindEmail, start: ls, end: de, norm: strings.ToLower(s[ls:de])}, true
}

func isNumSep(c byte) bool { return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' }

// numeric reads a run of digits and separators starting at i and decides
// between IPv4 address, SSN, payment card and phone number.
func (d *detector) numeric(s string, i int) (finding, bool) {
	if i >= 2 && (s[i-1] == '-' || s[i-1] == '.') && is(s[i-2], cWord) {
		return finding{}, false // the tail of a UUID, version or hash
	}
	const maxDigits = 24
	var digits [maxDigits]byte
	var groups [12]uint8 // digits per group
	nd, ng := 0, 0
	var seps uint8 // bit set of separators used: 1 space, 2 dash, 4 dot, 8 paren
	j := i
	plus := s[j] == '+'
	if plus {
		j++
	}
	for j < len(s) && j-i < 40 {
		c := s[j]
		if c >= '0' && c <= '9' {
			if nd == maxDigits {
				return finding{}, false
			}
			digits[nd] = c
			nd++
			if ng == 0 {
				ng = 1
			}
			groups[ng-1]++
			j++
			continue
		}
		k := j
		var used uint8
		for k < len(s) && k-j < 2 && isNumSep(s[k]) {
			switch s[k] {
			case ' ':
				used |= 1
			case '-':
				used |= 2
			case '.':
				used |= 4
			default:
				used |= 8
			}
			k++
		}
		if k == j || k >= len(s) || s[k] < '0' || s[k] > '9' || ng == len(groups) {
			break
		}
		if nd > 0 {
			seps |= used
			ng++
		} else if used&^8 != 0 {
			break // only "(" may come before the first digit
		}
		j = k
	}
	end := j
	if nd == 0 || (end < len(s) && is(s[end], cWord)) {
		return finding{}, false
	}
	ds := digits[:nd]
	text := s[i:end]
	grp := groups[:ng]
	if s[i] == '(' && (grp[0] > 4 || i+1+int(grp[0]) >= len(s) || s[i+1+int(grp[0])] != ')') {
		return d.numeric(s, i+1) // a bracket around the text, not an area code
	}

	if seps == 4 { // dots only: an IPv4 address, or a version or decimal
		if ng == 4 && !plus {
			if addr, err := netip.ParseAddr(text); err == nil && addr.Is4() {
				return finding{kind: kindIP, start: i, end: end, norm: addr.String()}, true
			}
		}
		return finding{}, false
	}
	if !plus && ng >= 3 && grp[0] == 4 && grp[1] == 2 && (s[i+4] == '-' || s[i+4] == '/' || s[i+4] == '.') {
		return finding{}, false // an ISO date, not a number
	}
	if nd == 9 && ng == 3 && grp[0] == 3 && grp[1] == 2 && grp[2] == 4 && (seps == 1 || seps == 2) && !plus {
		if validSSN(ds) {
			return finding{kind: kindSSN, start: i, end: end, norm: string(ds)}, true
		}
		return finding{}, false
	}
	if nd >= 13 && nd <= 19 && seps&^3 == 0 && !plus && luhn(ds) && cardIssuer(ds) {
		return finding{kind: kindCreditCard, start: i, end: end, norm: string(ds)}, true
	}
	if plus && nd >= 8 && nd <= 15 {
		if num, err := phonenumbers.Parse(text, ""); err == nil && phonenumbers.IsValidNumber(num) {
			return finding{kind: kindPhone, start: i, end: end, norm: phonenumbers.Format(num, phonenumbers.E164)}, true
		}
		return finding{}, false
	}
	// National formats need visible grouping: a bare 10-digit run is as
	// likely an id or an epoch time as a phone number.
	if !plus && nd >= 10 && nd <= 11 && ng >= 2 {
		nanp := (nd == 10 && ng == 3 && grp[0] == 3 && grp[1] == 3 && grp[2] == 4) ||
			(nd == 11 && ng == 4 && ds[0] == '1' && grp[1] == 3 && grp[2] == 3 && grp[3] == 4)
		for _, region := range d.regions {
			// National numbers are written 3-3-4 in North America and with
			// the trunk prefix 0 elsewhere; other digit groups are not phones.
			if isNANP(region) != nanp || (!nanp && ds[0] != '0') {
				continue
			}
			num, err := phonenumbers.Parse(text, region)
			if err == nil && phonenumbers.IsValidNumberForRegion(num, region) {
				return finding{kind: kindPhone, start: i, end: end, norm: phonenumbers.Format(num, phonenumbers.E164)}, true
			}
		}
	}
	return finding{}, false
}

func ipv6At(s string, i int) (finding, bool) {
	if i > 0 && (s[i-1] == ':' || s[i-1] == '.') {
		return finding{}, false
	}
	j, colons := i, 0
	for j < len(s) && j-i < 46 && (is(s[j], cHex) || s[j] == ':' || s[j] == '.') {
		if s[j] == ':' {
			colons++
		}
		j++
	}
	for j > i && s[j-1] == '.' {
		j-- // a sentence's full stop
	}
	if colons < 2 || j-i < 3 || (j < len(s) && is(s[j], cWord)) {
		return finding{}, false
	}
	addr, err := netip.ParseAddr(s[i:j])
	if err != nil || !addr.Is6() {
		return finding{}, false
	}
	return finding{kind: kindIP, start: i, end: j, norm: addr.String()}, true
}

func pemAt(s string, i int) (finding, bool) {
	const begin = "-----BEGIN "
	if !strings.HasPrefix(s[i:], begin) {
		return finding{}, false
	}
	line := s[i+len(begin):]
	if nl := strings.IndexAny(line, "\r\n"); nl >= 0 {
		line = line[:nl]
	}
	if !strings.Contains(line, "PRIVATE KEY-----") {
		return finding{}, false
	}
	end := len(s) // a truncated key is still a key
	if e := strings.Index(s[i:], "-----END "); e >= 0 {
		rest := i + e + len("-----END ")
		if c := strings.Index(s[rest:], "-----"); c >= 0 {
			end = rest + c + len("-----")
		}
	}
	return finding{kind: kindPrivateKey, start: i, end: end}, true
}

func ibanAt(s string, i int) (finding, bool) {
	if i+4 > len(s) || !is(s[i+1], cUpper) || !is(s[i+2], cDigit) || !is(s[i+3], cDigit) {
		return finding{}, false
	}
	want := ibanLengths[s[i:i+2]]
	if want == 0 {
		return finding{}, false
	}
	var buf [34]byte
	n, j := 0, i
	for j < len(s) && n < want {
		c := s[j]
		switch {
		case is(c, cDigit) || is(c, cUpper):
			buf[n] = c
			n++
			j++
		case c == ' ' && n%4 == 0 && j+1 < len(s) && (is(s[j+1], cDigit) || is(s[j+1], cUpper)):
			j++
		default:
			return finding{}, false
		}
	}
	if n != want || (j < len(s) && is(s[j], cWord)) || !ibanValid(buf[:n]) {
		return finding{}, false
	}
	return finding{kind: kindIBAN, start: i, end: j, norm: string(buf[:n])}, true
}

// isNANP reports whether a region dials in the North American Numbering Plan.
func isNANP(region string) bool {
	return phonenumbers.GetCountryCodeForRegion(region) == 1
}

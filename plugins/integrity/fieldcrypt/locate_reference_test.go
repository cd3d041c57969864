package fieldcrypt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"slices"
	"testing"
)

// The skimmer as it was before it was made faster, kept unchanged as the
// reference the fast one must agree with on every input, malformed ones
// included: what is found, what is refused, and the spans found before a
// fault. Change it only together with an intended change of behaviour.

// refLocate appends the spans of the fields under root present in body: every
// occurrence, so a key given twice does not leave its second value in
// plaintext for a last-key-wins reader; keys are compared unescaped. It
// reports false when body is malformed.
func refLocate(body []byte, root *pathNode, spans []span) ([]span, bool) {
	s := refSkimmer{b: body, ok: true}
	s.space()
	if s.peek() != '{' {
		return spans, false
	}
	spans = s.object(root, "", true, spans)
	return spans, s.ok
}

// refSkimmer walks JSON that was validated on ingestion without validating it
// again; it only has to find value boundaries, and stops (ok = false) at
// anything it does not expect rather than guess.
type refSkimmer struct {
	b  []byte
	i  int
	ok bool
}

func (s *refSkimmer) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// space skips whitespace; events are mostly compact, so the common case is
// one comparison.
func (s *refSkimmer) space() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// object reads the object at s.i ('{'), collecting the spans of the fields
// under n. path is the object's own path, which is n.dotted unless a "*"
// was matched on the way (exact false).
func (s *refSkimmer) object(n *pathNode, path string, exact bool, spans []span) []span {
	for more := s.open(); more && s.ok; more = s.next() {
		key := s.member()
		if !s.ok {
			return spans
		}
		c, viaWild := n.child(key), false
		if c == nil {
			c, viaWild = n.wild, true
		}
		if c == nil {
			s.value()
			continue
		}
		childExact := exact && !viaWild
		childPath := c.dotted
		if !childExact {
			childPath = string(key)
			if path != "" {
				childPath = path + "." + childPath
			}
		}
		start := s.i
		if c.hasChildren() && s.peek() == '{' {
			spans = s.object(c, childPath, childExact, spans)
		} else {
			s.value()
		}
		if s.ok && c.terminal {
			spans = refAddValueSpan(spans, s.b, start, s.i, childPath)
		}
	}
	return spans
}

// open moves past the '{' at s.i and reports whether members follow.
func (s *refSkimmer) open() bool {
	s.i++
	s.space()
	if s.peek() == '}' {
		s.i++
		return false
	}
	return true
}

// member reads `"key":` at s.i and returns the key, unescaped when it
// holds escapes: "res\u0075lt" may spell a field's name.
func (s *refSkimmer) member() []byte {
	if s.peek() != '"' {
		s.ok = false
		return nil
	}
	ks := s.i + 1
	s.str()
	if !s.ok {
		return nil
	}
	key := s.b[ks : s.i-1]
	if bytes.IndexByte(key, '\\') >= 0 {
		var k string
		if json.Unmarshal(s.b[ks-1:s.i], &k) != nil {
			s.ok = false
			return nil
		}
		key = []byte(k)
	}
	s.space()
	if s.peek() != ':' {
		s.ok = false
		return nil
	}
	s.i++
	s.space()
	return key
}

// next moves past the ',' after a member and reports whether another
// follows; at the closing '}' it moves past it and reports false.
func (s *refSkimmer) next() bool {
	s.space()
	switch s.peek() {
	case ',':
		s.i++
		s.space()
		return true
	case '}':
		s.i++
		return false
	}
	s.ok = false
	return false
}

// refEncryptedFields returns the span of every encrypted string value in the
// objects of body, with its dotted path (keys unescaped), the path its AAD
// names. It reports false when body is malformed.
func refEncryptedFields(body []byte) ([]span, bool) {
	s := refSkimmer{b: body, ok: true}
	s.space()
	if s.peek() != '{' {
		return nil, false
	}
	spans := s.encryptedIn("", nil)
	return spans, s.ok
}

func (s *refSkimmer) encryptedIn(prefix string, spans []span) []span {
	for more := s.open(); more && s.ok; more = s.next() {
		key := s.member()
		if !s.ok {
			return spans
		}
		start := s.i
		switch {
		case s.peek() == '{':
			spans = s.encryptedIn(prefix+string(key)+".", spans)
		case s.peek() == '"' && bytes.HasPrefix(s.b[s.i+1:], []byte(Prefix)):
			s.str()
			spans = append(spans, span{start: start, end: s.i, path: prefix + string(key)})
		default:
			s.value()
		}
	}
	return spans
}

// refAddValueSpan appends the span body[start:end] unless the value is null or
// a string already encrypted.
func refAddValueSpan(spans []span, body []byte, start, end int, path string) []span {
	v := body[start:end]
	if bytes.Equal(v, []byte("null")) || (v[0] == '"' && bytes.HasPrefix(v[1:], []byte(Prefix))) {
		return spans
	}
	return append(spans, span{start: start, end: end, path: path})
}

// str moves past the string at s.i.
func (s *refSkimmer) str() {
	// Eight bytes at a time while there is neither a quote nor a backslash
	// in them: most strings of an event are short, where a search call's
	// setup costs more than the search.
	b, i := s.b, s.i+1
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if m := refHasByte(w, '"') | refHasByte(w, '\\'); m != 0 {
			i += bits.TrailingZeros64(m) / 8
			if b[i] == '"' {
				s.i = i + 1
				return
			}
			break // a backslash: the careful way from here
		}
	}
	s.strFrom(i)
}

// refHasByte has the high bit set in each byte of w that equals c (and maybe
// in bytes after the first such byte, which callers ignore).
func refHasByte(w uint64, c byte) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	x := w ^ (lo * uint64(c))
	return (x - lo) &^ x & hi
}

// strFrom finds the end of the string at s.i from b[i] on, minding escapes.
func (s *refSkimmer) strFrom(i int) {
	start := s.i + 1
	for ; ; i++ {
		j := bytes.IndexByte(s.b[i:], '"')
		if j < 0 {
			s.ok, s.i = false, len(s.b)
			return
		}
		i += j
		backslashes := 0
		for k := i - 1; k >= start && s.b[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 0 { // not an escaped quote
			s.i = i + 1
			return
		}
	}
}

// value moves past the value at s.i.
func (s *refSkimmer) value() {
	switch s.peek() {
	case '"':
		s.str()
	case '{', '[':
		depth := 0
		for s.ok && s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				s.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return
				}
			}
			s.i++
		}
		s.ok = false
	default:
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if s.i == start {
					s.ok = false
				}
				return
			}
			s.i++
		}
		s.ok = false
	}
}

// FuzzSkimmerMatchesReference: locate, with each golden field list, and
// encryptedFields return exactly what the reference returns, on anything.
func FuzzSkimmerMatchesReference(f *testing.F) {
	for _, body := range goldenBodies {
		f.Add([]byte(body))
	}
	var tries []*pathNode
	for _, fields := range goldenFieldSets {
		compiled, err := CompileFields(fields)
		if err != nil {
			f.Fatal(err)
		}
		tries = append(tries, compiled.trie)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, trie := range tries {
			got, ok := locate(body, trie, nil)
			want, wantOK := refLocate(body, trie, nil)
			if ok != wantOK || !slices.Equal(got, want) {
				t.Fatalf("locate %q:\n got %v %v\nwant %v %v", body, ok, got, wantOK, want)
			}
		}
		got, ok := encryptedFields(body)
		want, wantOK := refEncryptedFields(body)
		if ok != wantOK || !slices.Equal(got, want) {
			t.Fatalf("encryptedFields %q:\n got %v %v\nwant %v %v", body, ok, got, wantOK, want)
		}
	})
}

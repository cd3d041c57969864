package fieldcrypt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
)

// pathNode is one segment of the field paths, as a trie: the fields
// "arguments.password" and "result" are root → {arguments → {password},
// result}, and a "*" segment is a node's wild child. locate finds every
// field in one pass over the event, where a lookup per field would scan the
// event once per field (and once more per "*").
type pathNode struct {
	key      string
	dotted   string // the path from the root to here, without "*" on the way
	terminal bool   // a configured field ends here
	children []*pathNode
	wild     *pathNode // the "*" child
	// Bit l is set when a child's key is l bytes long (bit 63: 63 or
	// more): most keys of an event match no field, and one test of their
	// length spares the search of the children.
	keyLens uint64
}

func keyLenBit(key []byte) uint64 { return 1 << min(len(key), 63) }

func (n *pathNode) child(key []byte) *pathNode {
	if n.keyLens&keyLenBit(key) == 0 {
		return nil
	}
	for _, c := range n.children {
		if c.key == string(key) {
			return c
		}
	}
	return nil
}

func (n *pathNode) childOrNew(key string) *pathNode {
	if key == "*" {
		if n.wild == nil {
			n.wild = &pathNode{key: key}
		}
		return n.wild
	}
	if c := n.child([]byte(key)); c != nil {
		return c
	}
	c := &pathNode{key: key, dotted: key}
	if n.dotted != "" {
		c.dotted = n.dotted + "." + key
	}
	n.children = append(n.children, c)
	n.keyLens |= keyLenBit([]byte(key))
	return c
}

func (n *pathNode) add(segs []string) {
	for _, s := range segs {
		n = n.childOrNew(s)
	}
	n.terminal = true
}

// spreadWild copies every wild child's fields into its named siblings, down
// the trie, so that a key matching a named child needs nothing from the
// wild one: "arguments.*" and "arguments.token.id" give arguments → token
// the fields of both.
func (n *pathNode) spreadWild() {
	for _, c := range n.children {
		if n.wild != nil {
			c.merge(n.wild)
		}
		c.spreadWild()
	}
	if n.wild != nil {
		n.wild.spreadWild()
	}
}

func (n *pathNode) merge(src *pathNode) {
	n.terminal = n.terminal || src.terminal
	for _, sc := range src.children {
		n.childOrNew(sc.key).merge(sc)
	}
	if src.wild != nil {
		n.childOrNew("*").merge(src.wild)
	}
}

func (n *pathNode) hasChildren() bool { return len(n.children) > 0 || n.wild != nil }

// locate appends the spans of the fields under root present in body: every
// occurrence, so a key given twice does not leave its second value in
// plaintext for a last-key-wins reader; keys are compared unescaped. It
// reports false when body is malformed.
func locate(body []byte, root *pathNode, spans []span) ([]span, bool) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return spans, false
	}
	i, spans = object(body, i, root, "", true, spans)
	return spans, i >= 0
}

// The skimmer walks JSON that was validated on ingestion without validating
// it again; it only has to find value boundaries, and stops at anything it
// does not expect rather than guess. Its functions take the body and an
// index into it and return the index after what they read, or -1 when the
// body is malformed: the index lives in a register, where a struct behind a
// pointer was stored and loaded again around every byte. It runs over every
// member of every event, so the common case, compact JSON, is tested first
// and takes few calls: each call spills the registers in use.

// object reads the object at b[i] ('{'), collecting the spans of the fields
// under n. path is the object's own path, which is n.dotted unless a "*"
// was matched on the way (exact false).
func object(b []byte, i int, n *pathNode, path string, exact bool, spans []span) (int, []span) {
	i, more := open(b, i)
	for more {
		var key []byte
		if key, i = member(b, i); i < 0 {
			return -1, spans
		}
		c, viaWild := n.child(key), false
		if c == nil {
			c, viaWild = n.wild, true
		}
		if c == nil {
			if i < len(b) && b[i] == '"' { // most values are strings: one call less
				i = skipString(b, i)
			} else {
				i = skipOther(b, i)
			}
		} else {
			childExact := exact && !viaWild
			childPath := c.dotted
			if !childExact {
				childPath = string(key)
				if path != "" {
					childPath = path + "." + childPath
				}
			}
			start := i
			if c.hasChildren() && i < len(b) && b[i] == '{' {
				i, spans = object(b, i, c, childPath, childExact, spans)
			} else {
				i = skipValue(b, i)
			}
			if i >= 0 && c.terminal {
				spans = addValueSpan(spans, b, start, i, childPath)
			}
		}
		if i < 0 {
			return -1, spans
		}
		if i < len(b) && b[i] == ',' { // compact JSON: the next member right after the value
			i++
			continue
		}
		i, more = next(b, i)
	}
	return i, spans
}

// open moves past the '{' at b[i] and reports whether members follow; if
// not, it moves past the closing '}' too.
func open(b []byte, i int) (int, bool) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, false
	}
	return i, true
}

// member reads `"key":` at b[i] (after space) and returns the key and the
// index of the value. The key is unescaped when it holds escapes:
// "res\u0075lt" may spell a field's name.
func member(b []byte, i int) ([]byte, int) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '"' {
		return nil, -1
	}
	// The key's closing quote, eight bytes at a time while there is neither
	// a quote nor a backslash in them; as in skipString, testing j against
	// len(b)-7 lets the compiler drop the bounds checks. The scan is here
	// rather than in a function of its own: one call less for every member.
	j, escaped := i+1, false
	for ; j < len(b)-7; j += 8 {
		w := binary.LittleEndian.Uint64(b[j : j+8])
		if m := hasByte(w, '"') | hasByte(w, '\\'); m != 0 {
			j += bits.TrailingZeros64(m) / 8
			break
		}
	}
	for ; j < len(b) && b[j] != '"'; j++ { // the last few bytes of the body, or a backslash
		if b[j] == '\\' {
			escaped = true
			break
		}
	}
	if escaped {
		j = escapedStringEnd(b, i, j) - 1
	}
	if j < 0 || j >= len(b) {
		return nil, -1 // the key does not end
	}
	key := b[i+1 : j]
	if escaped {
		var k string
		if json.Unmarshal(b[i:j+1], &k) != nil {
			return nil, -1
		}
		key = []byte(k)
	}
	if j < len(b)-2 && b[j+1] == ':' && b[j+2] > ' ' { // compact JSON
		return key, j + 2
	}
	i = skipSpace(b, j+1)
	if i >= len(b) || b[i] != ':' {
		return nil, -1
	}
	return key, skipSpace(b, i+1)
}

// next moves past the ',' after a member and reports whether another
// follows; at the closing '}' it moves past it and reports false. member
// skips the space after the comma.
func next(b []byte, i int) (int, bool) {
	i = skipSpace(b, i)
	if i < len(b) {
		switch b[i] {
		case ',':
			return i + 1, true
		case '}':
			return i + 1, false
		}
	}
	return -1, false
}

// encryptedFields returns the span of every encrypted string value in the
// objects of body, with its dotted path (keys unescaped), the path its AAD
// names. It reports false when body is malformed.
func encryptedFields(body []byte) ([]span, bool) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, false
	}
	i, spans := encryptedIn(body, i, "", nil)
	return spans, i >= 0
}

func encryptedIn(b []byte, i int, prefix string, spans []span) (int, []span) {
	i, more := open(b, i)
	for more {
		var key []byte
		if key, i = member(b, i); i < 0 {
			return -1, spans
		}
		start := i
		switch {
		case i < len(b) && b[i] == '{':
			i, spans = encryptedIn(b, i, prefix+string(key)+".", spans)
		case i < len(b) && b[i] == '"' && bytes.HasPrefix(b[i+1:], []byte(Prefix)):
			end := skipString(b, i)
			if end < 0 {
				// Spans are what was found before a fault, and an encrypted
				// value cut short always counted as found, to the body's end.
				return -1, append(spans, span{start: start, end: len(b), path: prefix + string(key)})
			}
			i = end
			spans = append(spans, span{start: start, end: i, path: prefix + string(key)})
		default:
			i = skipValue(b, i)
		}
		if i < 0 {
			return -1, spans
		}
		i, more = next(b, i)
	}
	return i, spans
}

// addValueSpan appends the span body[start:end] unless the value is null or
// a string already encrypted.
func addValueSpan(spans []span, body []byte, start, end int, path string) []span {
	v := body[start:end]
	if bytes.Equal(v, []byte("null")) || (v[0] == '"' && bytes.HasPrefix(v[1:], []byte(Prefix))) {
		return spans
	}
	return append(spans, span{start: start, end: end, path: path})
}

// skipSpace returns the index of the first byte from b[i] on that is not
// whitespace; events are mostly compact, so the common case is one
// comparison, inlined.
func skipSpace(b []byte, i int) int {
	if i < len(b) && b[i] > ' ' {
		return i
	}
	return skipSpaceSlow(b, i)
}

func skipSpaceSlow(b []byte, i int) int {
	for ; i < len(b); i++ {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the string at b[i], or -1 when it
// does not end. Values, unlike keys, need not be known free of escapes, so
// it looks for quotes alone: a quote ends the string unless a backslash
// precedes it, which is rare and left to escapedStringEnd.
func skipString(b []byte, i int) int {
	// Eight bytes at a time while there is no quote in them: most strings
	// of an event are short, where a search call's setup costs more than
	// the search. Reading b[i] first, and testing j against len(b)-7, lets
	// the compiler drop the bounds checks.
	_ = b[i]
	j := i + 1
	for ; j < len(b)-7; j += 8 {
		if m := hasByte(binary.LittleEndian.Uint64(b[j:j+8]), '"'); m != 0 {
			return stringEnd(b, i, j+bits.TrailingZeros64(m)/8)
		}
	}
	for ; j < len(b); j++ { // the last few bytes of the body
		if b[j] == '"' {
			return stringEnd(b, i, j)
		}
	}
	return -1
}

// stringEnd returns the index after the string at b[i] whose first quote
// after the opening one is b[j].
func stringEnd(b []byte, i, j int) int {
	if b[j-1] != '\\' { // b[i] itself when the string is empty
		return j + 1
	}
	return escapedStringEnd(b, i, j)
}

// hasByte has the high bit set in each byte of w that equals c (and maybe
// in bytes after the first such byte, which callers ignore).
func hasByte(w uint64, c byte) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	x := w ^ (lo * uint64(c))
	return (x - lo) &^ x & hi
}

// escapedStringEnd returns the index after the string at b[i], searching
// on from b[j], a backslash or a quote after one; or -1: the string ends at
// the first quote after an even run of backslashes.
func escapedStringEnd(b []byte, i, j int) int {
	start := i + 1
	for ; ; j++ {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		backslashes := 0
		for l := j - 1; l >= start && b[l] == '\\'; l-- {
			backslashes++
		}
		if backslashes%2 == 0 { // not an escaped quote
			return j + 1
		}
	}
}

// skipValue returns the index after the value at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i < len(b) && b[i] == '"' {
		return skipString(b, i)
	}
	return skipOther(b, i)
}

// skipOther is skipValue for all but strings.
func skipOther(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '{', '[':
		// Brackets are counted, not matched: values nobody asked for are
		// only skipped.
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		for j := i; j < len(b); j++ {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if j == i {
					return -1
				}
				return j
			}
		}
		return -1
	}
}

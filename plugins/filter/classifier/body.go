package classifier

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"
)

// member is one top-level member of an event object, as offsets into the
// body: a slice of members holds no pointers, so filling it needs no write
// barriers and the collector never scans it.
type member struct {
	k0, k1 int   // the key without its quotes, body[k0:k1]; keys with escapes are compared raw
	v0, v1 int   // the raw JSON value, body[v0:v1]
	id     keyID // set by read
}

func (m *member) key(body []byte) []byte   { return body[m.k0:m.k1] }
func (m *member) value(body []byte) []byte { return body[m.v0:m.v1] }

// members splits a JSON object into its top-level members without decoding
// the values, so they can be copied through, replaced or dropped.
func members(body []byte, dst []member) ([]member, error) {
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, errors.New("event body is not a JSON object")
	}
	i = skipWS(body, i+1)
	if i < len(body) && body[i] == '}' {
		return dst, trailing(body, i+1)
	}
	for {
		if i >= len(body) || body[i] != '"' {
			return nil, fmt.Errorf("invalid JSON at offset %d: want a member name", i)
		}
		kend, err := skipString(body, i)
		if err != nil {
			return nil, err
		}
		k0, k1 := i+1, kend-1
		i = skipWS(body, kend)
		if i >= len(body) || body[i] != ':' {
			return nil, fmt.Errorf("invalid JSON at offset %d: want ':'", i)
		}
		i = skipWS(body, i+1)
		var vend int
		if i < len(body) && body[i] == '"' { // most values are strings
			vend, err = skipString(body, i)
		} else {
			vend, err = skipValue(body, i, 0)
		}
		if err != nil {
			return nil, err
		}
		dst = append(dst, member{k0: k0, k1: k1, v0: i, v1: vend})
		i = skipWS(body, vend)
		if i < len(body) && body[i] == ',' {
			i = skipWS(body, i+1)
			continue
		}
		if i < len(body) && body[i] == '}' {
			return dst, trailing(body, i+1)
		}
		return nil, fmt.Errorf("invalid JSON at offset %d: want ',' or '}'", i)
	}
}

func trailing(body []byte, i int) error {
	if skipWS(body, i) != len(body) {
		return fmt.Errorf("invalid JSON: data after the event object")
	}
	return nil
}

func skipWS(b []byte, i int) int {
	// Compact JSON has no whitespace: one comparison settles most calls.
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

const maxDepth = 128

// skipValue returns the offset after the value starting at i.
func skipValue(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return i, errors.New("JSON nested deeper than 128 levels")
	}
	if i >= len(b) {
		return i, errors.New("invalid JSON: unexpected end")
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		closer := byte('}')
		if b[i] == '[' {
			closer = ']'
		}
		j := skipWS(b, i+1)
		if j < len(b) && b[j] == closer {
			return j + 1, nil
		}
		for {
			var err error
			if b[i] == '{' {
				if j, err = skipValue(b, j, depth+1); err != nil { // name
					return j, err
				}
				if j = skipWS(b, j); j >= len(b) || b[j] != ':' {
					return j, fmt.Errorf("invalid JSON at offset %d: want ':'", j)
				}
				j = skipWS(b, j+1)
			}
			if j, err = skipValue(b, j, depth+1); err != nil {
				return j, err
			}
			j = skipWS(b, j)
			if j < len(b) && b[j] == ',' {
				j = skipWS(b, j+1)
				continue
			}
			if j < len(b) && b[j] == closer {
				return j + 1, nil
			}
			return j, fmt.Errorf("invalid JSON at offset %d: want ',' or %q", j, closer)
		}
	default:
		j := i
		for j < len(b) && (b[j] == '-' || b[j] == '+' || b[j] == '.' || (b[j] >= '0' && b[j] <= '9') || (b[j] >= 'a' && b[j] <= 'z') || (b[j] >= 'A' && b[j] <= 'Z')) {
			j++
		}
		if j == i {
			return i, fmt.Errorf("invalid JSON at offset %d: want a value", i)
		}
		return j, nil
	}
}

// skipString returns the offset after the string starting at i. Strings are
// most of an event's bytes, so the closing quote is searched with
// bytes.IndexByte rather than byte by byte; a quote ends the string unless an
// odd run of backslashes escapes it.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			break
		}
		j += q
		if b[j-1] != '\\' || !escaped(b[i:j]) { // b[i] is the opening quote
			return j + 1, nil
		}
	}
	return len(b), errors.New("invalid JSON: unterminated string")
}

// escaped reports whether s ends in an odd run of backslashes, which
// escapes the byte after s.
func escaped(s []byte) bool {
	n := 0
	for k := len(s) - 1; k >= 0 && s[k] == '\\'; k-- {
		n++
	}
	return n%2 == 1
}

// aliasString views b as a string without copying. Bodies are never modified
// once a record holds them, so the view stays valid while the body lives;
// what outlives the record (stats keys, the envelope) is taken from
// configuration or copied.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

package fieldcrypt

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/buger/jsonparser"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Fields is a compiled list of dotted field paths ("arguments.password"),
// where a "*" segment matches any key of an object.
type Fields struct {
	patterns [][]string
	joined   []string // the path as written, for patterns without "*"
	literal  []bool   // no "*": the pattern is its only path
	literals *pathNode
}

// CompileFields checks and compiles field paths.
func CompileFields(paths []string) (Fields, error) {
	var f Fields
	for _, p := range paths {
		segs := strings.Split(p, ".")
		literal := true
		for _, s := range segs {
			if s == "" {
				return f, fmt.Errorf("field %q: empty path segment", p)
			}
			literal = literal && s != "*"
		}
		f.patterns = append(f.patterns, segs)
		f.joined = append(f.joined, p)
		f.literal = append(f.literal, literal)
		if literal {
			if f.literals == nil {
				f.literals = &pathNode{}
			}
			f.literals.add(segs, p)
		}
	}
	return f, nil
}

// span is one field value of a body to encrypt: body[start:end] is its JSON.
type span struct {
	start, end int
	path       string
}

// expand turns one pattern into the concrete paths present in body.
func expand(body []byte, pat []string, prefix []string, out *[][]string) {
	for i, seg := range pat {
		if seg != "*" {
			continue
		}
		obj, typ, _, err := jsonparser.Get(body, append(prefix, pat[:i]...)...)
		if err != nil || typ != jsonparser.Object {
			return
		}
		base := append(append([]string(nil), prefix...), pat[:i]...)
		_ = jsonparser.ObjectEach(obj, func(key []byte, _ []byte, _ jsonparser.ValueType, _ int) error {
			k := string(key)
			if strings.IndexByte(k, '\\') >= 0 {
				return nil // escaped keys are left alone rather than guessed at
			}
			expand(body, pat[i+1:], append(append([]string(nil), base...), k), out)
			return nil
		})
		return
	}
	*out = append(*out, append(append([]string(nil), prefix...), pat...))
}

// EncryptEvent replaces each present, not yet encrypted, non-null field of
// body by its encrypted form. It returns the new body and the count of fields
// encrypted. The body is scanned once for all fields without "*" and once
// per field with one, and rebuilt once; body itself
// is not modified.
func (kr *Keyring) EncryptEvent(body []byte, f Fields, subject, eventID string) ([]byte, int, error) {
	return kr.EncryptEventSlab(nil, body, f, subject, eventID)
}

// EncryptEventSlab is EncryptEvent building the new body in slab (nil: its
// own allocation).
func (kr *Keyring) EncryptEventSlab(slab *sdk.Slab, body []byte, f Fields, subject, eventID string) ([]byte, int, error) {
	var stack [8]span
	spans := stack[:0]
	if f.literals != nil {
		var ok bool
		if spans, ok = locate(body, f.literals, spans); !ok {
			spans = spans[:0]
			for i, pat := range f.patterns {
				if f.literal[i] {
					spans = addSpan(spans, body, pat, f.joined[i])
				}
			}
		}
	}
	for i, pat := range f.patterns {
		if f.literal[i] {
			continue
		}
		var paths [][]string
		expand(body, pat, nil, &paths)
		for _, p := range paths {
			spans = addSpan(spans, body, p, "")
		}
	}
	if len(spans) == 0 {
		return body, 0, nil
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	grow := 0
	for i, sp := range spans {
		if i > 0 && sp.start < spans[i-1].end {
			return kr.encryptNested(body, spans, subject, eventID)
		}
		grow += (sp.end-sp.start+16+12)*4/3 + len(Prefix) + 16
	}
	var out []byte
	if slab != nil {
		out = slab.Buf(len(body) + grow)
	} else {
		out = make([]byte, 0, len(body)+grow)
	}
	prev := 0
	for _, sp := range spans {
		out = append(out, body[prev:sp.start]...)
		var err error
		if out, err = kr.AppendEncrypted(out, body[sp.start:sp.end], subject, eventID, sp.path); err != nil {
			return body, 0, err
		}
		prev = sp.end
	}
	out = append(out, body[prev:]...)
	if slab != nil {
		out = slab.Keep(out)
	}
	return out, len(spans), nil
}

// addSpan appends the span of the field at path if it is present, not null
// and not yet encrypted.
func addSpan(spans []span, body []byte, path []string, joined string) []span {
	val, typ, end, err := jsonparser.Get(body, path...)
	if err != nil || typ == jsonparser.NotExist || typ == jsonparser.Null {
		return spans
	}
	start := end - len(val)
	if typ == jsonparser.String {
		if bytes.HasPrefix(val, []byte(Prefix)) {
			return spans
		}
		start -= 2 // the plaintext is the JSON value itself, quotes included
	}
	if joined == "" {
		joined = strings.Join(path, ".")
	}
	return append(spans, span{start: start, end: end, path: joined})
}

// encryptNested handles field lists where one field holds another: fields
// are encrypted one after the other in body order, so the outer field is
// encrypted whole and the inner one, now inside its ciphertext, is skipped.
func (kr *Keyring) encryptNested(body []byte, spans []span, subject, eventID string) ([]byte, int, error) {
	n := 0
	var enc []byte
	for _, sp := range spans {
		path := strings.Split(sp.path, ".")
		val, typ, _, err := jsonparser.Get(body, path...)
		if err != nil || typ == jsonparser.NotExist || typ == jsonparser.Null {
			continue
		}
		if typ == jsonparser.String {
			if strings.HasPrefix(string(val), Prefix) {
				continue
			}
			val = rawString(body, path, val)
		}
		if enc, err = kr.AppendEncrypted(enc[:0], val, subject, eventID, sp.path); err != nil {
			return body, n, err
		}
		nb, err := jsonparser.Set(body, enc, path...)
		if err != nil {
			return body, n, fmt.Errorf("set %s: %w", sp.path, err)
		}
		body = nb
		n++
	}
	return body, n, nil
}

// rawString returns a string value with its quotes.
func rawString(body []byte, path []string, unquoted []byte) []byte {
	out := make([]byte, 0, len(unquoted)+2)
	out = append(out, '"')
	out = append(out, unquoted...)
	return append(out, '"')
}

// DecryptEvent replaces every encrypted field it holds a key for by its
// plaintext. Fields it cannot decrypt (destroyed key, corruption) stay as
// they are and are counted; their errors name key and field, never content.
func (kr *Keyring) DecryptEvent(body []byte, eventID string) ([]byte, []error) {
	type found struct {
		path []string
		val  string
	}
	var todo []found
	var walk func(obj []byte, prefix []string)
	walk = func(obj []byte, prefix []string) {
		_ = jsonparser.ObjectEach(obj, func(key, value []byte, typ jsonparser.ValueType, _ int) error {
			p := append(append([]string(nil), prefix...), string(key))
			switch typ {
			case jsonparser.String:
				if strings.HasPrefix(string(value), Prefix) {
					todo = append(todo, found{p, string(value)})
				}
			case jsonparser.Object:
				walk(value, p)
			}
			return nil
		})
	}
	walk(body, nil)
	var errs []error
	for _, f := range todo {
		plain, err := kr.Decrypt(f.val, eventID, strings.Join(f.path, "."))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		nb, err := jsonparser.Set(body, plain, f.path...)
		if err != nil {
			errs = append(errs, errors.New("cannot place decrypted field "+strings.Join(f.path, ".")))
			continue
		}
		body = nb
	}
	return body, errs
}

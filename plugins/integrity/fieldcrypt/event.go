package fieldcrypt

import (
	"bytes"
	"cmp"
	"encoding/json"
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
	trie     *pathNode
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
		if f.trie == nil {
			f.trie = &pathNode{}
		}
		f.trie.add(segs)
	}
	if f.trie != nil {
		f.trie.spreadWild()
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
// encrypted. The body is scanned once for all fields and rebuilt once; body itself
// is not modified.
func (kr *Keyring) EncryptEvent(body []byte, f Fields, subject, eventID string) ([]byte, int, error) {
	return kr.EncryptEventSlab(nil, body, f, subject, eventID)
}

// EncryptEventSlab is EncryptEvent building the new body in slab (nil: its
// own allocation).
func (kr *Keyring) EncryptEventSlab(slab *sdk.Slab, body []byte, f Fields, subject, eventID string) ([]byte, int, error) {
	var stack [8]span
	spans := stack[:0]
	if f.trie != nil {
		var ok bool
		if spans, ok = locate(body, f.trie, spans); !ok {
			spans = lookupSpans(spans[:0], body, f)
		}
	}
	if len(spans) == 0 {
		return body, 0, nil
	}
	spans = outermost(spans)
	grow := 0
	for _, sp := range spans {
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

// lookupSpans finds the fields with a lookup per field (and per "*"): for a
// body the one-pass walk could not read. It finds only the first copy of a
// repeated key.
func lookupSpans(spans []span, body []byte, f Fields) []span {
	for i, pat := range f.patterns {
		if f.literal[i] {
			spans = addSpan(spans, body, pat, f.joined[i])
			continue
		}
		var paths [][]string
		expand(body, pat, nil, &paths)
		for _, p := range paths {
			spans = addSpan(spans, body, p, "")
		}
	}
	return spans
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

// outermost sorts spans into body order and drops every span inside
// another (a field inside a field also configured, or one path matched by
// two patterns): the outer field is encrypted whole, the inner one with it.
func outermost(spans []span) []span {
	slices.SortFunc(spans, func(a, b span) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(b.end, a.end))
	})
	kept := spans[:0]
	for _, sp := range spans {
		if len(kept) > 0 && sp.start < kept[len(kept)-1].end {
			continue
		}
		kept = append(kept, sp)
	}
	return kept
}

// DecryptEvent replaces every encrypted field it holds a key for by its
// plaintext. Fields it cannot decrypt (destroyed key, corruption) stay as
// they are and are counted; their errors name key and field, never content.
func (kr *Keyring) DecryptEvent(body []byte, eventID string) ([]byte, []error) {
	fields, ok := encryptedFields(body)
	if !ok {
		return body, []error{errors.New("event is not a well-formed JSON object: nothing decrypted")}
	}
	if len(fields) == 0 {
		return body, nil
	}
	var errs []error
	out := make([]byte, 0, len(body))
	prev := 0
	for _, f := range fields {
		var enc string
		if err := json.Unmarshal(body[f.start:f.end], &enc); err != nil {
			errs = append(errs, fmt.Errorf("field %s: %w", f.path, ErrCorrupt))
			continue
		}
		plain, err := kr.Decrypt(enc, eventID, f.path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !json.Valid(plain) {
			errs = append(errs, errors.New("cannot place decrypted field "+f.path+": not a JSON value"))
			continue
		}
		out = append(append(out, body[prev:f.start]...), plain...)
		prev = f.end
	}
	return append(out, body[prev:]...), errs
}

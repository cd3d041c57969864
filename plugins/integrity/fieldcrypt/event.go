package fieldcrypt

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Fields is a compiled list of dotted field paths ("arguments.password"),
// where a "*" segment matches any key of an object.
type Fields struct {
	trie *pathNode // nil: no fields
}

// ErrNotObject means an event is not a well-formed JSON object: its fields
// cannot be found with certainty, so it is not passed on half encrypted.
var ErrNotObject = errors.New("event is not a well-formed JSON object")

// CompileFields checks and compiles field paths.
func CompileFields(paths []string) (Fields, error) {
	var f Fields
	for _, p := range paths {
		segs := strings.Split(p, ".")
		if slices.Contains(segs, "") {
			return f, fmt.Errorf("field %q: empty path segment", p)
		}
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
	if f.trie == nil {
		return body, 0, nil
	}
	var stack [8]span
	spans, ok := locate(body, f.trie, stack[:0])
	if !ok {
		return body, 0, ErrNotObject
	}
	if len(spans) == 0 {
		return body, 0, nil
	}
	spans = outermost(spans)
	grow := 0
	for _, sp := range spans {
		grow += (sp.end-sp.start+16+12)*4/3 + len(Prefix) + 16
	}
	out := slab.Buf(len(body) + grow)
	prev := 0
	for _, sp := range spans {
		out = append(out, body[prev:sp.start]...)
		var err error
		if out, err = kr.AppendEncrypted(out, body[sp.start:sp.end], subject, eventID, sp.path); err != nil {
			return body, 0, err
		}
		prev = sp.end
	}
	return slab.Keep(append(out, body[prev:]...)), len(spans), nil
}

// outermost sorts spans into body order and drops every span inside
// another (a field inside a field also configured, or one path matched by
// two patterns): the outer field is encrypted whole, the inner one with it.
func outermost(spans []span) []span {
	if len(spans) < 2 { // one field found, the common case: no sort to call
		return spans
	}
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
		return body, []error{fmt.Errorf("%w: nothing decrypted", ErrNotObject)}
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

package fieldcrypt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/buger/jsonparser"
)

// Fields is a compiled list of dotted field paths ("arguments.password"),
// where a "*" segment matches any key of an object.
type Fields struct{ patterns [][]string }

// CompileFields checks and compiles field paths.
func CompileFields(paths []string) (Fields, error) {
	var f Fields
	for _, p := range paths {
		segs := strings.Split(p, ".")
		for _, s := range segs {
			if s == "" {
				return f, fmt.Errorf("field %q: empty path segment", p)
			}
		}
		f.patterns = append(f.patterns, segs)
	}
	return f, nil
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
// encrypted.
func (kr *Keyring) EncryptEvent(body []byte, f Fields, subject, eventID string) ([]byte, int, error) {
	var paths [][]string
	for _, pat := range f.patterns {
		expand(body, pat, nil, &paths)
	}
	n := 0
	var enc []byte
	for _, path := range paths {
		val, typ, _, err := jsonparser.Get(body, path...)
		if err != nil || typ == jsonparser.NotExist || typ == jsonparser.Null {
			continue
		}
		if typ == jsonparser.String {
			if strings.HasPrefix(string(val), Prefix) {
				continue
			}
			// Get strips the quotes; the plaintext is the JSON value itself.
			val = rawString(body, path, val)
		}
		enc, err = kr.AppendEncrypted(enc[:0], val, subject, eventID, strings.Join(path, "."))
		if err != nil {
			return body, n, err
		}
		nb, err := jsonparser.Set(body, enc, path...)
		if err != nil {
			return body, n, fmt.Errorf("set %s: %w", strings.Join(path, "."), err)
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

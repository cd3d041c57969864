package fieldcrypt

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/buger/jsonparser"
	"slices"
	"strings"
	"testing"
)

var locateFields = []string{"arguments.password", "result", "a.b.c", "a.*.d", "token", "meta.*"}

// referenceSpans is the reference: one jsonparser lookup per field and
// per "*" (how fields were found before the one-pass walk).
func referenceSpans(body []byte) []span {
	var spans []span
	for _, p := range locateFields {
		var paths [][]string
		expand(body, strings.Split(p, "."), nil, &paths)
		for _, path := range paths {
			spans = lookupSpan(spans, body, path)
		}
	}
	return outermost(spans)
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
			if k := string(key); strings.IndexByte(k, '\\') < 0 { // escaped keys: not compared
				expand(body, pat[i+1:], append(append([]string(nil), base...), k), out)
			}
			return nil
		})
		return
	}
	*out = append(*out, append(append([]string(nil), prefix...), pat...))
}

// lookupSpan appends the span of the field at path if it is present, not
// null and not yet encrypted.
func lookupSpan(spans []span, body []byte, path []string) []span {
	val, typ, end, err := jsonparser.Get(body, path...)
	if err != nil || typ == jsonparser.Null || (typ == jsonparser.String && bytes.HasPrefix(val, []byte(Prefix))) {
		return spans
	}
	start := end - len(val)
	if typ == jsonparser.String {
		start -= 2 // the value with its quotes
	}
	return append(spans, span{start: start, end: end, path: strings.Join(path, ".")})
}

func locateSpans(t testing.TB, body []byte) ([]span, bool) {
	f, err := CompileFields(locateFields)
	if err != nil {
		t.Fatal(err)
	}
	spans, ok := locate(body, f.trie, nil)
	return outermost(spans), ok
}

var locateCases = []string{
	`{"event_id":"e","arguments":{"password":"hunter2","path":"/etc"},"result":"ok"}`,
	` { "result" : { "rows" : [ 1 , {"x":"}"} ] } , "arguments" : { "password" : 42 } } `,
	`{"arguments":{"path":"a\"b\\","password":"p\\\"w"},"result":[1,2,[3]],"token":true}`,
	`{"a":{"b":{"c":"deep","d":1},"c":2},"b":{"c":3}}`,
	`{"a":{"x":{"d":[1],"c":0},"b":{"d":null,"c":"c"}},"meta":{"k":1,"l":{"m":2},"n":"$enc:v1.k.x"}}`,
	`{"meta":"scalar","a":{"b":{"c":{"d":1}}}}`,
	`{"arguments":"not an object","result":null,"token":"$enc:v1.k.x"}`,
	`{"arguments":{"nested":{"password":"no"}},"password":"top"}`,
	`{"x":"\u0022result\u0022","result":-1.5e+3,"token":false}`,
	`{}`,
	`{"result":""}`,
}

// One pass finds exactly what a lookup per field finds.
func TestLocateMatchesLookupPerField(t *testing.T) {
	for _, body := range locateCases {
		got, ok := locateSpans(t, []byte(body))
		if !ok {
			t.Fatalf("%s: not located", body)
		}
		if want := referenceSpans([]byte(body)); !slices.Equal(got, want) {
			t.Fatalf("%s:\n got %v\nwant %v", body, got, want)
		}
	}
}

// A key given twice is encrypted twice: a last-key-wins reader would
// otherwise see the second value in plaintext.
func TestLocateEncryptsDuplicateKeys(t *testing.T) {
	_, kr := testKeyring(t)
	f, _ := CompileFields([]string{"result"})
	enc, n, err := kr.EncryptEvent([]byte(`{"event_id":"e","result":"first","result":"second"}`), f, "", "e")
	if err != nil || n != 2 || strings.Contains(string(enc), "first") || strings.Contains(string(enc), "second") {
		t.Fatalf("%d fields, err %v: %s", n, err, enc)
	}
	var v map[string]any
	if err := json.Unmarshal(enc, &v); err != nil {
		t.Fatal(err)
	}
}

// Escaped keys are read unescaped, and every copy of a repeated field is
// encrypted, also where fields nest; a malformed body is refused.
func TestLocateEscapedNestedAndRepeated(t *testing.T) {
	_, kr := testKeyring(t)
	for _, c := range []struct {
		fields []string
		body   string
		n      int
	}{
		{[]string{"result"}, `{"res\u0075lt":"SECRET"}`, 1},
		{[]string{"result"}, `{"ev\u0065nt_id":"e","result":"SECRET","result":"SECRET"}`, 2},
		{[]string{"result"}, `{"result":"SECRET","res\u0075lt":"SECRET"}`, 2},
		{[]string{"arguments", "arguments.password", "token"}, `{"arguments":{"password":"SECRET"},"token":"SECRET","token":"SECRET"}`, 3},
		{[]string{"arguments", "arguments.password"}, `{"arguments":{"password":"SECRET","x":"SECRET"},"arguments":{"y":"SECRET"}}`, 2},
		{[]string{"arguments.*", "arguments.password"}, `{"arguments":{"password":"SECRET","x":"SECRET"}}`, 2},
		{[]string{"arguments.*"}, `{"arguments":{"x":"SECRET","x":"SECRET"},"arguments":{"y":"SECRET"}}`, 3},
		{[]string{"*.token"}, `{"a":{"token":"SECRET","token":"SECRET"},"b\u0062":{"t\u006fken":"SECRET"}}`, 3},
	} {
		f, err := CompileFields(c.fields)
		if err != nil {
			t.Fatal(err)
		}
		enc, n, err := kr.EncryptEvent([]byte(c.body), f, "", "e")
		if err != nil || n != c.n || strings.Contains(string(enc), "SECRET") {
			t.Errorf("%v on %s: %d fields (want %d), err %v: %s", c.fields, c.body, n, c.n, err, enc)
		}
		dec, errs := kr.DecryptEvent(enc, "e")
		if len(errs) > 0 || strings.Count(string(dec), "SECRET") != strings.Count(c.body, "SECRET") {
			t.Errorf("%s: decrypted %s %v", c.body, dec, errs)
		}
	}
	f, _ := CompileFields([]string{"result"})
	for _, body := range []string{`{"result":"unterminated}`, `["result"]`, `{"result" "x"}`} {
		if _, ok := locateSpans(t, []byte(body)); ok {
			t.Errorf("%s: located", body)
		}
		// Not passed on half encrypted: refused whole.
		if out, n, err := kr.EncryptEvent([]byte(body), f, "", "e"); !errors.Is(err, ErrNotObject) || n != 0 || string(out) != body {
			t.Errorf("%s: %d fields, err %v", body, n, err)
		}
	}
}

// On any valid JSON object with unique keys and no escapes, one pass and
// the lookup per field agree; on anything, locate neither panics nor loops.
func FuzzLocate(f *testing.F) {
	for _, c := range locateCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := locateSpans(t, body)
		// The lookup under "*" skips escaped keys, which the one pass reads
		// unescaped (and encrypts): compare where they agree by design.
		if !ok || !json.Valid(body) || hasDuplicateKeys(body) || bytes.IndexByte(body, '\\') >= 0 {
			return
		}
		if want := referenceSpans(body); !slices.Equal(got, want) {
			t.Fatalf("%q:\n got %v\nwant %v", body, got, want)
		}
	})
}

func hasDuplicateKeys(body []byte) bool {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	type frame struct {
		obj  bool
		keys map[string]bool
		key  bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{obj: v == '{', keys: map[string]bool{}, key: v == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.obj && top.key {
				if top.keys[v] {
					return true
				}
				top.keys[v] = true
				top.key = false
				continue
			}
		}
		if top != nil && top.obj {
			top.key = true
		}
	}
}

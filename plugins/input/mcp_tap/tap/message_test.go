package tap

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParseMessageMatchesEncodingJSON: the fast envelope parse accepts and
// refuses what encoding/json does, and reads the same fields.
func FuzzParseMessageMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}`,
		`{"jsonrpc":"2.0","id":"x\"y","result":{"content":[]}}`,
		`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"bad"}}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}`,
		`{"jsonrpc":"2.0","method":"tools\/call","id":2}`,
		`{"jsonrpc":"2.0","id":1,"method":5}`,
		`{"jsonrpc":2,"id":1}`,
		`{"jsonrpc":"2.0","id":1,"error":{"code":"x"}}`,
		`{"jsonrpc":"2.0","id":1,"error":null,"result":null}`,
		`{"id":1,"id":2,"method":"a","method":"b"}`,
		` { "id" : 7 , "method" : "ping" } `,
		`{"jsonrpc":"2.0","id":1,"result":{}} trailing`,
		`[1,2]`, `"str"`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want, got message
		werr := json.Unmarshal(raw, &want)
		gerr := parseMessage(raw, &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: encoding/json %v, parseMessage %v", raw, werr, gerr)
		}
		if werr != nil {
			return
		}
		same := func(a, b json.RawMessage) bool {
			return (a == nil) == (b == nil) && bytes.Equal(a, b)
		}
		if want.JSONRPC != got.JSONRPC || want.Method != got.Method || !same(want.ID, got.ID) ||
			!same(want.Params, got.Params) || !same(want.Result, got.Result) ||
			(want.Error == nil) != (got.Error == nil) || (want.Error != nil && (want.Error.Code != got.Error.Code || want.Error.Message != got.Error.Message)) {
			t.Fatalf("%q:\nencoding/json %+v\nparseMessage  %+v", raw, want, got)
		}
	})
}

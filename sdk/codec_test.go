package sdk

import (
	"reflect"
	"testing"
	"time"
)

func TestRecordsSurviveTheWireEncoding(t *testing.T) {
	in := []*Record{
		{ID: "01J", Time: time.Unix(1763892000, 123456789).UTC(), Type: EventToolExecution, Session: "s", Server: "files",
			Method: "tools/call", Direction: "client_to_server", Status: "success", Severity: "info", Classification: "INTERNAL",
			Attributes: map[string]string{"mcp.method.name": "tools/call", "": "empty key"}, Body: []byte(`{"a":1}`)},
		{Time: time.Unix(0, 0).UTC()}, // every field empty
	}
	out, err := decodeRecords(appendRecords(nil, in), len(in))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip changed records:\n in %+v\nout %+v", in[0], out[0])
	}
}

func TestCorruptEncodingIsAnErrorNotAPanic(t *testing.T) {
	good := appendRecords(nil, []*Record{{ID: "x", Body: []byte(`{}`), Attributes: map[string]string{"k": "v"}}})
	for cut := 0; cut < len(good); cut++ {
		if _, err := decodeRecords(good[:cut], 1); err == nil {
			t.Fatalf("truncated to %d bytes: no error", cut)
		}
	}
	if _, err := decodeRecords(append(good, 0), 1); err == nil {
		t.Fatal("trailing garbage: no error")
	}
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add(appendRecords(nil, []*Record{{ID: "x", Body: []byte(`{}`)}}), 1)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 3)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 1000 {
			return
		}
		recs, err := decodeRecords(b, n)
		if err == nil && len(recs) != n {
			t.Fatalf("decoded %d records, asked for %d", len(recs), n)
		}
	})
}

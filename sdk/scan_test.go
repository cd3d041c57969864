package sdk

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

func TestNewRecordReadsTheEnvelopeInOnePass(t *testing.T) {
	r, err := NewRecord([]byte(` {"event_id":"01J","timestamp":"2026-11-23T10:00:00.5Z","event_type":"mcp_tool_execution",
		"severity":"high","session_id":"s\u00e9","server":"files","method":"tools/call","direction":"client_to_server",
		"status":"success","classification":"SECRET","nested":{"event_id":"not me"},"arguments":[1,2,{"a":null}]} `))
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "01J" || r.Type != "mcp_tool_execution" || r.Severity != "high" || r.Session != "sé" || r.Server != "files" ||
		r.Method != "tools/call" || r.Direction != "client_to_server" || r.Status != "success" || r.Classification != "SECRET" {
		t.Fatalf("envelope %+v", r)
	}
	if !r.Time.Equal(time.Date(2026, 11, 23, 10, 0, 0, 5e8, time.UTC)) {
		t.Fatalf("time %v", r.Time)
	}
	for _, ts := range []string{`1763892000`, `1763892000123`, `1763892000123456789`, `1763892000.5`} {
		r, err := NewRecord([]byte(`{"timestamp":` + ts + `}`))
		if err != nil || r.Time.Year() != 2025 {
			t.Errorf("epoch %s: %v %v", ts, r.Time, err)
		}
	}
}

func TestNewRecordAddsAnIDOnlyWhenMissing(t *testing.T) {
	r, err := NewRecord([]byte(`{"event_type":"x"}`))
	if err != nil || len(r.ID) != 26 || !strings.HasPrefix(string(r.Body), `{"event_id":"`+r.ID+`","event_type"`) {
		t.Fatalf("%v %s", err, r.Body)
	}
	r, _ = NewRecord([]byte(`{}`))
	if string(r.Body) != `{"event_id":"`+r.ID+`"}` || !json.Valid(r.Body) {
		t.Fatalf("empty object: %s", r.Body)
	}
}

// The scanner must agree with encoding/json on what is valid JSON.
var validity = []string{
	`{}`, `{"a":1}`, `{"a":-0.5e+10}`, `{"a":[true,false,null,"x",{"b":[]}]}`, `{"a":"\u00e9\n\"\\"}`,
	`{"a":1,}`, `{"a" 1}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a":"x`,
	`{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{"a":[1,]}`, `{"a":[1 2]}`, `{a:1}`, `{"a":1}x`, `[1]`, `"x"`,
	``, `{`, `{"a":{"b":1}`, `{"a":1}{"b":2}`, `{"a":nul}`, `{"a":"ok"} `, "\n{\"a\":1}\n",
}

func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range validity {
		obj := strings.HasPrefix(strings.TrimSpace(s), "{")
		want := json.Valid([]byte(s)) && obj
		_, err := NewRecord([]byte(s))
		if (err == nil) != want {
			t.Errorf("%q: scanner valid=%v, encoding/json valid=%v (%v)", s, err == nil, want, err)
		}
	}
}

func FuzzScannerAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range validity {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(strings.TrimSpace(s))
		want := json.Valid(b) && len(b) > 0 && b[0] == '{'
		if _, err := scanEnvelope(b); (err == nil) != want {
			t.Fatalf("%q: scanner valid=%v, encoding/json valid=%v", s, err == nil, want)
		}
	})
}

func BenchmarkNewRecord(b *testing.B) {
	body := []byte(`{"event_id":"01JBENCH000000000000000001","timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution","severity":"info","session_id":"6f1c2a7e-5b8d-4c3e-9a1f-2d4b6c8e0a13","client_id":"claude-desktop","server":"filesystem","tool_name":"read_file","arguments":{"path":"/srv/projects/atlas/reports/2026/q3-summary.md","encoding":"utf-8"},"result":"Quarterly revenue grew eleven percent; churn fell to 2.1 percent; the platform team shipped the audit pipeline.","duration_ms":12,"success":true}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := NewRecord(body); err != nil {
			b.Fatal(err)
		}
	}
}

// Strings are skipped a word at a time: a quote, escape or control byte at
// any offset of a long string must still be seen, and bytes at or above 0x7f
// must not be mistaken for them.
func TestScannerSeesEveryByteOfLongStrings(t *testing.T) {
	for _, special := range []string{`"`, `\\`, `\"`, `\n`, `\u00e9`, `\u12`, `\x`, "\x01", "\x1f", "\x7f", "\xff", " ", "é"} {
		for at := 0; at <= 24; at++ {
			s := `{"k":"` + strings.Repeat("a", at) + special + strings.Repeat("b", 24-at) + `","n":1}`
			want := json.Valid([]byte(s))
			if _, err := scanEnvelope([]byte(s)); (err == nil) != want {
				t.Errorf("%q: scanner valid=%v, encoding/json valid=%v (%v)", s, err == nil, want, err)
			}
		}
	}
}

// A RecordReader reading events one after another gives each the envelope
// NewRecord gives it, whatever it shares from the event before, leaving only
// the id and the missing time to the caller.
func TestRecordReaderReadsWhatNewRecordReads(t *testing.T) {
	events := []string{
		`{"event_id":"01J","timestamp":"2026-11-23T10:00:00.5Z","event_type":"mcp_tool_execution","severity":"high","session_id":"s1","server":"files","method":"tools/call","direction":"client_to_server","status":"success","classification":"SECRET"}`,
		`{"event_id":"01K","timestamp":"2026-11-23T10:00:00.5Z","event_type":"mcp_tool_execution","severity":"high","session_id":"s1","server":"files"}`,
		` {"timestamp":"2026-11-23T10:00:01Z","event_type":"mcp_tool_execution","session_id":"s\u00e9","server":"files"} `,
		`{"timestamp":1763892000,"event_type":"x","severity":7,"server":""}`,
		`{"timestamp":"1763892000","event_type":"x"}`,
		`{"timestamp":"2026-11-23T10:00:0\u0031Z","event_type":"x"}`,
		`{"timestamp":"2026-11-23T10:00:01Z","event_id":"","nested":{"event_id":"inner","server":"no"}}`,
		`{"event_id":7,"timestamp":null}`,
		`{}`,
	}
	var rr RecordReader
	for _, ev := range events {
		var got Record
		if _, err := rr.Read(&got, []byte(ev)); err != nil {
			t.Fatalf("%s: %v", ev, err)
		}
		want, err := NewRecord([]byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(want.Body), `"event_id":"`+want.ID+`"`) || !strings.HasPrefix(strings.TrimSpace(ev), `{"event_id":"`+want.ID) {
			want.ID, want.Body = "", []byte(strings.TrimSpace(ev)) // NewRecord made the id; Read leaves it to the caller
		}
		if !strings.Contains(ev, `"timestamp":"2`) && !strings.Contains(ev, `"timestamp":1`) {
			want.Time = time.Time{} // NewRecord defaulted it to now
		}
		if got.ID != want.ID || got.Type != want.Type || got.Severity != want.Severity || got.Session != want.Session ||
			got.Server != want.Server || got.Method != want.Method || got.Direction != want.Direction ||
			got.Status != want.Status || got.Classification != want.Classification || !got.Time.Equal(want.Time) ||
			string(got.Body) != string(want.Body) {
			t.Errorf("%s:\nread     %+v\nNewRecord %+v", ev, got, *want)
		}
	}
}

func TestRecordReaderReportsItsKey(t *testing.T) {
	for _, tc := range []struct {
		key, body string
		want      bool
	}{
		{"operation", `{"operation":"log_audit_event","event":{}}`, true},
		{"operation", `{"event_type":"x","operation":1}`, true},
		{"operation", `{"event":{"operation":1},"note":"operation"}`, false},
		{"operation", `{"oper\u0061tion":1}`, true},
		{"operation", `{"\u0078":1}`, true}, // escaped: it could have spelled the key
		{"operation", `{}`, false},
		{"", `{"operation":1}`, false},
	} {
		rr := RecordReader{Key: tc.key}
		var r Record
		if got, err := rr.Read(&r, []byte(tc.body)); err != nil || got != tc.want {
			t.Errorf("key %q in %s: %v (%v), want %v", tc.key, tc.body, got, err, tc.want)
		}
	}
}

func TestAppendNewIDsAreNewIDs(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	ts := []time.Time{t0, t0, t0.Add(time.Second), t0}
	ids := AppendNewIDs([]byte("x"), ts)
	if len(ids) != 1+26*len(ts) || ids[0] != 'x' {
		t.Fatalf("%q", ids)
	}
	seen := map[string]bool{}
	for i, tm := range ts {
		s := string(ids[1+26*i : 1+26*(i+1)])
		id, err := ulid.ParseStrict(s)
		if err != nil || !ulid.Time(id.Time()).Equal(tm.Truncate(time.Millisecond)) || seen[s] {
			t.Errorf("id %d %s: %v, time %v, want %v", i, s, err, ulid.Time(id.Time()), tm)
		}
		seen[s] = true
	}
	if a, b := string(ids[1:27]), string(ids[27:53]); a >= b {
		t.Errorf("ids of one millisecond do not increase: %s %s", a, b)
	}
}

// An event whose own timestamp a ULID cannot hold still gets an id, clamped
// to the nearest time one can; before, making it panicked the request.
func TestIDsForTimesOutsideTheULIDRange(t *testing.T) {
	for _, ts := range []time.Time{time.Unix(-86400, 0), time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if id := NewID(ts); len(id) != 26 {
			t.Fatalf("NewID(%v) = %q", ts, id)
		}
		if ids := AppendNewIDs(nil, []time.Time{ts, ts}); len(ids) != 52 || string(ids[:26]) >= string(ids[26:]) {
			t.Fatalf("AppendNewIDs(%v) = %q: want two ordered ids", ts, ids)
		}
	}
}

package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Events without an event_id get the body and envelope sdk.NewRecord gives
// them, whichever way the parser builds them.
func TestParsedRecordsMatchNewRecord(t *testing.T) {
	lines := []string{
		`{}`,
		`{ }`,
		`{"event_type":"mcp_tool_execution","timestamp":"2026-11-23T10:00:00.5Z","severity":"high","session_id":"s1","server":"fs"}`,
		`{ "a" : [1, {"b": null}], "timestamp": 1763892000123 }`,
		`{"nested":{"event_id":"inner"},"event_type":"x"}`,
		`{"event_id":"01JD3X7Q8M0000000000000001","event_type":"x"}`,
		`{"event_id":"","event_type":"x"}`,
		`{"event_id":7,"event_type":"x"}`,
		`{"event_type":"caf\u00e9"}`,
	}
	var body strings.Builder
	for _, l := range lines {
		body.WriteString(l + "\n\n")
	}
	recs, bad := parseBatch([]byte(body.String()))
	if len(bad) > 0 || len(recs) != len(lines) {
		t.Fatalf("records %d, errors %v", len(recs), bad)
	}
	for i, l := range lines {
		got := recs[i]
		want, err := sdk.NewRecord([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		if len(got.ID) != len(want.ID) {
			t.Errorf("%s: id %q, NewRecord gives %q", l, got.ID, want.ID)
			continue
		}
		if wantBody := strings.Replace(string(want.Body), want.ID, got.ID, 1); string(got.Body) != wantBody {
			t.Errorf("%s:\nbody %s\nwant %s", l, got.Body, wantBody)
		}
		if got.Type != want.Type || got.Severity != want.Severity || got.Session != want.Session || got.Server != want.Server {
			t.Errorf("%s: envelope %+v, want %+v", l, got, want)
		}
		if got.Time.IsZero() {
			t.Errorf("%s: no time; NewRecord gives the time of reading", l)
		}
		if !json.Valid(got.Body) {
			t.Errorf("%s: body %s is not JSON", l, got.Body)
		}
		if strings.Contains(l, `"timestamp"`) {
			if !got.Time.Equal(want.Time) {
				t.Errorf("%s: time %v, want %v", l, got.Time, want.Time)
			}
			if id, err := ulid.Parse(got.ID); got.ID != want.ID && (err != nil || ulid.Time(id.Time()).UnixMilli() != got.Time.UnixMilli()) {
				t.Errorf("%s: id %s does not carry the event's time %v (%v)", l, got.ID, got.Time, err)
			}
		}
	}
	if recs[0].ID == recs[1].ID {
		t.Error("two events got one id")
	}
}

func TestParseReasons(t *testing.T) {
	for _, tc := range []struct{ line, reason string }{
		{`{"a":1,}`, "invalid JSON"},
		{`{"event_id":"x","a":tru}`, "invalid JSON"},
		{`{"operation":"log_audit_event","a":}`, "invalid JSON"},
		{`{"a":"\u12"}`, "invalid JSON"},
		{`[1]`, "event must be a JSON object"},
		{"{\v}", "invalid JSON"}, // not a JSON space, even where an id is spliced in
		{"{\u00a0\"a\":1}", "invalid JSON"},
		{`{"operation":"get_status"}`, `unsupported operation "get_status": only "log_audit_event" is accepted`},
		// an escaped key is still the operation
		{`{"oper\u0061tion":"get_status"}`, `unsupported operation "get_status": only "log_audit_event" is accepted`},
	} {
		_, bad := parseBatch([]byte("{}\n" + tc.line + "\n"))
		if len(bad) != 1 || bad[0].Line != 2 || bad[0].Reason != tc.reason {
			t.Errorf("%s: errors %v, want line 2 %q", tc.line, bad, tc.reason)
		}
	}
}

// The 202 body is byte for byte what json.Marshal writes for the same map.
func TestAcceptedBodyMatchesJSONMarshal(t *testing.T) {
	for _, ids := range [][]string{
		{},
		{"01JD3X7Q8M0000000000000001"},
		{"01JD3X7Q8M0000000000000001", `a"b\c`, "<&>", "caf\u00e9", "tab\there", "\u2028", "bad\xffutf8"},
	} {
		rec := httptest.NewRecorder()
		writeAccepted(rec, ids)
		want, _ := json.Marshal(map[string]any{"accepted": len(ids), "ids": ids})
		if got := rec.Body.String(); got != string(want)+"\n" {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		if rec.Code != nethttp.StatusAccepted || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
		}
	}
}

type chunkReader struct {
	data []byte
	step int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.step)], c.data)
	c.data = c.data[n:]
	return n, nil
}

func TestReadBody(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 5000)
	for _, cl := range []int64{-1, 0, 10, int64(len(data)), int64(len(data)) + 100} {
		got, err := readBody(nil, &chunkReader{data: data, step: 777}, cl, 1<<20)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("content length %d: %d bytes, %v", cl, len(got), err)
		}
	}
	boom := errors.New("boom")
	if _, err := readBody(nil, io.MultiReader(bytes.NewReader(data[:10]), iotestErr{boom}), 10, 100); !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

// A batch of events without ids is answered with the ids the records carry.
func TestBatchIDsAreTheRecordIDs(t *testing.T) {
	in, url := start(t, nil)
	ch := post(url, "/v1/events:batch", `{"event_type":"a"}`+"\n"+`{"event_type":"b","timestamp":"2026-11-23T10:00:00Z"}`+"\n")
	b := next(t, in, 5*time.Second)
	ack(in, b)
	r := wait(t, ch)
	ids, _ := r.body["ids"].([]any)
	if r.status != 202 || len(ids) != 2 || ids[0] != b.Records[0].ID || ids[1] != b.Records[1].ID {
		t.Fatalf("status %d, ids %v, records %s %s", r.status, ids, b.Records[0].ID, b.Records[1].ID)
	}
	for _, rec := range b.Records {
		var ev map[string]any
		if err := json.Unmarshal(rec.Body, &ev); err != nil || ev["event_id"] != rec.ID {
			t.Errorf("body %s, id %s: %v", rec.Body, rec.ID, err)
		}
	}
}

// BenchmarkParseBatch100 is one request of examples/bench: 100 events without
// event_id, parsed and answered.
func BenchmarkParseBatch100(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; i < 100; i++ {
		buf.WriteString(`{"timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution","severity":"info","session_id":"6f1c2a7e-5b8d-4c3e-9a1f-2d4b6c8e0a13","client_id":"claude-desktop","user_id":"u-7","server":"filesystem","tool_name":"read_file","arguments":{"path":"/srv/projects/atlas/reports/2026/q3-summary.md","contact":"ops-7@example.com"},"result":"Quarterly revenue grew eleven percent; churn fell to 2.1 percent.","duration_ms":12,"success":true}` + "\n")
	}
	body := buf.Bytes()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		recs, bad := parseBatch(body)
		if len(bad) > 0 || len(recs) != 100 {
			b.Fatal(bad)
		}
		ids := make([]string, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
		}
		writeAccepted(httptest.NewRecorder(), ids)
	}
}

// Request bodies' buffers are reused, so no record may point into one: every
// shape of event must survive its request body being overwritten.
func TestRecordsOutliveTheRequestBody(t *testing.T) {
	lines := []string{
		`{"event_type":"a","session_id":"s1","timestamp":"2026-11-23T10:00:00Z"}`,
		`{"event_id":"01JD3X7Q8M0000000000000001","event_type":"b","server":"caf\u00e9"}`,
		`{"operation":"log_audit_event","event":{"event_type":"c","tool_name":"nested"}}`,
		`{"operation":"log_audit_event","event_type":"d","tool_name":"flat"}`,
		`{"operation":"log_audit_event","event":{"event_id":"01JD3X7Q8M0000000000000002","event_type":"e"}}`,
	}
	body := []byte(strings.Join(lines, "\n"))
	recs, bad := parseBatch(body)
	if len(bad) > 0 || len(recs) != len(lines) {
		t.Fatalf("records %d, errors %v", len(recs), bad)
	}
	var before []string
	for _, r := range recs {
		before = append(before, r.ID+" "+r.Type+" "+r.Session+" "+r.Server+" "+string(r.Body))
	}
	for i := range body {
		body[i] = 'x'
	}
	for i, r := range recs {
		if got := r.ID + " " + r.Type + " " + r.Session + " " + r.Server + " " + string(r.Body); got != before[i] {
			t.Errorf("record %d changed with the request body:\n%s\nwas %s", i, got, before[i])
		}
		if !json.Valid(r.Body) || !strings.Contains(string(r.Body), `"event_id":"`+r.ID+`"`) || r.Type != string(rune('a'+i)) {
			t.Errorf("record %d: id %s type %s body %s", i, r.ID, r.Type, r.Body)
		}
	}
}

package classifier

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Parsing reads the body in place (keys and plain strings are views of it);
// nothing that outlives Process may keep such a view. Overwriting the input
// bodies afterwards must change neither the records nor the counters.
func TestNothingKeptAliasesTheInputBody(t *testing.T) {
	c := newClassifier(t, `{"audit_level":"enterprise","frameworks":["sox","gdpr"],"unknown_event_types":"pass"}`)
	bodies := []string{
		`{"event_id":"01JD3X7Q8M0000000000000001","event_type":"mcp_tool_execution","severity":"info","tool_name":"read_file","pii":{"email":1},"result":"ok"}`,
		`{"event_id":"01JD3X7Q8M0000000000000002","event_type":"custom_thing","severity":"High","classification":"secret"}`,
		`{"event_id":"01JD3X7Q8M0000000000000003","event_type":"mcp_authentication_events","success":false,"user_id":"u-1"}`,
	}
	in := &sdk.Batch{}
	for _, b := range bodies {
		r, err := sdk.NewRecord([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		in.Records = append(in.Records, r)
	}
	inputs := make([][]byte, len(in.Records))
	for i, r := range in.Records {
		inputs[i] = r.Body
	}
	out, err := c.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	type snapshot struct {
		Type, Severity, Classification string
		Attributes                     map[string]string
		Body                           string
	}
	take := func() []snapshot {
		var s []snapshot
		for _, r := range out.Records {
			attrs := map[string]string{}
			for k, v := range r.Attributes {
				attrs[k] = v
			}
			s = append(s, snapshot{r.Type, r.Severity, r.Classification, attrs, string(r.Body)})
		}
		return s
	}
	summary := func() string {
		v, err := c.Invoke(context.Background(), "get_audit_summary", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	before, sumBefore := take(), summary()
	for _, b := range inputs {
		for i := range b {
			b[i] = 'X'
		}
	}
	if after := take(); !reflect.DeepEqual(before, after) {
		t.Errorf("records changed with their input:\nbefore %+v\nafter  %+v", before, after)
	}
	if sumAfter := summary(); sumAfter != sumBefore {
		t.Errorf("counters changed with the input:\nbefore %s\nafter  %s", sumBefore, sumAfter)
	}
	if len(out.Records) != 4 || out.Records[1].Type != "custom_thing" || out.Records[1].Classification != "SECRET" ||
		out.Records[1].Severity != "high" || out.Records[3].Type != sdk.EventSecurityThreats {
		t.Fatalf("records %+v", before)
	}
	want := `{"event_id":"01JD3X7Q8M0000000000000001","event_type":"mcp_tool_execution","severity":"info","tool_name":"read_file",` +
		`"pii":{"email":1},"result":"ok","classification":"CONFIDENTIAL","compliance":["sox","gdpr"],"retention_days":2555,"index":"mcp-tools"}`
	if before[0].Body != want {
		t.Errorf("body\n%s\nwant\n%s", before[0].Body, want)
	}
	if a := before[0].Attributes; a["compliance"] != "sox,gdpr" || a["retention_days"] != "2555" || a["index"] != "mcp-tools" {
		t.Errorf("attributes %v", a)
	}
}

// Values needing JSON escapes are written as encoding/json writes them.
func TestSetValuesAreEscapedAsEncodingJSON(t *testing.T) {
	c := newClassifier(t, `{"audit_level":"enterprise","unknown_event_types":"pass","event_type":[{"name":"a<b>\"c","index":"i&x"}]}`)
	out := run(t, c, `{"event_id":"01JD3X7Q8M0000000000000001","event_type":"a\u003cb\u003e\"c"}`)
	want := `{"event_id":"01JD3X7Q8M0000000000000001","event_type":"a\u003cb\u003e\"c","severity":"info","classification":"INTERNAL",` +
		`"compliance":[],"retention_days":365,"index":"i\u0026x"}`
	if got := string(out.Records[0].Body); got != want {
		t.Errorf("body\n%s\nwant\n%s", got, want)
	}
}

// A body too large for the reused rewrite buffer is handed to its record;
// events rewritten after it must leave its bytes alone.
func TestLargeBodiesKeepTheirBytes(t *testing.T) {
	c := newClassifier(t, `{"audit_level":"enterprise","frameworks":["sox"],"max_result_chars":0}`)
	large := func(fill string) (in, want string) {
		result := strings.Repeat(fill, 100<<10)
		in = `{"event_id":"01JD3X7Q8M0000000000000001","event_type":"mcp_tool_execution","result":"` + result + `","extra":1}`
		want = `{"event_id":"01JD3X7Q8M0000000000000001","event_type":"mcp_tool_execution","result":"` + result +
			`","severity":"info","classification":"INTERNAL","compliance":["sox"],"retention_days":2555,"index":"mcp-tools"}`
		return in, want
	}
	inA, wantA := large("a")
	inC, wantC := large("c")
	out := run(t, c, inA, `{"event_type":"mcp_tool_execution","result":"small"}`, inC)
	if len(out.Records) != 3 {
		t.Fatalf("%d records", len(out.Records))
	}
	if got := string(out.Records[0].Body); got != wantA {
		t.Errorf("first large body changed: %d bytes, want %d", len(got), len(wantA))
	}
	if got := string(out.Records[2].Body); got != wantC {
		t.Errorf("second large body: %d bytes, want %d", len(got), len(wantC))
	}
}

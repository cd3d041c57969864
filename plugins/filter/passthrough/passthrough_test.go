package passthrough

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
)

func TestReturnsTheSameRecords(t *testing.T) {
	tests := []struct {
		name   string
		bodies []string
	}{
		{"empty batch", nil},
		{"one record", []string{`{"event_type":"mcp_tool_execution"}`}},
		{"many records", []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &sdk.Batch{Seq: 42}
			for _, b := range tc.bodies {
				r, err := sdk.NewRecord([]byte(b))
				if err != nil {
					t.Fatal(err)
				}
				in.Records = append(in.Records, r)
			}
			out, err := Definition.New().Process(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if out.Len() != in.Len() || len(out.Rejected) != 0 {
				t.Fatalf("got %d records, %d rejected", out.Len(), len(out.Rejected))
			}
			for i := range in.Records {
				if out.Records[i] != in.Records[i] {
					t.Errorf("record %d changed", i)
				}
			}
		})
	}
}

// TestThroughTheLocalStream runs the filter with the semantics it has out of process.
func TestThroughTheLocalStream(t *testing.T) {
	conn := sdk.LocalConn(Definition, nil)
	res, err := conn.Invoke(context.Background(), sdk.OpProcess, json.RawMessage(`{"records":[{"event_id":"e1","n":1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Records []json.RawMessage }
	if err := json.Unmarshal(res, &got); err != nil || len(got.Records) != 1 || string(got.Records[0]) != `{"event_id":"e1","n":1}` {
		t.Fatalf("got %s (%v)", res, err)
	}
	if err := Definition.Check(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkProcess(b *testing.B) {
	in := &sdk.Batch{}
	for range 512 {
		r, _ := sdk.NewRecord([]byte(`{"event_type":"mcp_tool_execution","tool_name":"x"}`))
		in.Records = append(in.Records, r)
	}
	f := Definition.New()
	b.ReportAllocs()
	for range b.N {
		if _, err := f.Process(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

package stdout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
)

func configured(t *testing.T, raw string, out *bytes.Buffer) *Output {
	t.Helper()
	o := Definition.New().(*Output)
	o.Out = out
	cfg := sdk.Config{Raw: json.RawMessage(raw), DataDir: t.TempDir()}
	if err := o.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	if err := o.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return o
}

func batchOf(t *testing.T, bodies ...string) *sdk.Batch {
	t.Helper()
	b := &sdk.Batch{Seq: 7}
	for _, body := range bodies {
		b.Records = append(b.Records, &sdk.Record{ID: "x", Body: json.RawMessage(body)})
	}
	return b
}

func TestWritesOneLinePerRecord(t *testing.T) {
	tests := []struct {
		name, format string
		bodies       []string
		want         string
		rejected     []int
	}{
		{"compact body as is", "json", []string{`{"a":1,"b":"x"}`, `{"c":[1,2]}`}, "{\"a\":1,\"b\":\"x\"}\n{\"c\":[1,2]}\n", nil},
		{"multi-line body compacted", "json", []string{"{\n  \"a\": 1,\n  \"b\": [1, 2]\n}"}, "{\"a\":1,\"b\":[1,2]}\n", nil},
		{"default format is json", "", []string{`{"a":1}`}, "{\"a\":1}\n", nil},
		{"pretty", "pretty", []string{`{"a":1,"b":{"c":2}}`}, "{\n  \"a\": 1,\n  \"b\": {\n    \"c\": 2\n  }\n}\n", nil},
		{"invalid body rejected, others written", "json", []string{`{"a":1}`, `{"broken":`, `{"b":2}`}, "{\"a\":1}\n{\"b\":2}\n", []int{1}},
		{"invalid multi-line body rejected", "json", []string{"{\n\"a\":"}, "", []int{0}},
		{"invalid body rejected in pretty mode", "pretty", []string{`nope`}, "", []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			raw := `{}`
			if tc.format != "" {
				raw = `{"format":"` + tc.format + `"}`
			}
			o := configured(t, raw, &buf)
			out, err := o.Process(context.Background(), batchOf(t, tc.bodies...))
			if err != nil {
				t.Fatal(err)
			}
			if buf.String() != tc.want {
				t.Errorf("wrote %q, want %q", buf.String(), tc.want)
			}
			var idx []int
			for _, r := range out.Rejected {
				idx = append(idx, r.Index)
				if !strings.Contains(r.Reason, "not valid JSON") {
					t.Errorf("reason %q", r.Reason)
				}
			}
			if len(idx) != len(tc.rejected) || (len(idx) > 0 && idx[0] != tc.rejected[0]) {
				t.Errorf("rejected %v, want %v", idx, tc.rejected)
			}
		})
	}
}

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteFailureIsPermanent(t *testing.T) {
	o := Definition.New().(*Output)
	o.Out = brokenWriter{}
	if err := o.Configure(context.Background(), sdk.Config{}); err != nil {
		t.Fatal(err)
	}
	_, err := o.Process(context.Background(), batchOf(t, `{"a":1}`))
	if err == nil || sdk.IsRetryable(err) {
		t.Fatalf("got %v, want a permanent error", err)
	}
}

func TestBadFormatIsAFieldError(t *testing.T) {
	err := Definition.New().(*Output).Validate(sdk.Config{Raw: json.RawMessage(`{"format":"yaml"}`)})
	var fe *sdk.FieldError
	if !errors.As(err, &fe) || fe.Field != "format" {
		t.Fatalf("got %v", err)
	}
	if err := Definition.Check(); err != nil {
		t.Fatal(err)
	}
}

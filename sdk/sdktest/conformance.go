package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Options adapt the conformance suite to a plugin.
type Options struct {
	// Config is the plugin's arguments as JSON for the runtime checks (empty
	// batch, cancelled context, Close twice). Default: the README's first example.
	Config json.RawMessage
	// Readme is the README holding ```hcl examples; default "README.md".
	Readme string
	// Records builds the batch for the runtime checks; default Records(3).
	Records func() []*sdk.Record
}

// Conformance checks what every Sentinel plugin must do, in process and over
// a real gRPC connection: the definition is sound and survives describe, every
// README example validates, and Process copes with an empty batch, a cancelled
// context and an oversized batch, and Close can be called twice.
func Conformance(t *testing.T, def *sdk.Definition, opts Options) {
	t.Helper()
	if opts.Readme == "" {
		opts.Readme = "README.md"
	}
	if opts.Records == nil {
		opts.Records = func() []*sdk.Record { return Records(3) }
	}
	if err := def.Check(); err != nil {
		t.Fatalf("definition: %v", err)
	}
	t.Run("readme examples validate", func(t *testing.T) {
		bodies := ReadmeExamples(t, opts.Readme, def)
		if len(bodies) == 0 {
			t.Fatalf("%s has no ```hcl example with a %s %q block", opts.Readme, def.Kind, def.Name)
		}
		for _, body := range bodies {
			raw := DecodeExample(t, body, def)
			if err := Local(t, def).Configure(context.Background(), "example", t.TempDir(), raw, true); err != nil {
				t.Errorf("README example fails the plugin's validation: %v", err)
			}
			if opts.Config == nil {
				opts.Config = raw
			}
		}
	})
	for _, via := range []struct {
		name string
		conn func(testing.TB, *sdk.Definition) sdk.Conn
	}{{"in process", Local}, {"over rpc", RPC}} {
		t.Run(via.name, func(t *testing.T) {
			t.Run("describe round trip", func(t *testing.T) {
				got, err := via.conn(t, def).Describe(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				want, _ := json.Marshal(def)
				have, _ := json.Marshal(got)
				if !jsonEqual(want, have) {
					t.Fatalf("describe changed the definition:\nwant %s\nhave %s", want, have)
				}
			})
			configured := func(t *testing.T) sdk.Conn {
				conn := via.conn(t, def)
				if err := conn.Configure(context.Background(), "conformance", t.TempDir(), opts.Config, false); err != nil {
					t.Fatalf("configure with %s: %v", opts.Config, err)
				}
				return conn
			}
			t.Run("empty batch", func(t *testing.T) {
				conn := configured(t)
				out, err := Process(t, conn, def.Kind, &sdk.Batch{})
				if err != nil && !errors.Is(err, sdk.ErrEndOfInput) {
					t.Fatalf("empty batch: %v", err)
				}
				if def.Kind == sdk.KindFilter && out.Len() != 0 {
					t.Fatalf("a filter made %d records out of none", out.Len())
				}
				closeTwice(t, conn)
			})
			t.Run("cancelled context", func(t *testing.T) {
				conn := configured(t)
				ctx, cancel := context.WithCancel(context.Background())
				s, err := conn.Stream(ctx)
				if err != nil {
					t.Fatal(err)
				}
				kind := sdk.FrameProcess
				if def.Kind == sdk.KindInput {
					kind = sdk.FramePoll
				}
				cancel()
				_ = s.Send(&sdk.Frame{Kind: kind, Seq: 1, Batch: &sdk.Batch{Records: opts.Records()}, MaxWait: time.Second})
				done := make(chan struct{})
				go func() {
					defer close(done)
					for {
						if _, err := s.Recv(); err != nil {
							return
						}
					}
				}()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("the stream did not end within 10s of its context being cancelled")
				}
				closeTwice(t, conn)
			})
			if via.name == "over rpc" && def.Kind != sdk.KindInput {
				t.Run("oversized batch rejected cleanly", func(t *testing.T) {
					conn := configured(t)
					big := &sdk.Batch{}
					body := []byte(`{"event_type":"mcp_tool_execution","result":"` + strings.Repeat("x", 1<<20) + `"}`)
					for big.Bytes() <= sdk.MaxMessageBytes {
						r, _ := sdk.NewRecord(body)
						big.Records = append(big.Records, r)
					}
					if _, err := Process(t, conn, def.Kind, big); !errors.Is(err, sdk.ErrBatchTooLarge) {
						t.Fatalf("oversized batch: got %v, want ErrBatchTooLarge", err)
					}
					if _, err := Process(t, conn, def.Kind, &sdk.Batch{}); err != nil && !errors.Is(err, sdk.ErrEndOfInput) {
						t.Fatalf("the plugin is unusable after an oversized batch: %v", err)
					}
					closeTwice(t, conn)
				})
			}
		})
	}
}

func closeTwice(t *testing.T, conn sdk.Conn) {
	t.Helper()
	ctx := context.Background()
	if err := conn.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := conn.Close(ctx); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// exampleEvalContext lets README examples use env() and file() without the
// variables or files existing.
func exampleEvalContext() *hcl.EvalContext {
	placeholder := func(prefix string) function.Function {
		return function.New(&function.Spec{
			Params:   []function.Parameter{{Name: "name", Type: cty.String}},
			VarParam: &function.Parameter{Name: "default", Type: cty.String},
			Type:     function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				return cty.StringVal(prefix + args[0].AsString()), nil
			},
		})
	}
	return &hcl.EvalContext{Functions: map[string]function.Function{"env": placeholder("example-env-"), "file": placeholder("example-file-")}}
}

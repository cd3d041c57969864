// Package sdktest runs a plugin the way the host does, in process and over a
// real gRPC connection, and holds the conformance suite every plugin passes.
package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/schemahcl"
)

// Local runs def in process with the host's semantics.
func Local(t testing.TB, def *sdk.Definition) sdk.Conn {
	t.Helper()
	conn := sdk.LocalConn(def, nil)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// RPC serves def on a loopback gRPC server with the plugin process's options
// and returns the host's Conn to it: the wire, codecs and limits of a real run.
func RPC(t testing.TB, def *sdk.Definition) sdk.Conn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(sdk.GRPCServerOptions()...)
	if err := sdk.ServeGRPC(srv, def); err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	cc, err := grpc.NewClient(lis.Addr().String(), append(sdk.GRPCDialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Close()
		srv.Stop()
	})
	return sdk.DialGRPC(cc)
}

// Process sends one batch on a fresh stream of conn and returns the answer.
func Process(t testing.TB, conn sdk.Conn, kind sdk.Kind, b *sdk.Batch) (*sdk.Batch, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := conn.Stream(ctx)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	defer s.CloseSend()
	f := &sdk.Frame{Kind: sdk.FrameProcess, Seq: 1, Batch: b}
	if kind == sdk.KindInput {
		f.Kind, f.MaxWait = sdk.FramePoll, 200*time.Millisecond
	}
	if err := s.Send(f); err != nil {
		return nil, err
	}
	res, err := s.Recv()
	if err != nil {
		t.Fatalf("receive result: %v", err)
	}
	return res.Batch, res.Err
}

// Records returns n realistic MCP audit events.
func Records(n int) []*sdk.Record {
	out := make([]*sdk.Record, 0, n)
	for i := 0; i < n; i++ {
		body := []byte(`{"timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution","severity":"info",` +
			`"session_id":"s-1","client_id":"claude-desktop","server":"files","tool_name":"read_file",` +
			`"arguments":{"path":"/srv/reports/q3.txt"},"result":"Quarterly numbers are up.","duration_ms":12,"success":true}`)
		r, err := sdk.NewRecord(body)
		if err != nil {
			panic(err)
		}
		out = append(out, r)
	}
	return out
}

// ReadmeExamples returns the plugin's arguments (as HCL source) of every block
// for def in the ```hcl fenced blocks of the README at path.
func ReadmeExamples(t testing.TB, path string, def *sdk.Definition) []hcl.Body {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (every plugin has a README with an hcl example)", path, err)
	}
	var bodies []hcl.Body
	parser := hclparse.NewParser()
	for i, m := range fence.FindAllSubmatch(src, -1) {
		f, diags := parser.ParseHCL(m[1], path+"#example"+string(rune('1'+i)))
		if diags.HasErrors() {
			t.Fatalf("%s: hcl example %d does not parse: %s", path, i+1, diags.Error())
		}
		content, _, _ := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
			{Type: string(def.Kind), LabelNames: []string{"plugin", "name"}},
		}})
		for _, b := range content.Blocks {
			if b.Labels[0] == def.Name {
				bodies = append(bodies, b.Body)
			}
		}
	}
	return bodies
}

var fence = regexp.MustCompile("(?s)```hcl\n(.*?)```")

// hostArgs are decoded by the host, not the plugin.
var hostArgs = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "inputs"}, {Name: "enabled"}, {Name: "timeout"}, {Name: "isolate"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "batch"}, {Type: "buffer"}, {Type: "retry"}},
}

// DecodeExample decodes one example body into the plugin's JSON arguments.
func DecodeExample(t testing.TB, body hcl.Body, def *sdk.Definition) json.RawMessage {
	t.Helper()
	_, rest, _ := body.PartialContent(hostArgs)
	raw, diags := schemahcl.Decode(rest, def.Config, exampleEvalContext())
	if diags.HasErrors() {
		t.Fatalf("README example for %s does not decode: %s", def.Name, diags.Error())
	}
	return raw
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

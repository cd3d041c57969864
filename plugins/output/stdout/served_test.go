package stdout

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/sentinel-audit/sentinel/sdk"
)

// syncBuffer is written by go-plugin's stdio goroutine and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServedPluginLinesReachTheHostsSyncStdout runs the real plugin binary
// under go-plugin: what it writes to os.Stdout reaches the host only through
// ClientConfig.SyncStdout (go-plugin swaps the plugin's os.Stdout for a pipe
// it relays over gRPC, after New and before Configure).
func TestServedPluginLinesReachTheHostsSyncStdout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin := filepath.Join(t.TempDir(), "stdout-plugin")
	build := exec.Command("go", "build", "-o", bin, "./cmd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	var out syncBuffer
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.VersionedPlugins(Definition),
		Cmd:              exec.Command(bin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  sdk.GRPCDialOptions(),
		SyncStdout:       &out,
		Logger:           hclog.NewNullLogger(),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	conn := raw.(sdk.Conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := conn.Configure(ctx, "debug", t.TempDir(), json.RawMessage(`{"format":"json"}`), false); err != nil {
		t.Fatal(err)
	}
	stream, err := conn.Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	long := `{"event_type":"mcp_tool_execution","pad":"` + strings.Repeat("y", 3000) + `"}` // spans stdio chunks
	batch := &sdk.Batch{Records: []*sdk.Record{{ID: "a", Body: json.RawMessage(`{"n":1}`)}, {ID: "b", Body: json.RawMessage(long)}}}
	if err := stream.Send(&sdk.Frame{Kind: sdk.FrameProcess, Seq: 1, Batch: batch}); err != nil {
		t.Fatal(err)
	}
	res, err := stream.Recv()
	if err != nil || res.Err != nil {
		t.Fatalf("process: %v %v", err, res.Err)
	}
	want := "{\"n\":1}\n" + long + "\n"
	deadline := time.Now().Add(10 * time.Second)
	for out.String() != want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if out.String() != want {
		t.Fatalf("host saw %d bytes %q..., want %d bytes", len(out.String()), truncate(out.String()), len(want))
	}
	stream.CloseSend()
	_ = conn.Close(ctx)
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80]
	}
	return s
}

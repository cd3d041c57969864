package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// wrapBinaries are bin/sentinel and the example go-sdk CRM server, built once
// for the wrap tests: wrap is tested as a client launches it, a subprocess
// whose stdout is the MCP session.
var wrapBinaries struct {
	once          sync.Once
	sentinel, crm string
	err           error
	dir           string
}

func buildWrapBinaries(t *testing.T) (sentinel, crm string) {
	t.Helper()
	b := &wrapBinaries
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "wrapbin"); b.err != nil {
			return
		}
		b.sentinel, b.crm = filepath.Join(b.dir, "sentinel"), filepath.Join(b.dir, "crm-server")
		for pkg, out := range map[string]string{
			"github.com/sentinel-audit/sentinel/host/cmd/sentinel":   b.sentinel,
			"github.com/sentinel-audit/sentinel/examples/mcp/server": b.crm,
		} {
			if o, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
				b.err = fmt.Errorf("build %s: %v\n%s", pkg, err, o)
				return
			}
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.sentinel, b.crm
}

// wrapPipeline writes a pipeline whose mcp_tap input feeds a plain JSONL store,
// in a directory short enough for the ingest socket path.
func wrapPipeline(t *testing.T) (hcl, store string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "wr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	store = filepath.Join(dir, "audit")
	hcl = filepath.Join(dir, "pipeline.hcl")
	src := fmt.Sprintf(`sentinel {
  data_dir  = %q
  log_level = "warn"
}

input "mcp_tap" "tap" {
  server = "crm"
}

output "file" "store" {
  inputs = [input.mcp_tap.tap]
  path   = %q
  format = "jsonl"
  fsync  = "always"
}
`, filepath.Join(dir, "data"), store)
	if err := os.WriteFile(hcl, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return hcl, store
}

// storedEvents reads every event body the file output wrote.
func storedEvents(t *testing.T, store string) []map[string]any {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(store, "seg-*.jsonl"))
	var out []map[string]any
	for _, p := range segs {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			out = append(out, m)
		}
		f.Close()
	}
	return out
}

// sessionView is what an MCP client sees of a session: the server's
// identity and offer, and the answers to a fixed scenario.
type sessionView struct {
	Protocol string
	Server   *mcp.Implementation
	Tools    []string
	Lookup   any
	Refund   bool // isError
	Prompt   string
	Resource string
}

func viewSession(t *testing.T, ctx context.Context, cmd *exec.Cmd, version string) sessionView {
	t.Helper()
	cmd.Stderr = os.Stderr
	c := mcp.NewClient(&mcp.Implementation{Name: "wrap-test", Version: "1"}, nil)
	sess, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer sess.Close()
	v := sessionView{Protocol: sess.InitializeResult().ProtocolVersion, Server: sess.InitializeResult().ServerInfo}
	tools, err := sess.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range tools.Tools {
		v.Tools = append(v.Tools, tl.Name)
	}
	res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: "lookup_customer", Arguments: map[string]any{"customer_id": "C-1001"}})
	if err != nil {
		t.Fatal(err)
	}
	v.Lookup = res.StructuredContent
	if res, err = sess.CallTool(ctx, &mcp.CallToolParams{Name: "refund_order", Arguments: map[string]any{"order_id": "O-1", "amount": 900}}); err != nil {
		t.Fatal(err)
	}
	v.Refund = res.IsError
	pr, err := sess.GetPrompt(ctx, &mcp.GetPromptParams{Name: "customer_summary", Arguments: map[string]string{"customer_id": "C-1"}})
	if err != nil {
		t.Fatal(err)
	}
	v.Prompt = string(mustMarshal(pr.Messages))
	rr, err := sess.ReadResource(ctx, &mcp.ReadResourceParams{URI: "crm://policies/refunds"})
	if err != nil {
		t.Fatal(err)
	}
	v.Resource = string(mustMarshal(rr.Contents))
	if err := sess.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return v
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestWrapClientSeesTheSameSessionAndEventsReachThePipeline drives
// `sentinel wrap -c pipeline.hcl -- crm-server` with the go-sdk client, as an
// MCP client configured to launch it would, for both protocol generations:
// the session is the one the server gives directly, and the events are in
// the pipeline's store once the wrapper has exited.
func TestWrapClientSeesTheSameSessionAndEventsReachThePipeline(t *testing.T) {
	sentinel, crm := buildWrapBinaries(t)
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			direct := viewSession(t, ctx, exec.Command(crm, "-root", "."), version)
			hcl, store := wrapPipeline(t)
			wrapped := viewSession(t, ctx, exec.Command(sentinel, "wrap", "-c", hcl, "--", crm, "-root", "."), version)
			if !reflect.DeepEqual(direct, wrapped) {
				t.Fatalf("the wrapped session differs:\ndirect  %+v\nwrapped %+v", direct, wrapped)
			}
			if wrapped.Protocol != version {
				t.Fatalf("negotiated %s", wrapped.Protocol)
			}

			// the client's Close waited for the wrapper to exit, and the
			// wrapper stops its pipeline before it exits: the store is complete
			events := storedEvents(t, store)
			byType := map[string][]map[string]any{}
			for _, e := range events {
				byType[e["event_type"].(string)] = append(byType[e["event_type"].(string)], e)
			}
			calls := byType["mcp_tool_execution"]
			if len(calls) != 2 {
				t.Fatalf("%d tool executions stored; events: %v", len(calls), events)
			}
			for _, c := range calls {
				if c["client_id"] != "wrap-test/1" || c["server"] != "crm-demo" || c["mcp.protocol.version"] != version ||
					c["network.transport"] != "pipe" || c["session_id"] != calls[0]["session_id"] {
					t.Fatalf("tool event %v", c)
				}
			}
			if c := calls[0]; c["tool_name"] != "lookup_customer" || c["success"] != true ||
				!strings.Contains(string(mustMarshal(c["result"])), "ada.lovelace@example.com") {
				t.Fatalf("lookup event %v", c)
			}
			if c := calls[1]; c["tool_name"] != "refund_order" || c["success"] != false || c["error.type"] != "tool_error" {
				t.Fatalf("refund event %v", c)
			}
			if len(byType["mcp_prompt_request"]) != 1 || len(byType["mcp_resource_access"]) != 1 {
				t.Fatalf("prompt/resource events: %v", events)
			}
			sess := byType["mcp_session_events"]
			if len(sess) != 2 || sess[0]["action"] != "start" || sess[1]["action"] != "end" || sess[1]["reason"] != "client_closed" {
				t.Fatalf("session events %v", sess)
			}
		})
	}
}

// TestWrapExitsAsTheServerDid: the client sees the server's exit status, and
// a server killed by a signal makes the wrapper die by the same signal.
func TestWrapExitsAsTheServerDid(t *testing.T) {
	sentinel, _ := buildWrapBinaries(t)
	hcl, _ := wrapPipeline(t)
	run := func(script string) *os.ProcessState {
		cmd := exec.Command(sentinel, "wrap", "-c", hcl, "--", "sh", "-c", script)
		cmd.Stdin = strings.NewReader("")
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("run: %v", err)
		}
		return cmd.ProcessState
	}
	if st := run("exit 7"); st.ExitCode() != 7 {
		t.Fatalf("exit %v, want 7", st)
	}
	if st := run("exit 0"); !st.Success() {
		t.Fatalf("exit %v, want 0", st)
	}
	st := run("kill -TERM $$")
	if ws, ok := st.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Fatalf("wrapper ended %v, want killed by SIGTERM", st)
	}
}

// TestWrapRefusesBadInvocations runs the binary (a fresh process each time:
// pflag keeps the position of "--" between in-process runs).
func TestWrapRefusesBadInvocations(t *testing.T) {
	sentinel, _ := buildWrapBinaries(t)
	dataDir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"wrap", "-c", "p.hcl", "--to", "x.sock", "--", "true"}, "either"},
		{[]string{"wrap", "--", "true"}, "say where events go"},
		{[]string{"wrap", "--to", "x.sock", "true"}, "after --"},
	} {
		cmd := exec.Command(sentinel, append(tc.args[:1:1], append([]string{"--data-dir", dataDir}, tc.args[1:]...)...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: %v %s, want an error saying %q", tc.args, err, out, tc.want)
		}
	}
}

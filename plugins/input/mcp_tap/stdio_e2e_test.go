package mcp_tap_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap"
	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/deliver"
	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/stdio"
	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/tap"
)

// wrapped runs command behind the tap in process, exactly as `sentinel wrap`
// does, with the client end as pipes; events go to the ingest at address.
type wrapped struct {
	clientR *os.File // what the client reads (server → client)
	clientW *os.File // what the client writes (client → server)
	tap     *tap.Tap
	sink    *deliver.Sink
	exit    chan stdio.Exit
}

func wrap(t testing.TB, address, dataDir string, pol *tap.PolicyConfig, command ...string) *wrapped {
	t.Helper()
	ep, err := deliver.ParseAddress(address)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := deliver.NewSink(deliver.SinkOptions{Client: deliver.NewClient(ep, "", 5*time.Second),
		SpoolDir: filepath.Join(dataDir, "spool"), MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cfg := tap.Config{Transport: "pipe", Server: strings.Join(command, " "), Endpoint: "stdio:" + command[0],
		Inventory: tap.OpenInventory(filepath.Join(dataDir, "tools.json")), Emit: sink.Emit}
	if pol != nil {
		if cfg.Policy, err = tap.NewPolicy(*pol); err != nil {
			t.Fatal(err)
		}
	}
	w := &wrapped{tap: tap.New(cfg), sink: sink, exit: make(chan stdio.Exit, 1)}
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	w.clientR, w.clientW = outR, inW
	go func() {
		ex, err := stdio.Run(stdio.Options{Command: command, Stdin: inR, Stdout: outW, Stderr: os.Stderr,
			Tap: w.tap, Gate: pol != nil && pol.Mode == "enforce"})
		if err != nil {
			t.Errorf("run: %v", err)
		}
		outW.Close()
		inR.Close()
		w.exit <- ex
	}()
	return w
}

func (w *wrapped) wait(t testing.TB) stdio.Exit {
	t.Helper()
	select {
	case ex := <-w.exit:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.sink.Close(ctx); err != nil {
			t.Fatal(err)
		}
		return ex
	case <-time.After(15 * time.Second):
		t.Fatal("wrapped server did not exit")
	}
	return stdio.Exit{}
}

// crmScenario drives the example server through an MCP session.
func crmScenario(t *testing.T, ctx context.Context, sess *mcp.ClientSession) {
	t.Helper()
	if _, err := sess.ListTools(ctx, nil); err != nil {
		t.Fatal(err)
	}
	res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: "lookup_customer", Arguments: map[string]any{"customer_id": "C-1001"}})
	if err != nil || res.IsError {
		t.Fatalf("lookup: %v %v", err, res)
	}
	res, err = sess.CallTool(ctx, &mcp.CallToolParams{Name: "refund_order", Arguments: map[string]any{"order_id": "O-9", "amount": 900}})
	if err != nil || !res.IsError {
		t.Fatalf("refund should fail with isError: %v %v", err, res)
	}
	if _, err := sess.GetPrompt(ctx, &mcp.GetPromptParams{Name: "customer_summary", Arguments: map[string]string{"customer_id": "C-1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.ReadResource(ctx, &mcp.ReadResourceParams{URI: "crm://policies/refunds"}); err != nil {
		t.Fatal(err)
	}
}

func checkScenarioEvents(t *testing.T, h *host, version string) {
	t.Helper()
	// the events of the last requests may still be on their way to the host
	waitFor(t, "scenario events", func() bool {
		return len(h.ofType("mcp_tool_execution")) == 2 && len(h.ofType(tap.EventSession)) >= 1 &&
			len(h.ofType("mcp_prompt_request")) >= 1 && len(h.ofType("mcp_resource_access")) >= 1
	})
	calls := h.ofType("mcp_tool_execution")
	byTool := map[string]map[string]any{}
	for _, c := range calls {
		byTool[c["tool_name"].(string)] = c
	}
	if c := byTool["lookup_customer"]; c == nil || c["success"] != true || !strings.Contains(string(mustJSON(c["result"])), "ada.lovelace@example.com") {
		t.Fatalf("lookup event: %v", c)
	}
	if c := byTool["refund_order"]; c == nil || c["success"] != false || c["error.type"] != "tool_error" {
		t.Fatalf("refund event: %v", c)
	}
	for _, c := range calls {
		if c["mcp.protocol.version"] != version || c["server"] != "crm-demo" || c["client_id"] != "tap-test/1" {
			t.Fatalf("identity on %v", c)
		}
		if _, ok := c["duration_ms"].(float64); !ok {
			t.Fatalf("no duration: %v", c)
		}
	}
	if n := len(h.ofType("mcp_prompt_request")); n != 1 {
		t.Fatalf("prompt events %d", n)
	}
	if r := h.ofType("mcp_resource_access"); len(r) != 1 || r[0]["resource_uri"] != "crm://policies/refunds" {
		t.Fatalf("resource events %v", r)
	}
	start := h.ofType(tap.EventSession)[0]
	if start["action"] != "start" {
		t.Fatalf("first session event %v", start)
	}
}

func TestStdioGoSDKSessionThroughTapBothGenerations(t *testing.T) {
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			dir := shortDir(t)
			h := startHost(t, dir, map[string]any{})
			w := wrap(t, filepath.Join(dir, mcp_tap.IngestSocket), shortDir(t), nil, serverBin, "-root", ".")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c := mcp.NewClient(&mcp.Implementation{Name: "tap-test", Version: "1"}, nil)
			sess, err := c.Connect(ctx, &mcp.IOTransport{Reader: w.clientR, Writer: w.clientW}, &mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			if got := sess.InitializeResult().ProtocolVersion; got != version {
				t.Fatalf("negotiated %s", got)
			}
			crmScenario(t, ctx, sess)
			sess.Close() // closes the client's pipes: the server sees EOF and exits
			if ex := w.wait(t); ex.Code != 0 || ex.Signal != 0 {
				t.Fatalf("exit %+v", ex)
			}
			checkScenarioEvents(t, h, version)
			waitFor(t, "session end", func() bool { return len(h.ofType(tap.EventSession)) == 2 })
			end := h.ofType(tap.EventSession)[1]
			if end["action"] != "end" || end["reason"] != "client_closed" {
				t.Fatalf("end %v", end)
			}
			if w.sink.Spilled.Load() != 0 {
				t.Fatalf("spilled %d with the host up", w.sink.Spilled.Load())
			}
		})
	}
}

// TestStdioTransparentByteForByte sends malformed and huge traffic through
// the tap to `cat` and checks the client gets exactly its own bytes back,
// with every oddity counted.
func TestStdioTransparentByteForByte(t *testing.T) {
	dir := shortDir(t)
	h := startHost(t, dir, map[string]any{})
	w := wrap(t, filepath.Join(dir, mcp_tap.IngestSocket), shortDir(t), nil, "cat")
	big := make([]byte, 6<<20)
	rand.Read(big)
	huge := `{"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"name":"upload","arguments":{"blob":"` + base64.StdEncoding.EncodeToString(big) + `"}}}`
	var in bytes.Buffer
	in.WriteString("this is not json\n")
	in.WriteString(`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]` + "\n")
	in.WriteString(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a"}}` + "\n")
	in.WriteString(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a"}}` + "\r\n")
	in.WriteString(`{"jsonrpc":"2.0","id":99,"result":{}}` + "\n\n")
	in.WriteString(huge + "\n")
	in.WriteString(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"tail-without-newline"}}`)
	want := append([]byte(nil), in.Bytes()...)

	var got bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); io.Copy(&got, w.clientR) }()
	if _, err := w.clientW.Write(in.Bytes()); err != nil {
		t.Fatal(err)
	}
	w.clientW.Close()
	wg.Wait()
	w.wait(t)
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("client got %d bytes, sent %d: streams differ", got.Len(), len(want))
	}
	st := w.tap.Stats()
	// cat echoes: every message is seen once in each direction
	if st.NonJSON.Load() != 2 || st.Batches.Load() != 2 || st.DuplicateIDs.Load() != 2 || st.Unmatched.Load() != 2 ||
		st.MessagesC2S.Load() != 7 || st.MessagesS2C.Load() != 7 {
		t.Fatalf("stats %v", st.Snapshot())
	}
	waitFor(t, "violations", func() bool { return len(h.ofType("mcp_policy_violations")) >= 6 })
}

func TestServerCrashIsTheWrappersExit(t *testing.T) {
	dir := shortDir(t)
	startHost(t, dir, map[string]any{})
	sock := filepath.Join(dir, mcp_tap.IngestSocket)

	w := wrap(t, sock, shortDir(t), nil, "sh", "-c", `read line; echo '{"jsonrpc":"2.0","id":1,"result":{}}'; kill -KILL $$`)
	w.clientW.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}` + "\n"))
	out, _ := io.ReadAll(w.clientR)
	if ex := w.wait(t); ex.Signal != syscall.SIGKILL {
		t.Fatalf("exit %+v", ex)
	}
	if string(out) != `{"jsonrpc":"2.0","id":1,"result":{}}`+"\n" {
		t.Fatalf("output before crash %q", out)
	}

	w = wrap(t, sock, shortDir(t), nil, "sh", "-c", "exit 7")
	if ex := w.wait(t); ex.Code != 7 {
		t.Fatalf("exit %+v", ex)
	}
}

func TestEnforcePolicyAnswersDeniedCallWithJSONRPCError(t *testing.T) {
	dir := shortDir(t)
	h := startHost(t, dir, map[string]any{})
	w := wrap(t, filepath.Join(dir, mcp_tap.IngestSocket), shortDir(t),
		&tap.PolicyConfig{Mode: "enforce", DenyTools: []string{"refund_*"}}, serverBin)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := mcp.NewClient(&mcp.Implementation{Name: "tap-test", Version: "1"}, nil).
		Connect(ctx, &mcp.IOTransport{Reader: w.clientR, Writer: w.clientW}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sess.CallTool(ctx, &mcp.CallToolParams{Name: "refund_order", Arguments: map[string]any{"order_id": "O-1", "amount": 1}})
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != tap.CodeDenied {
		t.Fatalf("denied call: %v", err)
	}
	if _, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: "lookup_customer", Arguments: map[string]any{"customer_id": "C-1002"}}); err != nil {
		t.Fatalf("allowed call: %v", err)
	}
	sess.Close()
	w.wait(t)
	waitFor(t, "decisions", func() bool { return len(h.ofType("mcp_authorization_decisions")) == 2 })
	if calls := h.ofType("mcp_tool_execution"); len(calls) != 1 || calls[0]["tool_name"] != "lookup_customer" {
		t.Fatalf("only the allowed call executed: %v", calls)
	}
}

// TestPipelineDownSpoolThenDelivered: with no host listening, events spill
// to the spool; when the host comes up, they arrive.
func TestPipelineDownSpoolThenDelivered(t *testing.T) {
	hostDir, wrapDir := shortDir(t), shortDir(t)
	sock := filepath.Join(hostDir, mcp_tap.IngestSocket)
	w := wrap(t, sock, wrapDir, nil, serverBin)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := mcp.NewClient(&mcp.Implementation{Name: "tap-test", Version: "1"}, nil).
		Connect(ctx, &mcp.IOTransport{Reader: w.clientR, Writer: w.clientW}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	crmScenario(t, ctx, sess)
	sess.Close()
	w.wait(t)
	if w.sink.Spilled.Load() == 0 {
		t.Fatal("nothing spooled with the host down")
	}
	spooled := w.sink.Spilled.Load()

	// the host returns; the next wrapper run (here a trivial one) replays the spool
	h := startHost(t, hostDir, map[string]any{})
	w2 := wrap(t, sock, wrapDir, nil, "true")
	w2.wait(t)
	waitFor(t, "replayed events", func() bool { return uint64(h.count()) >= spooled })
	checkScenarioEvents(t, h, "2025-11-25")
	left, _ := filepath.Glob(filepath.Join(wrapDir, "spool", "*.jsonl"))
	if len(left) != 0 {
		t.Fatalf("spool files left after delivery: %v", left)
	}
}

// TestStdioBytesNeverWaitOnObservation: with event delivery stalled
// outright, the session's bytes still flow both ways at once; what was
// forwarded is observed once delivery resumes.
func TestStdioBytesNeverWaitOnObservation(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	tp := tap.New(tap.Config{Transport: "pipe", Server: "cat", Emit: func([]byte) { <-release }})
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	exit := make(chan error, 1)
	go func() {
		_, err := stdio.Run(stdio.Options{Command: []string{"cat"}, Stdin: inR, Stdout: outW, Stderr: os.Stderr, Tap: tp})
		outW.Close()
		exit <- err
	}()
	const n = 200
	// one line at a time, each answered before the next is sent: with the
	// observation on the byte path, the second line would never be read
	pingPong := make(chan error, 1)
	go func() {
		r := bufio.NewReader(outR)
		for i := range n {
			line := fmt.Sprintf("line %d is not json\n", i) // each one an event: the observer stalls on the first
			if _, err := io.WriteString(inW, line); err != nil {
				pingPong <- err
				return
			}
			back, err := r.ReadString('\n')
			if err != nil || back != line {
				pingPong <- fmt.Errorf("line %d came back as %q: %v", i, back, err)
				return
			}
		}
		pingPong <- nil
	}()
	select {
	case err := <-pingPong:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bytes waited on the stalled observation")
	}
	unblock()
	inW.Close()
	select {
	case err := <-exit:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wrapper did not end")
	}
	st := tp.Stats()
	if st.NonJSON.Load() != 2*n || st.Gaps.Load() != 0 {
		t.Fatalf("observed %d non-JSON lines (want %d), %d gaps", st.NonJSON.Load(), 2*n, st.Gaps.Load())
	}
}

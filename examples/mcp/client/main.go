// Command client is an example MCP client that drives the CRM server: it
// lists tools, looks customers up, reads a file, triggers a tool failure,
// gets a prompt and reads a resource. It launches the server command given
// after --, e.g. through the tap:
//
//	client -- sentinel wrap -c pipeline.hcl -- server -root .
//
// or connects to a Streamable HTTP endpoint with -url.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	url := flag.String("url", "", "Streamable HTTP endpoint instead of a command")
	protocol := flag.String("protocol", "", "protocol version to ask for (default: the SDK's latest, 2026-07-28)")
	rounds := flag.Int("rounds", 1, "how many times to run the scenario")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("client: ")

	var t mcp.Transport
	switch {
	case *url != "":
		t = &mcp.StreamableClientTransport{Endpoint: *url}
	case flag.NArg() > 0:
		cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
		cmd.Stderr = os.Stderr
		t = &mcp.CommandTransport{Command: cmd}
	default:
		log.Fatal("usage: client [-url URL] [-- SERVER COMMAND...]")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "crm-demo-client", Version: "0.3.0"}, nil)
	sess, err := c.Connect(ctx, t, &mcp.ClientSessionOptions{ProtocolVersion: *protocol})
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	defer sess.Close()
	log.Printf("connected, protocol %s", sess.InitializeResult().ProtocolVersion)

	for range *rounds {
		tools, err := sess.ListTools(ctx, nil)
		if err != nil {
			log.Fatalf("tools/list: %v", err)
		}
		calls := []struct {
			name string
			args map[string]any
		}{
			{"lookup_customer", map[string]any{"customer_id": "C-1001"}},
			{"lookup_customer", map[string]any{"customer_id": "C-1002"}},
			{"read_file", map[string]any{"path": "go.mod"}},
			{"refund_order", map[string]any{"order_id": "O-77", "amount": 120.0}},
			{"refund_order", map[string]any{"order_id": "O-78", "amount": 900.0}}, // isError
		}
		failed := 0
		for _, call := range calls {
			res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: call.name, Arguments: call.args})
			if err != nil {
				log.Fatalf("tools/call %s: %v", call.name, err)
			}
			if res.IsError {
				failed++
			}
		}
		if _, err := sess.GetPrompt(ctx, &mcp.GetPromptParams{Name: "customer_summary", Arguments: map[string]string{"customer_id": "C-1003"}}); err != nil {
			log.Fatalf("prompts/get: %v", err)
		}
		if _, err := sess.ReadResource(ctx, &mcp.ReadResourceParams{URI: "crm://policies/refunds"}); err != nil {
			log.Fatalf("resources/read: %v", err)
		}
		fmt.Fprintf(os.Stderr, "client: %d tools, %d calls (%d failed as expected), 1 prompt, 1 resource\n",
			len(tools.Tools), len(calls), failed)
	}
}

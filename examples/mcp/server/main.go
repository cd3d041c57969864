// Command server is the example CRM MCP server, over stdio (default) or
// Streamable HTTP (-http ADDR).
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sentinel-audit/sentinel/examples/mcp/crm"
)

func main() {
	addr := flag.String("http", "", "serve Streamable HTTP on this address (path /mcp) instead of stdio")
	root := flag.String("root", ".", "document root of read_file")
	stateless := flag.Bool("stateless", false, "serve HTTP statelessly (required by go-sdk for protocol 2026-07-28)")
	flag.Parse()
	log.SetOutput(os.Stderr) // stdout is the MCP channel
	s := crm.NewServer(*root)
	if *addr != "" {
		h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: *stateless})
		mux := http.NewServeMux()
		mux.Handle("/mcp", h)
		log.Printf("crm-demo MCP server on http://%s/mcp", *addr)
		log.Fatal(http.ListenAndServe(*addr, mux))
	}
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		log.Fatal(err)
	}
}

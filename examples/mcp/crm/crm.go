// Package crm is a small but realistic MCP server used by the examples, the
// demo and the mcp_tap tests: customer lookups that return personal data, a
// sandboxed file read, a tool that fails with isError, a prompt and a resource.
package crm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Customer is what lookup_customer returns.
type Customer struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone"`
	Tier  string `json:"tier"`
}

var customers = map[string]Customer{
	"C-1001": {ID: "C-1001", Name: "Ada Lovelace", Email: "ada.lovelace@example.com", Phone: "+44 20 7946 0958", Tier: "gold"},
	"C-1002": {ID: "C-1002", Name: "Grace Hopper", Email: "grace.hopper@example.org", Phone: "+1 202-555-0143", Tier: "platinum"},
	"C-1003": {ID: "C-1003", Name: "Alan Turing", Email: "alan.turing@example.net", Phone: "+44 161 496 0736", Tier: "silver"},
}

type lookupIn struct {
	CustomerID string `json:"customer_id" jsonschema:"the customer id, e.g. C-1001"`
}

type readIn struct {
	Path string `json:"path" jsonschema:"file path relative to the server's document root"`
}

type refundIn struct {
	OrderID string  `json:"order_id" jsonschema:"the order to refund"`
	Amount  float64 `json:"amount" jsonschema:"amount in EUR"`
}

type refundOut struct {
	RefundID string `json:"refund_id"`
}

// NewServer builds the CRM server; read_file serves files under root.
func NewServer(root string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "crm-demo", Version: "1.2.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "lookup_customer", Description: "Look up a customer's contact details by id."},
		func(_ context.Context, _ *mcp.CallToolRequest, in lookupIn) (*mcp.CallToolResult, Customer, error) {
			c, ok := customers[in.CustomerID]
			if !ok {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "no customer " + in.CustomerID}}}, Customer{}, nil
			}
			return nil, c, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "read_file", Description: "Read a text file from the document root."},
		func(_ context.Context, _ *mcp.CallToolRequest, in readIn) (*mcp.CallToolResult, any, error) {
			clean := filepath.Clean("/" + in.Path)
			b, err := os.ReadFile(filepath.Join(root, clean))
			if err != nil {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "cannot read " + in.Path}}}, nil, nil
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "refund_order", Description: "Refund an order (fails above 500 EUR: needs approval)."},
		func(_ context.Context, _ *mcp.CallToolRequest, in refundIn) (*mcp.CallToolResult, refundOut, error) {
			if in.Amount > 500 {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{
					Text: fmt.Sprintf("refund of %.2f EUR for %s needs manager approval", in.Amount, in.OrderID)}}}, refundOut{}, nil
			}
			return nil, refundOut{RefundID: "R-" + strings.TrimPrefix(in.OrderID, "O-")}, nil
		})
	s.AddPrompt(&mcp.Prompt{Name: "customer_summary", Description: "Summarize a customer's account",
		Arguments: []*mcp.PromptArgument{{Name: "customer_id", Required: true}}},
		func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			id := req.Params.Arguments["customer_id"]
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user",
				Content: &mcp.TextContent{Text: "Summarize the account of customer " + id}}}}, nil
		})
	s.AddResource(&mcp.Resource{URI: "crm://policies/refunds", Name: "refund-policy", MIMEType: "text/plain"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain",
				Text: "Refunds above 500 EUR need a manager's approval."}}}, nil
		})
	return s
}

package receivertest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/elastic/go-docappender/v2/docappendertest"

	"github.com/sentinel-audit/sentinel/plugins/output/elasticsearch"
	"github.com/sentinel-audit/sentinel/sdk"
)

// TestElasticsearchAgainstDocappenderTestServer sends _bulk requests to
// Elastic's own test decoder; it answers per item, and we make it refuse
// some items with 429 (retry them) and 400 (dead-letter them).
func TestElasticsearchAgainstDocappenderTestServer(t *testing.T) {
	var mu sync.Mutex
	stored := map[string]int{}
	throttled := map[string]bool{}
	var indices []string
	mux := http.NewServeMux()
	docappendertest.HandleBulk(mux, func(w http.ResponseWriter, r *http.Request) {
		docs, meta, res, _ := docappendertest.DecodeBulkRequestWithStatsAndMeta(r)
		mu.Lock()
		defer mu.Unlock()
		for i, doc := range docs {
			var d struct {
				Event struct{ ID string }
				MCP   struct {
					ToolName string `json:"tool_name"`
				} `json:"mcp"`
			}
			_ = json.Unmarshal(doc, &d)
			item := res.Items[i]["create"]
			switch {
			case d.MCP.ToolName == "hot" && !throttled[d.Event.ID]:
				throttled[d.Event.ID] = true
				item.Status = http.StatusTooManyRequests
				item.Error.Type = "es_rejected_execution_exception"
			case d.MCP.ToolName == "bad":
				item.Status = http.StatusBadRequest
				item.Error.Type, item.Error.Reason = "document_parsing_exception", "failed to parse"
			default:
				stored[d.Event.ID]++
				indices = append(indices, meta[i].Index)
			}
			if item.Status >= 300 {
				res.HasErrors = true
			}
			res.Items[i]["create"] = item
		}
		_ = json.NewEncoder(w).Encode(res)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	raw, _ := json.Marshal(map[string]any{"endpoints": []string{srv.URL}, "max_request_events": 25})
	p := elasticsearch.Definition.New()
	if err := p.(sdk.Configurer).Configure(context.Background(), sdk.Config{Name: "docappender", Raw: raw}); err != nil {
		t.Fatal(err)
	}
	b := records(100)
	for _, i := range []int{7, 8, 60} {
		b.Records[i].Body = []byte(strings.Replace(string(b.Records[i].Body), `"fs.read"`, `"hot"`, 1))
	}
	b.Records[42].Body = []byte(strings.Replace(string(b.Records[42].Body), `"fs.read"`, `"bad"`, 1))
	out, err := p.Process(context.Background(), b)
	var re *sdk.RetryError
	if !errors.As(err, &re) || len(re.Indices) != 3 {
		t.Fatalf("first pass: %v", err)
	}
	if len(out.Rejected) != 1 || out.Rejected[0].Index != 42 || !strings.Contains(out.Rejected[0].Reason, "document_parsing_exception") {
		t.Fatalf("rejected %+v", out.Rejected)
	}
	retry := &sdk.Batch{}
	for _, i := range re.Indices {
		retry.Records = append(retry.Records, b.Records[i])
	}
	if _, err := p.Process(context.Background(), retry); err != nil {
		t.Fatal(err)
	}
	if len(stored) != 99 {
		t.Fatalf("stored %d documents, want 99", len(stored))
	}
	for id, n := range stored {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
	if indices[0] != "logs-mcp.tools-default" {
		t.Errorf("index %q", indices[0])
	}
}

package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestSetupElasticsearchInstallsLifecycleFromTheClassifier(t *testing.T) {
	var mu sync.Mutex
	puts := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			_, _ = io.WriteString(w, `{"version":{"number":"9.1.0"}}`)
		case http.MethodPut:
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			puts[r.URL.Path] = string(b)
			mu.Unlock()
			_, _ = io.WriteString(w, `{"acknowledged":true}`)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	p := filepath.Join(dir, "pipeline.hcl")
	src := `sentinel {
  data_dir = "` + filepath.Join(dir, "data") + `"
}
input "jsonl" "in" {
  paths = ["` + filepath.Join(dir, "in.jsonl") + `"]
}
filter "classifier" "cls" {
  inputs     = [input.jsonl.in]
  frameworks = ["sox"]
}
output "elasticsearch" "siem" {
  inputs    = [filter.classifier.cls]
  endpoints = ["` + srv.URL + `"]
  retention = "90d"
  retention_by_type = {
    mcp_rate_limiting_events = "30d"
  }
}
`
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := execute(t, "", "setup", "elasticsearch", "-c", p)
	if err != nil {
		t.Fatalf("setup: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "PUT /_index_template/sentinel-mcp-tools") {
		t.Errorf("output: %s", out)
	}
	retention := func(short string) string {
		var tmpl struct {
			Template struct {
				Lifecycle struct {
					DataRetention string `json:"data_retention"`
				}
			}
		}
		_ = json.Unmarshal([]byte(puts["/_index_template/sentinel-mcp-"+short]), &tmpl)
		return tmpl.Template.Lifecycle.DataRetention
	}
	if got := retention("ratelimit"); got != "30d" {
		t.Errorf("retention_by_type not applied: %q", got)
	}
	// SOX in the classifier keeps the types it covers for years, beyond the output's 90d.
	if got := retention("tools"); got == "" || got == "90d" {
		t.Errorf("tools retention %q: the classifier's frameworks were not consulted", got)
	}
	if got := retention("other"); got != "90d" {
		t.Errorf("fallback retention %q", got)
	}
	if _, _, err := execute(t, "", "setup", "elasticsearch", "-c", p, "--dry-run"); err != nil {
		t.Fatal(err)
	}
}

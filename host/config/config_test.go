package config_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/sentinel-audit/sentinel/host/catalog"
	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/sdk"
)

type nop struct{}

func (nop) Process(context.Context, *sdk.Batch) (*sdk.Batch, error) { return nil, nil }

type strictTag struct{ nop }

func (strictTag) Validate(c sdk.Config) error {
	var v struct {
		Label string `json:"label"`
	}
	if err := c.Decode(&v); err != nil {
		return err
	}
	if v.Label == "forbidden" {
		return sdk.Fieldf("label", "the label %q is reserved", v.Label)
	}
	return nil
}

var defs = []*sdk.Definition{
	{Name: "src", Kind: sdk.KindInput, Version: "1", Summary: "s", New: func() sdk.Plugin { return nop{} },
		Config: sdk.Schema{Fields: []sdk.Field{{Name: "path", Type: sdk.TypeString, Required: true, Description: "d"}}}},
	{Name: "tag", Kind: sdk.KindFilter, Version: "1", Summary: "t", New: func() sdk.Plugin { return strictTag{} },
		Config: sdk.Schema{Fields: []sdk.Field{
			{Name: "label", Type: sdk.TypeString, Default: "x", Description: "d"},
			{Name: "every", Type: sdk.TypeDuration, Default: "1s", Description: "d", Example: `"30s"`},
		}}},
	{Name: "sink", Kind: sdk.KindOutput, Version: "1", Summary: "o", New: func() sdk.Plugin { return nop{} }},
}

func testCatalog(t *testing.T) *catalog.Catalog {
	cat, err := catalog.New(defs, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func TestValidConfigDecodesHostAndPluginArguments(t *testing.T) {
	cfg, diags := config.LoadWith("testdata/valid.hcl", testCatalog(t))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	wd, _ := os.Getwd()
	if want := filepath.Join(wd, "testdata", "state"); cfg.DataDir != want {
		t.Errorf("data_dir %q, want %q (relative to the config file)", cfg.DataDir, want)
	}
	a, out := cfg.Component("filter.tag.a"), cfg.Component("output.sink.out")
	if string(cfg.Component("input.src.in").Config) != `{"path":"/var/log/audit.jsonl"}` {
		t.Errorf("file() not applied: %s", cfg.Component("input.src.in").Config)
	}
	if string(a.Config) != `{"every":"1s","label":"fallback"}` {
		t.Errorf("plugin arguments with defaults and env default: %s", a.Config)
	}
	if a.Batch.MaxRecords != 64 || a.Batch.MaxAge.Std().Milliseconds() != 50 || a.Batch.MaxBytes != 1<<20 || a.Batch.InFlight != 4 {
		t.Errorf("batch block: %+v", a.Batch)
	}
	if out.Buffer.Type != "disk" || out.Buffer.MaxSize != 2<<30 || out.Retry.MaxElapsed.Std().Hours() != 1 {
		t.Errorf("buffer/retry blocks: %+v %+v", out.Buffer, out.Retry)
	}
	if fmt.Sprint(out.Inputs) != "[filter.tag.a filter.tag.b]" {
		t.Errorf("inputs: %v", out.Inputs)
	}
}

// Every problem in the file is reported, each at its own line and column.
func TestInvalidConfigReportsEveryProblemWithItsPosition(t *testing.T) {
	_, diags := config.LoadWith("testdata/invalid.hcl", testCatalog(t))
	want := []struct {
		line, col int
		summary   string
	}{
		{3, 3, "Unsupported argument"},
		{6, 1, `Unknown filter plugin "nosuch"`},
		{12, 12, `Invalid value for "every"`},
		{19, 15, `Invalid value for "max_age"`},
		{25, 3, "Invalid timeout"}, // a number, not a duration: an error, not a crash
		{36, 3, "isolate on an input"},
		{31, 3, "Invalid isolate"},
	}
	for _, w := range want {
		if !hasDiag(diags, w.line, w.col, w.summary) {
			t.Errorf("missing %d:%d %q in:\n%s", w.line, w.col, w.summary, dump(diags))
		}
	}
	if hasDiag(diags, 26, 3, "") {
		t.Errorf("isolate on an output refused:\n%s", dump(diags))
	}
}

func TestReferencesPluginValidationAndCycles(t *testing.T) {
	cases := []struct {
		name, src string
		line, col int
		summary   string
	}{
		{"unknown reference", `
input "src" "in" { path = "p" }
output "sink" "out" { inputs = [input.src.missing] }`, 3, 33, "Unknown reference input.src.missing"},
		{"plugin's own validation", `
input "src" "in" { path = "p" }
filter "tag" "t" {
  inputs = [input.src.in]
  label  = "forbidden"
}
output "sink" "out" { inputs = [filter.tag.t] }`, 5, 12, "Invalid label for filter.tag.t"},
		{"cycle", `
input "src" "in" { path = "p" }
filter "tag" "a" { inputs = [input.src.in, filter.tag.b] }
filter "tag" "b" { inputs = [filter.tag.a] }
output "sink" "out" { inputs = [filter.tag.b] }`, 3, 44, "Cycle in pipeline"},
		{"missing required argument", `
input "src" "in" {}
output "sink" "out" { inputs = [input.src.in] }`, 2, 18, "Missing required argument"},
		{"wrong type", `
input "src" "in" { path = ["a"] }
output "sink" "out" { inputs = [input.src.in] }`, 2, 27, "Incorrect attribute value type"},
		{"wrong kind", `
filter "src" "in" { inputs = [] }`, 2, 1, `Unknown filter plugin "src"`},
		{"unset env", `
input "src" "in" { path = env("SENTINEL_TEST_SURELY_UNSET") }
output "sink" "out" { inputs = [input.src.in] }`, 2, 27, "Error in function call"},
		{"output as input", `
input "src" "in" { path = "p" }
output "sink" "a" { inputs = [input.src.in] }
output "sink" "b" { inputs = [output.sink.a] }`, 4, 31, "Outputs have no outputs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, diags := config.LoadSource("p.hcl", []byte(c.src), testCatalog(t))
			if !hasDiag(diags, c.line, c.col, c.summary) {
				t.Fatalf("want %d:%d %q, got:\n%s", c.line, c.col, c.summary, dump(diags))
			}
		})
	}
}

func TestFeatureToggleBypassesFilterAndRewires(t *testing.T) {
	t.Setenv("SENTINEL_FEATURE_COMPLIANCE", "false")
	defsWithClassifier := append([]*sdk.Definition{{Name: "classifier", Kind: sdk.KindFilter, Version: "1", Summary: "c",
		New: func() sdk.Plugin { return nop{} }}}, defs...)
	cat, err := catalog.New(defsWithClassifier, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.LoadSource("p.hcl", []byte(`
input "src" "in" { path = "p" }
filter "classifier" "c" { inputs = [input.src.in] }
output "sink" "out" { inputs = [filter.classifier.c] }`), cat)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if !hasDiag(diags, 3, 1, "Stage bypassed by feature toggle") {
		t.Errorf("validate must say the stage is bypassed:\n%s", dump(diags))
	}
	if cfg.Component("filter.classifier.c") != nil || fmt.Sprint(cfg.Component("output.sink.out").Inputs) != "[input.src.in]" {
		t.Fatalf("classifier not bypassed: %v", cfg.Component("output.sink.out").Inputs)
	}
}

func hasDiag(diags hcl.Diagnostics, line, col int, summary string) bool {
	for _, d := range diags {
		if d.Subject != nil && d.Subject.Start.Line == line && d.Subject.Start.Column == col && strings.Contains(d.Summary, summary) {
			return true
		}
	}
	return false
}

func dump(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		if d.Subject != nil {
			fmt.Fprintf(&b, "%d:%d ", d.Subject.Start.Line, d.Subject.Start.Column)
		}
		fmt.Fprintf(&b, "%s: %s\n", d.Summary, d.Detail)
	}
	return b.String()
}

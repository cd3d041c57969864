package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// execute runs the CLI in process with args and returns stdout, stderr and the error.
func execute(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	resetFlags(root)
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	defer root.SetArgs(nil)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func TestConfigExampleIsValidAndShowsEveryBundledPlugin(t *testing.T) {
	out, stderr, err := execute(t, "", "validate", "-c", "../../config.hcl.example")
	if err != nil {
		t.Fatalf("config.hcl.example does not validate: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "ok") {
		t.Fatalf("validate said: %s", out)
	}
	src, _ := os.ReadFile("../../config.hcl.example")
	list, _, err := execute(t, "", "plugins", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n")[1:] {
		f := strings.Fields(line)
		if name := f[1]; f[0] != "input" && name != "passthrough" && !strings.Contains(string(src), `"`+name+`"`) {
			t.Errorf("config.hcl.example does not show the bundled plugin %s", name)
		}
	}
}

func TestValidateReportsFileLineColumnAndNonZeroExit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.hcl")
	_ = os.WriteFile(p, []byte(`input "jsonl" "in" {
  paths = ["a.jsonl"]
}
output "stdout" "out" {
  inputs = [input.jsonl.nope]
  colour = "red"
}
`), 0o644)
	_, stderr, err := execute(t, "", "validate", "-c", p)
	if err == nil {
		t.Fatal("validate accepted a bad config")
	}
	for _, want := range []string{p + ":5:13: error: Unknown reference input.jsonl.nope", p + ":6:3: error: Unsupported argument", "^^^"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("missing %q in:\n%s", want, stderr)
		}
	}
}

func TestGraphPrintsTextAndDOT(t *testing.T) {
	text, _, err := execute(t, "", "graph", "-c", "../../config.hcl.example")
	if err != nil || !strings.Contains(text, "filter.signer.chain\n  <- filter.encryptor.fields\n  -> output.file.store") ||
		!strings.Contains(text, "(one process: filter.pii_tokenizer.pii -> filter.anomaly_detector.threats -> ") {
		t.Fatalf("text graph: %v\n%s", err, text)
	}
	dot, _, err := execute(t, "", "graph", "-c", "../../config.hcl.example", "--dot")
	if err != nil || !strings.HasPrefix(dot, "digraph sentinel {") || !strings.Contains(dot, `"filter.signer.chain" -> "output.file.store";`) ||
		!strings.Contains(dot, "subgraph cluster_process_0 {") {
		t.Fatalf("dot graph: %v\n%s", err, dot)
	}
}

func TestDescribeAsTextJSONAndPlugYAML(t *testing.T) {
	text, _, err := execute(t, "", "plugins", "describe", "jsonl")
	if err != nil || !strings.Contains(text, "paths") || !strings.Contains(text, "required") {
		t.Fatalf("text: %v\n%s", err, text)
	}
	js, _, err := execute(t, "", "plugins", "describe", "splunk_hec", "--json")
	var def struct {
		Name   string `json:"name"`
		Config struct {
			Fields []struct {
				Name      string `json:"name"`
				Sensitive bool   `json:"sensitive"`
			} `json:"fields"`
		} `json:"config"`
	}
	if err != nil || json.Unmarshal([]byte(js), &def) != nil || def.Name != "splunk_hec" {
		t.Fatalf("json: %v\n%s", err, js)
	}
	var tokenSensitive bool
	for _, f := range def.Config.Fields {
		tokenSensitive = tokenSensitive || (f.Name == "token" && f.Sensitive)
	}
	if !tokenSensitive {
		t.Error("the HEC token must be described as sensitive")
	}
	y, _, err := execute(t, "", "plugins", "describe", "jsonl", "--plug-yaml")
	var plug map[string]any
	if err != nil || yaml.Unmarshal([]byte(y), &plug) != nil || plug["name"] != "jsonl" || plug["config_schema"] == nil {
		t.Fatalf("plug.yaml: %v\n%s", err, y)
	}
}

// resetFlags puts every flag back to its default: cobra keeps values between
// in-process executions.
func resetFlags(c *cobra.Command) {
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				_ = sv.Replace(nil)
			} else {
				_ = f.Value.Set(f.DefValue)
			}
			f.Changed = false
		}
	})
	for _, sub := range c.Commands() {
		resetFlags(sub)
	}
}

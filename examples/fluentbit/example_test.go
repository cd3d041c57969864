package fluentbit_test

import (
	"bufio"
	"os"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sentinel-audit/sentinel/host/catalog"
	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/sdk/fluentbit"
	"github.com/sentinel-audit/sentinel/sdk/fluentbit/flbconfig"
)

// section is one [OUTPUT] of a Fluent Bit configuration, keys lower-cased.
type section map[string]string

// Fluent Bit keys the examples set on sentinel outputs that Fluent Bit itself reads.
var fluentBitOwn = map[string]bool{"name": true, "match": true, "workers": true, "retry_limit": true}

func classicOutputs(t *testing.T, path string) []section {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []section
	var cur section
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			cur = nil
			if strings.EqualFold(line, "[OUTPUT]") {
				cur = section{}
				out = append(out, cur)
			}
		case cur != nil:
			k, v, _ := strings.Cut(line, " ")
			cur[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

func yamlOutputs(t *testing.T, path string) []section {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Pipeline struct {
			Outputs []map[string]string `yaml:"outputs"`
		} `yaml:"pipeline"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var out []section
	for _, o := range doc.Pipeline.Outputs {
		s := section{}
		for k, v := range o {
			s[strings.ToLower(k)] = v
		}
		out = append(out, s)
	}
	return out
}

// checkSection decodes a sentinel section with the backend's schema, as the
// plugin does at FLBPluginInit, and rejects keys nobody would read.
func checkSection(t *testing.T, s section) {
	t.Helper()
	if s["name"] != fluentbit.PluginName {
		t.Errorf("output %q is not the sentinel plugin", s["name"])
		return
	}
	known := map[string]bool{}
	for _, f := range fluentbit.Keys.Fields {
		known[f.Name] = true
	}
	if s["pipeline"] != "" {
		checkPipeline(t)
	} else {
		def := fluentbit.Backends[s["backend"]]
		if def == nil {
			t.Errorf("backend %q unknown", s["backend"])
			return
		}
		for _, k := range flbconfig.Keys(def.Config) {
			known[k.Name] = true
		}
		get := func(k string) string { return os.Expand(s[k], func(string) string { return "example-value" }) }
		if _, err := flbconfig.Decode(def.Config, get); err != nil {
			t.Errorf("backend %s: %v", s["backend"], err)
		}
	}
	for k := range s {
		if !known[k] && !fluentBitOwn[k] {
			t.Errorf("backend %q: key %q is read by neither Fluent Bit nor the plugin", s["backend"], k)
		}
	}
}

func checkPipeline(t *testing.T) {
	t.Helper()
	src, err := os.ReadFile("pipeline.hcl")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.New(fluentbit.Definitions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, diags := config.LoadSource("pipeline.hcl", src, cat); diags.HasErrors() {
		t.Errorf("pipeline.hcl: %s", diags.Error())
	}
}

func TestExamplesConfigureEveryDestination(t *testing.T) {
	classic, yml := classicOutputs(t, "fluent-bit.conf"), yamlOutputs(t, "fluent-bit.yaml")
	backends := map[string]bool{}
	for _, s := range classic {
		checkSection(t, s)
		backends[s["backend"]] = true
	}
	for name := range fluentbit.Backends {
		if !backends[name] {
			t.Errorf("no example section for backend %s", name)
		}
	}
	if !backends[""] {
		t.Error("no example section for pipeline mode")
	}
	if !reflect.DeepEqual(classic, yml) {
		t.Errorf("fluent-bit.conf and fluent-bit.yaml differ:\n%v\n%v", classic, yml)
	}
}

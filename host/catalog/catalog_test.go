package catalog_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/host/catalog"
	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/sdk"
)

// envDump answers "env" with the environment its process sees.
type envDump struct{}

func (envDump) Process(context.Context, *sdk.Batch) (*sdk.Batch, error) { return nil, nil }
func (envDump) Invoke(_ context.Context, op string, _ json.RawMessage) (any, error) {
	if op != "env" {
		return nil, sdk.ErrUnknownOperation(op)
	}
	return os.Environ(), nil
}

var envDumpDef = &sdk.Definition{Name: "envdump", Kind: sdk.KindFilter, Version: "1", Summary: "test",
	New: func() sdk.Plugin { return envDump{} }}

func TestMain(m *testing.M) {
	if len(os.Args) >= 4 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		sdk.Serve(envDumpDef)
		return
	}
	os.Exit(m.Run())
}

func environ(t *testing.T, cat *catalog.Catalog, cfg *config.Config) string {
	t.Helper()
	comp := &config.Component{Kind: sdk.KindFilter, Plugin: "envdump", Name: "t", DataDir: t.TempDir()}
	p, err := cat.Start(context.Background(), comp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	out, err := p.Conn.Invoke(context.Background(), "env", nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestPluginsSeeOnlyAllowListedEnvironment(t *testing.T) {
	t.Setenv("SENTINEL_TEST_SECRET", "hunter2")
	t.Setenv("GOMEMLIMIT", "96MiB")
	cat, err := catalog.New([]*sdk.Definition{envDumpDef}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Dir: t.TempDir(), Plugins: map[string]*config.PluginPin{}}
	env := environ(t, cat, cfg)
	if strings.Contains(env, "hunter2") {
		t.Fatal("a secret in the host's environment reached a plugin that was not allowed it")
	}
	if !strings.Contains(env, "PATH=") || !strings.Contains(env, "GOMEMLIMIT=96MiB") {
		t.Fatal("the base environment (PATH, the Go runtime's settings) is missing")
	}
	cfg.Plugins["envdump"] = &config.PluginPin{Name: "envdump", Env: []string{"SENTINEL_TEST_SECRET"}}
	if env := environ(t, cat, cfg); !strings.Contains(env, "SENTINEL_TEST_SECRET=hunter2") {
		t.Fatal("plugin \"envdump\" { env = [...] } did not pass the variable")
	}
}

func TestPinnedExternalPluginMustMatchItsSHA256(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "envdump")
	script := "#!/bin/sh\nexec " + self + " plugin serve envdump\n"
	if err := os.WriteFile(exe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(script))
	cat, err := catalog.New(nil, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Dir: dir, PluginsDir: dir, Plugins: map[string]*config.PluginPin{
		"envdump": {Name: "envdump", SHA256: hex.EncodeToString(sum[:])}}}
	def, err := cat.Lookup(sdk.KindFilter, "envdump", cfg)
	if err != nil || def.Name != "envdump" {
		t.Fatalf("pinned plugin with the right hash: %v", err)
	}
	cfg.Plugins["envdump"].SHA256 = strings.Repeat("0", 64)
	_, err = cat.Lookup(sdk.KindFilter, "envdump", cfg)
	if err == nil || !strings.Contains(err.Error(), "SHA-256 mismatch") || !strings.Contains(err.Error(), exe) {
		t.Fatalf("a replaced binary must be refused, naming the file; got %v", err)
	}
}

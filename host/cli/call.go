package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/spf13/cobra"

	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/schemahcl"
)

func init() {
	var cfgPath, dataDir string
	cmd := &cobra.Command{
		Use:   "call NAME [-c CONFIG]",
		Short: "Call a plugin PlugPipe-style: JSON context on stdin, JSON answer on stdout",
		Long: `Start a plugin in its own process, configure it, and answer one operation read as
a JSON context from stdin — PlugPipe's process(context, config). The answer is JSON:
{"success": true, ...} or {"success": false, "error": "..."} (exit status 1).

Every plugin answers get_status, describe, and process ({"operation": "process",
"records": [events...]} runs Process on them). Plugins add their own operations
(see sentinel plugins describe NAME).

CONFIG is the plugin's arguments: a JSON object, or HCL attributes as inside its block.`,
		Example: `  echo '{"operation":"get_status"}' | sentinel call file
  echo '{"operation":"process","records":[{"event_type":"mcp_tool_execution","arguments":{"email":"a@b.example"}}]}' \
    | sentinel call pii_tokenizer`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := callPlugin(cmd.Context(), args[0], cfgPath, dataDir, cmd.InOrStdin())
			out := map[string]any{"success": err == nil}
			if err != nil {
				out["error"] = err.Error()
			} else if len(res) > 0 {
				var fields map[string]any
				if json.Unmarshal(res, &fields) == nil {
					for k, v := range fields {
						if k != "success" {
							out[k] = v
						}
					}
				} else {
					out["result"] = json.RawMessage(res)
				}
			}
			b, _ := json.MarshalIndent(out, "", "  ")
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("")}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "plugin arguments: JSON object or HCL attributes")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the plugin's state directory (default: a fresh temporary one)")
	root.AddCommand(cmd)
}

func callPlugin(ctx context.Context, name, cfgPath, dataDir string, stdin io.Reader) (json.RawMessage, error) {
	in, err := io.ReadAll(stdin)
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	var req struct {
		Operation string `json:"operation"`
	}
	if len(bytes.TrimSpace(in)) == 0 {
		in = []byte(`{"operation":"get_status"}`)
	}
	if err := json.Unmarshal(in, &req); err != nil {
		return nil, fmt.Errorf("stdin must be a JSON object with an \"operation\": %w", err)
	}
	if req.Operation == "" {
		return nil, fmt.Errorf("the context has no \"operation\" (try get_status)")
	}
	cat, err := newCatalog(newLogger("warn"))
	if err != nil {
		return nil, err
	}
	def, err := cat.Find(name)
	if err != nil {
		return nil, err
	}
	raw, err := callConfig(cfgPath, def)
	if err != nil {
		return nil, err
	}
	if dataDir == "" {
		tmp, err := os.MkdirTemp("", "sentinel-call-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dataDir = tmp
	}
	comp := &config.Component{Kind: def.Kind, Plugin: def.Name, Name: "call", Enabled: true, Def: def, Config: raw, DataDir: dataDir}
	cfg := &config.Config{Dir: ".", DataDir: filepath.Dir(dataDir), Plugins: map[string]*config.PluginPin{}}
	p, err := cat.Start(ctx, comp, cfg)
	if err != nil {
		return nil, err
	}
	defer p.Kill()
	if err := p.Conn.Configure(ctx, comp.Name, dataDir, raw, false); err != nil {
		return nil, fmt.Errorf("configure %s: %w", name, err)
	}
	defer p.Conn.Close(ctx)
	return p.Conn.Invoke(ctx, req.Operation, in)
}

// callConfig reads the plugin's arguments from a JSON or HCL file and applies the schema's defaults.
func callConfig(path string, def *sdk.Definition) (json.RawMessage, error) {
	var src []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		src = b
	}
	if t := bytes.TrimSpace(src); len(t) > 0 && t[0] == '{' && json.Valid(t) {
		return jsonDefaults(t, def)
	}
	file, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s", diags.Error())
	}
	raw, diags := schemahcl.Decode(file.Body, def.Config, &hcl.EvalContext{})
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s", strings.TrimSpace(diags.Error()))
	}
	return raw, nil
}

func jsonDefaults(raw []byte, def *sdk.Definition) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for _, f := range def.Config.Fields {
		if _, ok := m[f.Name]; !ok && f.Default != nil {
			m[f.Name] = f.Default
		}
	}
	return json.Marshal(m)
}

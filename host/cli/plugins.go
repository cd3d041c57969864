package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/sdk"
)

func init() {
	plugins := &cobra.Command{
		Use:   "plugins",
		Short: "List and describe plugins",
		Long:  "List the bundled plugins and describe one: its arguments, their types, defaults and an example.",
	}
	plugins.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List bundled plugins",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := newCatalog(newLogger("warn"))
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%-8s %-20s %-9s %s\n", "KIND", "NAME", "VERSION", "SUMMARY")
			for _, d := range cat.Builtins() {
				fmt.Fprintf(w, "%-8s %-20s %-9s %s\n", d.Kind, d.Name, d.Version, d.Summary)
			}
			return nil
		},
	})
	var asJSON, asPlugYAML bool
	describe := &cobra.Command{
		Use:   "describe NAME [--json | --plug-yaml]",
		Short: "Describe a plugin's configuration",
		Long: `Print a plugin's configuration schema: every argument with its type, default,
whether it is required or sensitive, and an example. --json prints the plugin's
Definition; --plug-yaml prints a PlugPipe plug.yaml manifest.`,
		Example: "  sentinel plugins describe jsonl\n  sentinel plugins describe file --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := newCatalog(newLogger("warn"))
			if err != nil {
				return err
			}
			def, err := cat.Find(args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch {
			case asJSON:
				b, err := json.MarshalIndent(def, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintln(w, string(b))
			case asPlugYAML:
				b, err := yaml.Marshal(plugYAML(def))
				if err != nil {
					return err
				}
				fmt.Fprint(w, string(b))
			default:
				describeText(w, def)
			}
			return nil
		},
	}
	describe.Flags().BoolVar(&asJSON, "json", false, "print the Definition as JSON")
	describe.Flags().BoolVar(&asPlugYAML, "plug-yaml", false, "print a PlugPipe plug.yaml manifest")
	plugins.AddCommand(describe)
	root.AddCommand(plugins)
}

func describeText(w io.Writer, def *sdk.Definition) {
	fmt.Fprintf(w, "%s %q (version %s)\n  %s\n", def.Kind, def.Name, def.Version, def.Summary)
	if def.Description != "" {
		fmt.Fprintf(w, "\n%s\n", indent(def.Description, "  "))
	}
	fmt.Fprintln(w, "\nArguments:")
	writeFields(w, def.Config.Fields, "  ")
	if def.Kind != sdk.KindInput {
		fmt.Fprintln(w, "\nHost arguments (every filter and output):\n  inputs  list of references, e.g. [input.jsonl.in]  (required)\n  enabled bool, default true\n  timeout duration, default \"30s\": per-batch deadline")
		for _, name := range []string{"batch", "retry", "buffer"} {
			if name == "buffer" && def.Kind != sdk.KindOutput {
				continue
			}
			fmt.Fprintf(w, "  %s {\n", name)
			writeFields(w, config.HostSchemas[name].Fields, "    ")
			fmt.Fprintln(w, "  }")
		}
	}
	fmt.Fprintf(w, "\nOperations (sentinel call %s): %s\n", def.Name, strings.Join(operations(def), ", "))
}

func writeFields(w io.Writer, fields []sdk.Field, pad string) {
	for _, f := range fields {
		var tags []string
		if f.Required {
			tags = append(tags, "required")
		}
		if f.Default != nil {
			tags = append(tags, fmt.Sprintf("default %s", jsonString(f.Default)))
		}
		if f.Sensitive {
			tags = append(tags, "sensitive")
		}
		if len(f.Enum) > 0 {
			tags = append(tags, "one of "+strings.Join(f.Enum, "|"))
		}
		fmt.Fprintf(w, "%s%-22s %-13s %s\n", pad, f.Name, f.Type, strings.Join(tags, ", "))
		fmt.Fprintf(w, "%s%-22s %s\n", pad, "", f.Description)
		if f.Example != "" {
			fmt.Fprintf(w, "%s%-22s example: %s = %s\n", pad, "", f.Name, f.Example)
		}
		if len(f.Fields) > 0 {
			writeFields(w, f.Fields, pad+"  ")
		}
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func indent(s, pad string) string {
	return pad + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pad)
}

// plugYAML renders a Definition in PlugPipe's plug.yaml shape: metadata, an
// entrypoint, and JSON Schemas for the input context and the config.
func plugYAML(def *sdk.Definition) map[string]any {
	ops := operations(def)
	return map[string]any{
		"name":        def.Name,
		"version":     def.Version,
		"owner":       "sentinel",
		"status":      "stable",
		"category":    "audit/" + string(def.Kind),
		"description": strings.TrimSpace(def.Summary + "\n" + def.Description),
		"tags":        []string{"sentinel", "mcp", "audit", string(def.Kind)},
		"entrypoint":  "sentinel call " + def.Name,
		"runtime":     map[string]any{"protocol": "go-plugin-grpc", "protocol_version": sdk.ProtocolVersion, "serve": "sentinel plugin serve " + def.Name},
		"input_schema": map[string]any{
			"type":     "object",
			"required": []string{"operation"},
			"properties": map[string]any{
				"operation": map[string]any{"type": "string", "enum": ops},
				"records":   map[string]any{"type": "array", "items": map[string]any{"type": "object"}, "description": "events, for the process operation"},
			},
		},
		"output_schema": map[string]any{
			"type":     "object",
			"required": []string{"success"},
			"properties": map[string]any{
				"success": map[string]any{"type": "boolean"},
				"error":   map[string]any{"type": "string"},
			},
		},
		"config_schema": jsonSchema(def.Config.Fields),
	}
}

func jsonSchema(fields []sdk.Field) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range fields {
		p := map[string]any{"description": f.Description}
		switch f.Type {
		case sdk.TypeInt:
			p["type"] = "integer"
		case sdk.TypeFloat:
			p["type"] = "number"
		case sdk.TypeBool:
			p["type"] = "boolean"
		case sdk.TypeStringList:
			p["type"], p["items"] = "array", map[string]any{"type": "string"}
		case sdk.TypeStringMap:
			p["type"], p["additionalProperties"] = "object", map[string]any{"type": "string"}
		case sdk.TypeBlock:
			p = jsonSchema(f.Fields)
			p["description"] = f.Description
		case sdk.TypeBlockList:
			p["type"], p["items"] = "array", jsonSchema(f.Fields)
		default:
			p["type"] = "string"
			if f.Type == sdk.TypeDuration || f.Type == sdk.TypeSize {
				p["format"] = string(f.Type)
			}
		}
		if f.Default != nil {
			p["default"] = f.Default
		}
		if len(f.Enum) > 0 {
			p["enum"] = f.Enum
		}
		if f.Sensitive {
			p["writeOnly"] = true
		}
		if f.Required {
			required = append(required, f.Name)
		}
		props[f.Name] = p
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// operations lists the built-in operations and the plugin's own, once each.
func operations(def *sdk.Definition) []string {
	ops := []string{sdk.OpGetStatus, sdk.OpDescribe, sdk.OpProcess}
	for _, op := range def.Operations {
		if !slices.Contains(ops, op.Name) {
			ops = append(ops, op.Name)
		}
	}
	return ops
}

// Package config reads a pipeline written in HCL: the sentinel block, plugin
// pins, and the input/filter/output components wired by `inputs` references.
// Decoding happens in stages: the host's own arguments first, then the rest
// of each block against the plugin's own schema, so every problem is reported
// with the file:line:column that caused it.
package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/schemahcl"
)

// Config is a loaded pipeline.
type Config struct {
	Path         string
	Dir          string // the config file's directory; relative paths resolve against it
	DataDir      string
	PluginsDir   string
	LogLevel     string
	Metrics      string
	DrainTimeout sdk.Duration
	// FuseFilters lets the host run a chain of bundled filters, each feeding
	// only the next, in one process (sdk.Fuse).
	FuseFilters bool
	Plugins     map[string]*PluginPin
	Components  []*Component
	// Bypassed lists components left out by `enabled = false` or a feature toggle, with why.
	Bypassed []string

	parser *hclparse.Parser
}

// PluginPin is a `plugin "name" {}` block: where an external plugin lives,
// the SHA-256 it must have, and which host environment variables it may see.
type PluginPin struct {
	Name   string
	SHA256 string
	Path   string
	Env    []string
	Range  hcl.Range
}

// Component is one input, filter or output block.
type Component struct {
	Kind    sdk.Kind
	Plugin  string
	Name    string
	Enabled bool
	// Isolate keeps a filter in its own process even where fuse_filters
	// would let it share one (a signer kept apart from parsers of untrusted input).
	Isolate bool
	// Inputs are the IDs of upstream components ("input.jsonl.in"), after
	// bypassed filters were replaced by their own inputs.
	Inputs      []string
	inputRanges []hcl.Range

	Batch   Batch
	Buffer  Buffer
	Retry   Retry
	Timeout sdk.Duration // per-batch deadline; a plugin that misses it is restarted

	Def     *sdk.Definition
	Config  json.RawMessage // the plugin's arguments, defaults applied
	DataDir string          // <data_dir>/<kind>.<plugin>.<name>

	Range hcl.Range // the block header, for diagnostics
	body  hcl.Body  // what is left for the plugin's schema
}

// ID is the component's reference name: input.jsonl.in.
func (c *Component) ID() string { return string(c.Kind) + "." + c.Plugin + "." + c.Name }

// Batch caps what the host sends a plugin in one Process call.
type Batch struct {
	MaxRecords int          `json:"max_records"`
	MaxBytes   sdk.Size     `json:"max_bytes"`
	MaxAge     sdk.Duration `json:"max_age"`
	InFlight   int          `json:"in_flight"`
}

// Buffer is an output's queue: memory (bounded) or disk (durable across restarts).
type Buffer struct {
	Type    string   `json:"type"`
	MaxSize sdk.Size `json:"max_size"`
}

// Retry is the backoff for batches that failed retryably.
type Retry struct {
	Initial     sdk.Duration `json:"initial"`
	Max         sdk.Duration `json:"max"`
	MaxElapsed  sdk.Duration `json:"max_elapsed"`  // 0: retry until delivered
	MaxAttempts int          `json:"max_attempts"` // 0: no limit
}

// Catalog finds a plugin's Definition and checks a component with the plugin's own Validate.
type Catalog interface {
	Lookup(kind sdk.Kind, plugin string, cfg *Config) (*sdk.Definition, error)
	// Names lists the plugins of a kind, for hints.
	Names(kind sdk.Kind, cfg *Config) []string
	// Validate runs the plugin's own checks (a dry-run Configure).
	Validate(c *Component, cfg *Config) error
}

var defaultCatalog Catalog

// SetCatalog installs the catalog Load uses.
func SetCatalog(c Catalog) { defaultCatalog = c }

// Load reads, decodes and validates the pipeline at path: every problem is
// returned as a diagnostic, and a Config with errors must not be run.
func Load(path string) (*Config, hcl.Diagnostics) {
	return LoadWith(path, defaultCatalog)
}

// LoadWith is Load with an explicit catalog.
func LoadWith(path string, cat Catalog) (*Config, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read configuration", Detail: err.Error()}}
	}
	return LoadSource(path, src, cat)
}

// LoadSource loads a pipeline from bytes; path names it in diagnostics and anchors relative paths.
func LoadSource(path string, src []byte, cat Catalog) (*Config, hcl.Diagnostics) {
	abs, _ := filepath.Abs(path)
	cfg := &Config{Path: path, Dir: filepath.Dir(abs), Plugins: map[string]*PluginPin{}, parser: hclparse.NewParser()}
	file, diags := cfg.parser.ParseHCL(src, path)
	if diags.HasErrors() {
		return cfg, diags
	}
	diags = append(diags, cfg.decode(file.Body)...)
	if cat == nil {
		return cfg, diags
	}
	// Bind even after errors, so that one run reports every problem; the
	// plugins' own validation runs only on an otherwise clean config.
	diags = append(diags, cfg.bind(cat, diags.HasErrors())...)
	return cfg, diags
}

// Files returns the parsed sources, for printing diagnostics with snippets.
func (c *Config) Files() map[string]*hcl.File {
	if c == nil || c.parser == nil {
		return nil
	}
	return c.parser.Files()
}

// Component returns the component with the given ID.
func (c *Config) Component(id string) *Component {
	for _, comp := range c.Components {
		if comp.ID() == id {
			return comp
		}
	}
	return nil
}

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "sentinel"},
		{Type: "plugin", LabelNames: []string{"name"}},
		{Type: "input", LabelNames: []string{"plugin", "name"}},
		{Type: "filter", LabelNames: []string{"plugin", "name"}},
		{Type: "output", LabelNames: []string{"plugin", "name"}},
	},
}

var sentinelSchema = sdk.Schema{Fields: []sdk.Field{
	{Name: "data_dir", Type: sdk.TypeString, Default: "./data", Description: "Where buffers, spools, dead letters and plugin state live; relative to the config file."},
	{Name: "plugins_dir", Type: sdk.TypeString, Default: "./plugins", Description: "Where external plugin executables are found; relative to the config file."},
	{Name: "log_level", Type: sdk.TypeString, Default: "info", Enum: []string{"trace", "debug", "info", "warn", "error"}, Description: "Host log level."},
	{Name: "metrics", Type: sdk.TypeString, Description: "Address for Prometheus /metrics, /healthz and /readyz, e.g. \"127.0.0.1:9464\"."},
	{Name: "drain_timeout", Type: sdk.TypeDuration, Default: "30s", Description: "How long shutdown waits for in-flight batches."},
	{Name: "fuse_filters", Type: sdk.TypeBool, Default: true, Description: "Run a chain of bundled filters, each feeding only the next, and the bundled output the chain alone feeds (unless it has a disk buffer), in one plugin process: records pass between them in memory instead of crossing a process boundary at every step. Each member keeps its own configuration, state, metrics and retry budget; a crash restarts the chain together; the chain is batched by the smallest of its members' batch limits, has the sum of their timeouts, is retried with its most patient member's retry settings, and sees every environment variable any member may. Set false to give every filter and output its own process, or isolate = true on one to keep it apart."},
}}

var pluginSchema = sdk.Schema{Fields: []sdk.Field{
	{Name: "sha256", Type: sdk.TypeString, Description: "Expected SHA-256 of the plugin executable (hex); a mismatch refuses to start it."},
	{Name: "path", Type: sdk.TypeString, Description: "Executable path; default: <plugins_dir>/<name>."},
	{Name: "env", Type: sdk.TypeStringList, Description: "Host environment variables this plugin may see (all others are withheld)."},
}}

func (c *Config) decode(body hcl.Body) hcl.Diagnostics {
	content, diags := body.Content(rootSchema)
	ctx := evalContext(c.Dir)
	var sawSentinel bool
	raw := json.RawMessage(`{}`)
	for _, b := range content.Blocks {
		switch b.Type {
		case "sentinel":
			if sawSentinel {
				diags = append(diags, errAt(b.DefRange, "Duplicate sentinel block", "Only one sentinel {} block is allowed."))
				continue
			}
			sawSentinel = true
			var d hcl.Diagnostics
			raw, d = schemahcl.Decode(b.Body, sentinelSchema, ctx)
			diags = append(diags, d...)
		case "plugin":
			var pin struct {
				SHA256 string   `json:"sha256"`
				Path   string   `json:"path"`
				Env    []string `json:"env"`
			}
			j, d := schemahcl.Decode(b.Body, pluginSchema, ctx)
			diags = append(diags, d...)
			_ = json.Unmarshal(j, &pin)
			name := b.Labels[0]
			if prev, dup := c.Plugins[name]; dup {
				diags = append(diags, errAt(b.DefRange, "Duplicate plugin block", fmt.Sprintf("plugin %q is already declared at %s.", name, prev.Range)))
				continue
			}
			c.Plugins[name] = &PluginPin{Name: name, SHA256: strings.ToLower(pin.SHA256), Path: pin.Path, Env: pin.Env, Range: b.DefRange}
		default:
			comp, d := decodeComponent(b, ctx)
			diags = append(diags, d...)
			if comp != nil {
				if prev := c.Component(comp.ID()); prev != nil {
					diags = append(diags, errAt(b.DefRange, "Duplicate component", fmt.Sprintf("%s is already declared at %s.", comp.ID(), prev.Range)))
					continue
				}
				c.Components = append(c.Components, comp)
			}
		}
	}
	var s struct {
		DataDir      string       `json:"data_dir"`
		PluginsDir   string       `json:"plugins_dir"`
		LogLevel     string       `json:"log_level"`
		Metrics      string       `json:"metrics"`
		DrainTimeout sdk.Duration `json:"drain_timeout"`
		FuseFilters  bool         `json:"fuse_filters"`
	}
	if err := json.Unmarshal(raw, &s); err == nil {
		if !sawSentinel {
			s.DataDir, s.PluginsDir, s.LogLevel, s.DrainTimeout, s.FuseFilters = "./data", "./plugins", "info", sdk.Duration(30e9), true
		}
		c.DataDir, c.PluginsDir = c.resolve(s.DataDir), c.resolve(s.PluginsDir)
		c.LogLevel, c.Metrics, c.DrainTimeout, c.FuseFilters = s.LogLevel, s.Metrics, s.DrainTimeout, s.FuseFilters
	}
	for _, comp := range c.Components {
		comp.DataDir = filepath.Join(c.DataDir, comp.ID())
	}
	if len(c.Components) == 0 && !diags.HasErrors() {
		diags = append(diags, errAt(hcl.Range{Filename: c.Path, Start: hcl.InitialPos, End: hcl.InitialPos},
			"Empty pipeline", `Declare at least one input and one output, e.g. input "jsonl" "in" { paths = ["audit.jsonl"] } and output "stdout" "out" { inputs = [input.jsonl.in] }.`))
	}
	return diags
}

// resolve makes p absolute against the config file's directory.
func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

func errAt(r hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: r.Ptr()}
}

func warnAt(r hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: detail, Subject: r.Ptr()}
}

func sortedNames(xs []string) string {
	sort.Strings(xs)
	return strings.Join(xs, ", ")
}

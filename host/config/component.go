package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/schemahcl"
)

// Host-owned arguments of every component block; the rest belongs to the plugin.
var componentSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "inputs"}, {Name: "enabled"}, {Name: "timeout"}, {Name: "isolate"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "batch"}, {Type: "buffer"}, {Type: "retry"}},
}

var batchSchema = sdk.Schema{Fields: []sdk.Field{
	{Name: "max_records", Type: sdk.TypeInt, Default: 512, Description: "Most records in one batch."},
	{Name: "max_bytes", Type: sdk.TypeSize, Default: "1MiB", Description: "Most bytes in one batch."},
	{Name: "max_age", Type: sdk.TypeDuration, Default: "200ms", Description: "Longest a record waits for its batch to fill."},
	{Name: "in_flight", Type: sdk.TypeInt, Default: 4, Description: "Batches sent to the plugin before the first is answered."},
}}

var bufferSchema = sdk.Schema{Fields: []sdk.Field{
	{Name: "type", Type: sdk.TypeString, Default: "memory", Enum: []string{"memory", "disk"}, Description: "memory (bounded, lost on restart) or disk (durable, at least once across restarts)."},
	{Name: "max_size", Type: sdk.TypeSize, Description: "Most bytes buffered before inputs are back-pressured; default 64MiB in memory, 1GiB on disk."},
}}

var retrySchema = sdk.Schema{Fields: []sdk.Field{
	{Name: "initial", Type: sdk.TypeDuration, Default: "100ms", Description: "First backoff."},
	{Name: "max", Type: sdk.TypeDuration, Default: "30s", Description: "Longest backoff between attempts."},
	{Name: "max_elapsed", Type: sdk.TypeDuration, Default: "0s", Description: "Give up (dead-letter) after this long; 0 retries until delivered."},
	{Name: "max_attempts", Type: sdk.TypeInt, Default: 0, Description: "Give up (dead-letter) after this many attempts; 0 means no limit."},
}}

// HostSchemas documents the host-owned blocks, for `sentinel plugins describe` and the README.
var HostSchemas = map[string]sdk.Schema{"batch": batchSchema, "buffer": bufferSchema, "retry": retrySchema}

func decodeComponent(b *hcl.Block, ctx *hcl.EvalContext) (*Component, hcl.Diagnostics) {
	comp := &Component{Kind: sdk.Kind(b.Type), Plugin: b.Labels[0], Name: b.Labels[1], Enabled: true, Range: b.DefRange,
		Timeout: sdk.Duration(30 * time.Second)}
	if comp.Kind == sdk.KindOutput {
		// Outputs legitimately wait inside a batch (indexer acknowledgements,
		// a full disk); the deadline is for plugins that hang.
		comp.Timeout = sdk.Duration(10 * time.Minute)
	}
	content, remain, diags := b.Body.PartialContent(componentSchema)
	comp.body = remain
	if attr, ok := content.Attributes["inputs"]; ok {
		if comp.Kind == sdk.KindInput {
			diags = append(diags, errAt(attr.Range, "Inputs take no inputs", "An input block reads from outside the pipeline; remove `inputs`."))
		}
		exprs, d := hcl.ExprList(attr.Expr)
		diags = append(diags, d...)
		for _, e := range exprs {
			trav, d := hcl.AbsTraversalForExpr(e)
			if d.HasErrors() || len(trav) != 3 {
				diags = append(diags, errAt(e.Range(), "Invalid input reference",
					"Each entry of inputs is a reference such as input.jsonl.in or filter.pii_tokenizer.pii (kind.plugin.name), without quotes."))
				continue
			}
			id := trav.RootName()
			for _, step := range trav[1:] {
				if a, ok := step.(hcl.TraverseAttr); ok {
					id += "." + a.Name
				}
			}
			comp.Inputs = append(comp.Inputs, id)
			comp.inputRanges = append(comp.inputRanges, e.Range())
		}
	} else if comp.Kind != sdk.KindInput {
		diags = append(diags, errAt(b.DefRange, "Missing inputs",
			fmt.Sprintf("A %s needs inputs = [ ... ], e.g. inputs = [input.jsonl.in].", comp.Kind)))
	}
	if attr, ok := content.Attributes["enabled"]; ok {
		diags = append(diags, decodeBool(attr, ctx, &comp.Enabled)...)
	}
	if attr, ok := content.Attributes["isolate"]; ok {
		if comp.Kind == sdk.KindInput {
			diags = append(diags, errAt(attr.Range, "isolate on an input", "Only filters, and the output a chain of them feeds alone, share a process (fuse_filters); every input has its own already."))
		}
		diags = append(diags, decodeBool(attr, ctx, &comp.Isolate)...)
	}
	if attr, ok := content.Attributes["timeout"]; ok {
		v, d := attr.Expr.Value(ctx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			t, err := time.Duration(0), error(nil)
			if v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
				t, err = sdk.ParseDuration(v.AsString())
			}
			if v.Type() != cty.String || err != nil || t <= 0 {
				diags = append(diags, errAt(attr.Range, "Invalid timeout", "timeout is a duration such as \"30s\"."))
			} else {
				comp.Timeout = sdk.Duration(t)
			}
		}
	}
	blocks := map[string]*hcl.Block{}
	for _, blk := range content.Blocks {
		if prev, dup := blocks[blk.Type]; dup {
			diags = append(diags, errAt(blk.DefRange, "Duplicate "+blk.Type+" block", "Already declared at "+prev.DefRange.String()+"."))
			continue
		}
		blocks[blk.Type] = blk
	}
	diags = append(diags, decodeHostBlock(blocks["batch"], batchSchema, ctx, &comp.Batch)...)
	diags = append(diags, decodeHostBlock(blocks["buffer"], bufferSchema, ctx, &comp.Buffer)...)
	diags = append(diags, decodeHostBlock(blocks["retry"], retrySchema, ctx, &comp.Retry)...)
	if comp.Buffer.MaxSize == 0 {
		comp.Buffer.MaxSize = 64 << 20
		if comp.Buffer.Type == "disk" {
			comp.Buffer.MaxSize = 1 << 30
		}
	}
	if blk := blocks["buffer"]; blk != nil && comp.Kind != sdk.KindOutput {
		diags = append(diags, errAt(blk.DefRange, "Buffer on a non-output", "Only outputs have a buffer {} block."))
	}
	if comp.Kind == sdk.KindFilter && blocks["retry"] == nil {
		comp.Retry.MaxAttempts = 5 // a filter that fails the same batch five times dead-letters it
	}
	return comp, diags
}

// decodeHostBlock decodes a host block (or nothing: the defaults) into v.
func decodeHostBlock(b *hcl.Block, s sdk.Schema, ctx *hcl.EvalContext, v any) hcl.Diagnostics {
	var body hcl.Body = hcl.EmptyBody()
	if b != nil {
		body = b.Body
	}
	raw, diags := schemahcl.Decode(body, s, ctx)
	if diags.HasErrors() {
		return diags
	}
	if err := json.Unmarshal(raw, v); err != nil {
		r := hcl.Range{}
		if b != nil {
			r = b.DefRange
		}
		diags = append(diags, errAt(r, "Invalid block", err.Error()))
	}
	return diags
}

// evalContext offers env() and file() to every expression.
func evalContext(dir string) *hcl.EvalContext {
	return &hcl.EvalContext{Functions: map[string]function.Function{
		"env": function.New(&function.Spec{
			Description: "The value of a host environment variable; a second argument is the default when unset.",
			Params:      []function.Parameter{{Name: "name", Type: cty.String}},
			VarParam:    &function.Parameter{Name: "default", Type: cty.String},
			Type:        function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				name := args[0].AsString()
				if v, ok := os.LookupEnv(name); ok {
					return cty.StringVal(v), nil
				}
				if len(args) > 1 {
					return args[1], nil
				}
				return cty.NilVal, fmt.Errorf("environment variable %s is not set (give a default: env(%q, \"...\"))", name, name)
			},
		}),
		"file": function.New(&function.Spec{
			Description: "The contents of a file, relative to the config file.",
			Params:      []function.Parameter{{Name: "path", Type: cty.String}},
			Type:        function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				p := args[0].AsString()
				if !filepath.IsAbs(p) {
					p = filepath.Join(dir, p)
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return cty.NilVal, err
				}
				return cty.StringVal(string(b)), nil
			},
		}),
	}}
}

// decodeBool decodes a true/false host argument into dst.
func decodeBool(attr *hcl.Attribute, ctx *hcl.EvalContext, dst *bool) hcl.Diagnostics {
	v, diags := attr.Expr.Value(ctx)
	if diags.HasErrors() {
		return diags
	}
	if v.Type() != cty.Bool || v.IsNull() || !v.IsKnown() {
		return append(diags, errAt(attr.Range, "Invalid "+attr.Name, attr.Name+" must be true or false."))
	}
	*dst = v.True()
	return diags
}

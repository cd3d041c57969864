package main

import (
	"context"
	"encoding/json"
	"path"
	"sync/atomic"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition describes the plugin to the host: name, kind and config schema.
var Definition = &sdk.Definition{
	Name: "deny_tools", Kind: sdk.KindFilter, Version: "1.0.0",
	Summary: "Drops events of denied MCP tools and tags the rest.",
	Config: sdk.Schema{Fields: []sdk.Field{
		{Name: "deny", Type: sdk.TypeStringList, Required: true, Example: `["shell_*", "delete_file"]`,
			Description: "Tool names or globs whose calls are dropped."},
		{Name: "tags", Type: sdk.TypeStringMap, Example: `{ team = "platform" }`,
			Description: "Fields added to every event that passes."},
	}},
	Operations: []sdk.Operation{{Name: "get_status", Description: "Counts of passed and dropped events."}},
	New:        func() sdk.Plugin { return &DenyTools{} },
}

// DenyTools is the filter.
type DenyTools struct {
	Deny []string          `json:"deny"`
	Tags map[string]string `json:"tags"`

	passed, dropped atomic.Int64
}

// Validate rejects a bad glob before any traffic, pointing at the argument.
func (d *DenyTools) Validate(cfg sdk.Config) error {
	if err := cfg.Decode(d); err != nil {
		return err
	}
	for _, pattern := range d.Deny {
		if _, err := path.Match(pattern, ""); err != nil {
			return sdk.Fieldf("deny", "bad glob %q: %v", pattern, err)
		}
	}
	return nil
}

func (d *DenyTools) Configure(_ context.Context, cfg sdk.Config) error { return d.Validate(cfg) }

// Process keeps the events whose tool is not denied and tags them.
func (d *DenyTools) Process(_ context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	out := &sdk.Batch{}
	for i, r := range in.Records {
		var ev struct {
			Tool string `json:"tool_name"`
		}
		if err := json.Unmarshal(r.Body, &ev); err != nil {
			out.Reject(i, "not a JSON event: "+err.Error())
			continue
		}
		if d.denied(ev.Tool) {
			d.dropped.Add(1)
			continue
		}
		for k, v := range d.Tags {
			r.Body = sdk.SpliceField(r.Body, k, v)
		}
		d.passed.Add(1)
		out.Records = append(out.Records, r)
	}
	return out, nil
}

func (d *DenyTools) denied(tool string) bool {
	for _, pattern := range d.Deny {
		if ok, _ := path.Match(pattern, tool); ok {
			return true
		}
	}
	return false
}

// Invoke answers `sentinel call`-style operations.
func (d *DenyTools) Invoke(_ context.Context, op string, _ json.RawMessage) (any, error) {
	if op != "get_status" {
		return nil, sdk.ErrUnknownOperation(op)
	}
	return map[string]int64{"passed": d.passed.Load(), "dropped": d.dropped.Load()}, nil
}

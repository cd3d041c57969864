package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/schemahcl"
)

// Features are the seed's feature toggles: SENTINEL_FEATURE_<NAME>=false
// bypasses the stages of that feature at load time.
var Features = map[string][]string{
	"LOGGING":        {"stdout"},
	"STORAGE":        {"file"},
	"ENCRYPTION":     {"encryptor"},
	"TAMPER_EVIDENT": {"signer"},
	"SIEM":           {"splunk_hec", "elasticsearch", "microsoft_sentinel", "chronicle"},
	"OTLP":           {"otlp"},
	"ANOMALY":        {"anomaly_detector"},
	"REDACTION":      {"pii_tokenizer"},
	"SESSIONS":       {"mcp_tap"},
	"COMPLIANCE":     {"classifier"},
}

// featureOff reports the toggle that disables plugin, if any.
func featureOff(plugin string) (string, bool) {
	for feature, plugins := range Features {
		for _, p := range plugins {
			if p == plugin {
				env := "SENTINEL_FEATURE_" + feature
				switch strings.ToLower(strings.TrimSpace(os.Getenv(env))) {
				case "0", "false", "off", "no", "disabled":
					return env, true
				}
			}
		}
	}
	return "", false
}

// bind resolves plugins, decodes each block against its plugin's schema,
// wires inputs (bypassing disabled filters), rejects cycles, and runs each
// plugin's own validation.
func (c *Config) bind(cat Catalog, hadErrors bool) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, comp := range c.Components {
		def, err := cat.Lookup(comp.Kind, comp.Plugin, c)
		if err != nil {
			detail := err.Error()
			if names := cat.Names(comp.Kind, c); len(names) > 0 {
				detail += fmt.Sprintf(". Known %s plugins: %s.", comp.Kind, sortedNames(names))
			}
			diags = append(diags, errAt(comp.Range, fmt.Sprintf("Unknown %s plugin %q", comp.Kind, comp.Plugin), detail))
			continue
		}
		comp.Def = def
		raw, d := schemahcl.Decode(comp.body, def.Config, evalContext(c.Dir))
		diags = append(diags, d...)
		comp.Config = raw
		if env, off := featureOff(comp.Plugin); off && comp.Enabled {
			comp.Enabled = false
			diags = append(diags, warnAt(comp.Range, "Stage bypassed by feature toggle",
				fmt.Sprintf("%s is disabled by %s; %s passes records straight through.", comp.ID(), env, "the pipeline")))
		}
		if !comp.Enabled {
			c.Bypassed = append(c.Bypassed, comp.ID())
		}
	}
	diags = append(diags, c.wire()...)
	if hadErrors || diags.HasErrors() {
		return diags
	}
	for _, comp := range c.Components {
		if !comp.Enabled {
			continue
		}
		if err := cat.Validate(comp, c); err != nil {
			var fe *sdk.FieldError
			if errors.As(err, &fe) {
				rng := schemahcl.FieldRange(comp.body, comp.Def.Config, fe.Field, comp.Range)
				diags = append(diags, errAt(rng, fmt.Sprintf("Invalid %s for %s", fe.Field, comp.ID()), fe.Msg))
			} else {
				diags = append(diags, errAt(comp.Range, "Invalid configuration for "+comp.ID(), err.Error()))
			}
		}
	}
	return diags
}

// wire checks references, replaces references to bypassed filters with their
// own inputs, drops disabled components, and rejects cycles.
func (c *Config) wire() hcl.Diagnostics {
	var diags hcl.Diagnostics
	byID := map[string]*Component{}
	for _, comp := range c.Components {
		byID[comp.ID()] = comp
	}
	for _, comp := range c.Components {
		for i, id := range comp.Inputs {
			up, ok := byID[id]
			switch {
			case !ok:
				diags = append(diags, errAt(comp.inputRanges[i], "Unknown reference "+id, "Declared components: "+sortedNames(keys(byID))+"."))
			case up.Kind == sdk.KindOutput:
				diags = append(diags, errAt(comp.inputRanges[i], "Outputs have no outputs", id+" is an output; reference an input or a filter."))
			case up == comp:
				diags = append(diags, errAt(comp.inputRanges[i], "Cycle", comp.ID()+" lists itself as an input."))
			}
		}
	}
	if diags.HasErrors() {
		return diags
	}
	if cyc := findCycle(c.Components, byID); cyc != nil {
		comp := byID[cyc[0]]
		rng := comp.Range
		for i, id := range comp.Inputs {
			if id == cyc[1] {
				rng = comp.inputRanges[i]
			}
		}
		return append(diags, errAt(rng, "Cycle in pipeline", "Records would loop forever: "+strings.Join(cyc, " ← ")+"."))
	}
	// Bypass: a disabled filter's downstream reads its inputs instead; a
	// disabled input or output simply disappears.
	var expand func(id string, seen map[string]bool) []string
	expand = func(id string, seen map[string]bool) []string {
		up := byID[id]
		if up.Enabled {
			return []string{id}
		}
		if up.Kind != sdk.KindFilter || seen[id] {
			return nil
		}
		seen[id] = true
		var out []string
		for _, in := range up.Inputs {
			out = append(out, expand(in, seen)...)
		}
		return out
	}
	var kept []*Component
	for _, comp := range c.Components {
		if !comp.Enabled {
			continue
		}
		var ins []string
		var rngs []hcl.Range
		seen := map[string]bool{}
		for i, id := range comp.Inputs {
			for _, e := range expand(id, map[string]bool{}) {
				if !seen[e] {
					seen[e] = true
					ins, rngs = append(ins, e), append(rngs, comp.inputRanges[i])
				}
			}
		}
		if comp.Kind != sdk.KindInput && len(ins) == 0 {
			diags = append(diags, warnAt(comp.Range, "No enabled inputs", comp.ID()+" receives nothing: every component it reads from is disabled."))
		}
		comp.Inputs, comp.inputRanges = ins, rngs
		kept = append(kept, comp)
	}
	c.Components = kept
	return diags
}

// findCycle returns the IDs on a cycle, or nil.
func findCycle(comps []*Component, byID map[string]*Component) []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(id string) []string
	visit = func(id string) []string {
		color[id] = grey
		stack = append(stack, id)
		for _, in := range byID[id].Inputs {
			switch color[in] {
			case grey:
				for i, s := range stack {
					if s == in {
						return append(append([]string{}, stack[i:]...), in)
					}
				}
			case white:
				if c := visit(in); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
		return nil
	}
	for _, comp := range comps {
		if color[comp.ID()] == white {
			if c := visit(comp.ID()); c != nil {
				return c
			}
		}
	}
	return nil
}

func keys(m map[string]*Component) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

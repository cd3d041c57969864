// Package schemahcl decodes an HCL block against a plugin's sdk.Schema: the
// one place where a schema becomes HCL decoding with source-ranged
// diagnostics and JSON for the plugin. The host and the conformance suite use it.
package schemahcl

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Spec builds the hcldec spec of a schema.
func Spec(s sdk.Schema) hcldec.ObjectSpec {
	spec := hcldec.ObjectSpec{}
	for _, f := range s.Fields {
		switch f.Type {
		case sdk.TypeBlock:
			spec[f.Name] = &hcldec.BlockSpec{TypeName: f.Name, Nested: Spec(sdk.Schema{Fields: f.Fields}), Required: f.Required}
		case sdk.TypeBlockList:
			spec[f.Name] = &hcldec.BlockListSpec{TypeName: f.Name, Nested: Spec(sdk.Schema{Fields: f.Fields})}
		default:
			spec[f.Name] = &hcldec.AttrSpec{Name: f.Name, Type: ctyType(f.Type), Required: f.Required}
		}
	}
	return spec
}

func ctyType(t sdk.Type) cty.Type {
	switch t {
	case sdk.TypeInt, sdk.TypeFloat:
		return cty.Number
	case sdk.TypeBool:
		return cty.Bool
	case sdk.TypeStringList:
		return cty.List(cty.String)
	case sdk.TypeStringMap:
		return cty.Map(cty.String)
	default: // string, duration, size: sizes may be written as numbers; cty converts them
		return cty.String
	}
}

// Decode decodes body against the schema and returns the plugin's arguments as
// JSON, defaults applied, with diagnostics that point at the offending text.
func Decode(body hcl.Body, s sdk.Schema, ctx *hcl.EvalContext) (json.RawMessage, hcl.Diagnostics) {
	spec := Spec(s)
	val, diags := hcldec.Decode(body, spec, ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	obj, more := toJSON(body, spec, s.Fields, val)
	diags = append(diags, more...)
	if diags.HasErrors() {
		return nil, diags
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot encode arguments", Detail: err.Error()})
	}
	return raw, diags
}

func toJSON(body hcl.Body, spec hcldec.ObjectSpec, fields []sdk.Field, val cty.Value) (map[string]any, hcl.Diagnostics) {
	out := map[string]any{}
	var diags hcl.Diagnostics
	for _, f := range fields {
		v := val.GetAttr(f.Name)
		if v.IsNull() || !v.IsKnown() {
			if f.Default != nil {
				out[f.Name] = f.Default
			}
			continue
		}
		rng := hcldec.SourceRange(body, spec[f.Name])
		bad := func(msg string) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid value for %q", f.Name),
				Detail: msg + hint(f), Subject: rng.Ptr(),
			})
		}
		switch f.Type {
		case sdk.TypeBlock:
			nested, d := toJSON(body, Spec(sdk.Schema{Fields: f.Fields}), f.Fields, v)
			diags = append(diags, d...)
			out[f.Name] = nested
		case sdk.TypeBlockList:
			list := []any{}
			for it := v.ElementIterator(); it.Next(); {
				_, ev := it.Element()
				nested, d := toJSON(body, Spec(sdk.Schema{Fields: f.Fields}), f.Fields, ev)
				diags = append(diags, d...)
				list = append(list, nested)
			}
			out[f.Name] = list
		case sdk.TypeInt:
			bf := v.AsBigFloat()
			if !bf.IsInt() {
				bad("must be a whole number")
				continue
			}
			n, _ := bf.Int(new(big.Int))
			out[f.Name] = n.Int64()
		case sdk.TypeFloat:
			fl, _ := v.AsBigFloat().Float64()
			out[f.Name] = fl
		case sdk.TypeBool:
			out[f.Name] = v.True()
		case sdk.TypeStringList:
			list := []string{}
			for it := v.ElementIterator(); it.Next(); {
				_, ev := it.Element()
				list = append(list, ev.AsString())
			}
			out[f.Name] = list
		case sdk.TypeStringMap:
			m := map[string]string{}
			for it := v.ElementIterator(); it.Next(); {
				k, ev := it.Element()
				m[k.AsString()] = ev.AsString()
			}
			out[f.Name] = m
		default:
			s := v.AsString()
			if err := f.CheckValue(s); err != nil {
				bad(err.Error())
				continue
			}
			out[f.Name] = s
		}
	}
	return out, diags
}

func hint(f sdk.Field) string {
	if f.Example != "" {
		return fmt.Sprintf(". Example: %s = %s", f.Name, f.Example)
	}
	return ""
}

// FieldRange returns where the dotted field ("policy.mode") is set in body, or
// fallback when it is not set: for errors a plugin's Validate reports.
func FieldRange(body hcl.Body, s sdk.Schema, field string, fallback hcl.Range) hcl.Range {
	name := strings.SplitN(field, ".", 2)[0]
	sp, ok := Spec(s)[name]
	if !ok {
		return fallback
	}
	rng := hcldec.SourceRange(body, sp)
	if rng.Filename == "" {
		return fallback
	}
	return rng
}

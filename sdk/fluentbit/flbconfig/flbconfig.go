// Package flbconfig turns a Fluent Bit output section into a plugin's
// configuration, using the plugin's own sdk.Schema: the same schema that
// decodes the plugin's HCL block, so a key means the same in both places.
//
// Key names: a top-level field keeps its HCL name (endpoint, token,
// max_request_bytes). A field of a nested block is <block>_<field>
// (tls_ca_file, tls_server_name), because Fluent Bit owns every key that
// starts with tls., net. or storage., and refuses a Go output that sets `tls`.
// tls_verify is accepted as the negation of tls_insecure_skip_verify, the way
// Fluent Bit users know it.
//
// Values arrive as strings and are converted to the field's type: int, float;
// bool as on/off, true/false, yes/no, 1/0; duration as "30s", "5m", "7d" or a
// plain number of seconds; size as "64KiB", "5M", "1GB" or bytes; list(string)
// as comma-separated items or a JSON array; map(string) as "k=v,k2=v2" pairs or
// a JSON object; repeated blocks as a JSON array of objects.
package flbconfig

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	hcljson "github.com/hashicorp/hcl/v2/json"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/schemahcl"
)

// Key is one Fluent Bit key of a plugin.
type Key struct {
	Name  string    // the Fluent Bit key
	Path  []string  // where it lands in the plugin's configuration: ["tls", "ca_file"]
	Field sdk.Field // the schema field it sets
	// Invert marks a bool key that sets the negation of its field (tls_verify).
	Invert bool
}

// reservedKeys are Fluent Bit's own output properties; a plugin key must not
// shadow them (Fluent Bit would take it, or refuse the Go output).
var reservedKeys = map[string]bool{
	"name": true, "alias": true, "match": true, "match_regex": true, "log_level": true,
	"log_suppress_interval": true, "host": true, "port": true, "ipv6": true, "retry_limit": true,
	"tls": true, "workers": true, "processors": true, "upstream": true,
}

var reservedPrefixes = []string{"tls.", "net.", "storage."}

// IsReserved reports whether Fluent Bit owns the key.
func IsReserved(key string) bool {
	key = strings.ToLower(key)
	if reservedKeys[key] {
		return true
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// Keys lists the Fluent Bit keys of a schema, in schema order.
func Keys(s sdk.Schema) []Key {
	var out []Key
	var walk func(prefix string, path []string, fields []sdk.Field)
	walk = func(prefix string, path []string, fields []sdk.Field) {
		for _, f := range fields {
			p := append(append([]string(nil), path...), f.Name)
			if f.Type == sdk.TypeBlock {
				walk(prefix+f.Name+"_", p, f.Fields)
				if f.Name == "tls" {
					if skip, ok := (sdk.Schema{Fields: f.Fields}).Field("insecure_skip_verify"); ok && skip.Type == sdk.TypeBool {
						out = append(out, Key{Name: prefix + "tls_verify", Path: append(p, "insecure_skip_verify"), Field: skip, Invert: true})
					}
				}
				continue
			}
			out = append(out, Key{Name: prefix + f.Name, Path: p, Field: f})
		}
	}
	walk("", nil, s.Fields)
	return out
}

// Decode reads every key of the schema through get (Fluent Bit's
// FLBPluginConfigKey: "" when unset), converts the values, and returns the
// plugin's configuration as JSON with the schema's defaults applied, checked
// exactly as an HCL block would be.
func Decode(s sdk.Schema, get func(key string) string) (json.RawMessage, error) {
	obj := map[string]any{}
	set := map[string]string{} // dotted path -> key that set it, for conflicts
	for _, k := range Keys(s) {
		raw := strings.TrimSpace(get(k.Name))
		if raw == "" {
			continue
		}
		v, err := Convert(k.Field, raw)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.Name, err)
		}
		if k.Invert {
			v = !v.(bool)
		}
		dotted := strings.Join(k.Path, ".")
		if other, dup := set[dotted]; dup {
			return nil, fmt.Errorf("keys %q and %q set the same thing; keep one", other, k.Name)
		}
		set[dotted] = k.Name
		put(obj, k.Path, v)
	}
	if err := checkRequired(s.Fields, obj, ""); err != nil {
		return nil, err
	}
	src, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	file, diags := hcljson.Parse(src, "fluent-bit")
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	out, diags := schemahcl.Decode(file.Body, s, nil)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	return out, nil
}

func put(obj map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := obj[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[p] = next
		}
		obj = next
	}
	obj[path[len(path)-1]] = v
}

// checkRequired names the Fluent Bit key of a missing required field (the
// HCL diagnostic would name the HCL argument, which differs inside blocks).
func checkRequired(fields []sdk.Field, obj map[string]any, prefix string) error {
	for _, f := range fields {
		v, present := obj[f.Name]
		if f.Type == sdk.TypeBlock {
			if nested, ok := v.(map[string]any); ok {
				if err := checkRequired(f.Fields, nested, prefix+f.Name+"_"); err != nil {
					return err
				}
			}
			continue
		}
		if f.Required && !present {
			return fmt.Errorf("missing required key %q: %s", prefix+f.Name, f.Description)
		}
	}
	return nil
}

func diagError(diags hcl.Diagnostics) error {
	var msgs []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			msgs = append(msgs, strings.TrimSuffix(d.Summary+": "+d.Detail, ": "))
		}
	}
	sort.Strings(msgs)
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// Convert turns a Fluent Bit string value into the JSON value of the field's type.
func Convert(f sdk.Field, s string) (any, error) {
	switch f.Type {
	case sdk.TypeString:
		return s, nil
	case sdk.TypeInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		return n, nil
	case sdk.TypeFloat:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return n, nil
	case sdk.TypeBool:
		return parseBool(s)
	case sdk.TypeDuration:
		if n, err := strconv.ParseFloat(s, 64); err == nil && n >= 0 {
			s = strconv.FormatFloat(n, 'f', -1, 64) + "s" // Fluent Bit's bare numbers are seconds
		}
		if _, err := sdk.ParseDuration(s); err != nil {
			return nil, err
		}
		return s, nil
	case sdk.TypeSize:
		n, err := sdk.ParseSize(normalizeSize(s))
		if err != nil {
			return nil, err
		}
		return strconv.FormatInt(n, 10), nil
	case sdk.TypeStringList:
		return parseList(s)
	case sdk.TypeStringMap:
		return parseMap(s)
	case sdk.TypeBlockList:
		var list []map[string]any
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, fmt.Errorf("repeated blocks are written as a JSON array of objects: %v", err)
		}
		return list, nil
	}
	return nil, fmt.Errorf("type %s has no Fluent Bit form", f.Type)
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "on", "true", "yes", "1":
		return true, nil
	case "off", "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a bool (use on/off, true/false, yes/no)", s)
}

// normalizeSize accepts Fluent Bit's lower-case units (5m, 64k, 1g, 5mb).
func normalizeSize(s string) string {
	s = strings.TrimSpace(s)
	for _, u := range []string{"kib", "mib", "gib", "tib", "kb", "mb", "gb", "tb", "k", "m", "g", "b"} {
		if len(s) > len(u) && strings.EqualFold(s[len(s)-len(u):], u) {
			unit := strings.ToUpper(u)
			if strings.HasSuffix(unit, "IB") {
				unit = unit[:1] + "iB"
			}
			return s[:len(s)-len(u)] + unit
		}
	}
	return s
}

func parseList(s string) ([]string, error) {
	if strings.HasPrefix(s, "[") {
		var list []string
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, fmt.Errorf("not a JSON array of strings: %v", err)
		}
		return list, nil
	}
	list := []string{}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			list = append(list, item)
		}
	}
	return list, nil
}

func parseMap(s string) (map[string]string, error) {
	if strings.HasPrefix(s, "{") {
		var m map[string]string
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, fmt.Errorf("not a JSON object of strings: %v", err)
		}
		return m, nil
	}
	m := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%q is not a key=value pair (write k=v,k2=v2 or a JSON object)", pair)
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m, nil
}

package sdk

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Type is the type of a configuration field.
type Type string

const (
	TypeString     Type = "string"
	TypeInt        Type = "int"
	TypeFloat      Type = "float"
	TypeBool       Type = "bool"
	TypeDuration   Type = "duration" // "200ms", "1h"; Go syntax plus d (days)
	TypeSize       Type = "size"     // "64KiB", "1GiB", "500MB" or a number of bytes
	TypeStringList Type = "list(string)"
	TypeStringMap  Type = "map(string)"
	TypeBlock      Type = "block"  // one nested block, fields in Fields
	TypeBlockList  Type = "blocks" // repeated nested blocks, fields in Fields
)

// Schema is the list of a plugin's configuration fields.
type Schema struct {
	Fields []Field `json:"fields"`
}

// Field documents and types one argument. The description is the documentation.
type Field struct {
	Name        string   `json:"name"`
	Type        Type     `json:"type"`
	Description string   `json:"description"`
	Default     any      `json:"default,omitempty"`
	Required    bool     `json:"required,omitempty"`
	Sensitive   bool     `json:"sensitive,omitempty"`
	Example     string   `json:"example,omitempty"` // HCL expression, e.g. `"./audit.jsonl"`
	Enum        []string `json:"enum,omitempty"`
	Fields      []Field  `json:"fields,omitempty"` // for block types
}

// Field returns the named field, if any.
func (s Schema) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

func (s Schema) check(owner string) error {
	seen := map[string]bool{}
	for _, f := range s.Fields {
		if f.Name == "" || seen[f.Name] {
			return fmt.Errorf("plugin %s: empty or repeated field name %q", owner, f.Name)
		}
		seen[f.Name] = true
		switch f.Type {
		case TypeString, TypeInt, TypeFloat, TypeBool, TypeDuration, TypeSize, TypeStringList, TypeStringMap:
		case TypeBlock, TypeBlockList:
			if err := (Schema{Fields: f.Fields}).check(owner + "." + f.Name); err != nil {
				return err
			}
		default:
			return fmt.Errorf("plugin %s: field %s: unknown type %q", owner, f.Name, f.Type)
		}
		if f.Required && f.Default != nil {
			return fmt.Errorf("plugin %s: field %s is required and has a default", owner, f.Name)
		}
	}
	return nil
}

// SensitiveFields lists the dotted names of every sensitive field.
func (s Schema) SensitiveFields() []string {
	var out []string
	var walk func(prefix string, fs []Field)
	walk = func(prefix string, fs []Field) {
		for _, f := range fs {
			if f.Sensitive {
				out = append(out, prefix+f.Name)
			}
			walk(prefix+f.Name+".", f.Fields)
		}
	}
	walk("", s.Fields)
	return out
}

// Duration is a time.Duration that reads from JSON strings such as "200ms" or "7d".
type Duration time.Duration

// ParseDuration accepts Go durations plus a "d" (24h) unit.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q (use e.g. \"200ms\", \"30s\", \"1h\", \"7d\")", s)
	}
	return d, nil
}

func (d Duration) Std() time.Duration { return time.Duration(d) }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration must be a string like \"30s\"")
		}
		*d = Duration(time.Duration(n * float64(time.Second)))
		return nil
	}
	v, err := ParseDuration(s)
	*d = Duration(v)
	return err
}

// Size is a byte count that reads from "64KiB", "256MiB", "1GB" or a number.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// ParseSize reads a byte size.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q (use e.g. \"64KiB\", \"256MiB\", \"1GiB\")", s)
	}
	return int64(n * float64(mult)), nil
}

func (z Size) MarshalJSON() ([]byte, error) { return json.Marshal(int64(z)) }

func (z *Size) UnmarshalJSON(b []byte) error {
	var n int64
	if err := json.Unmarshal(b, &n); err == nil {
		*z = Size(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("size must be a string like \"64KiB\" or a number")
	}
	v, err := ParseSize(s)
	*z = Size(v)
	return err
}

// CheckValue validates a string-typed duration or size field's value; the
// host calls it to point errors at the argument.
func (f Field) CheckValue(s string) error {
	switch f.Type {
	case TypeDuration:
		_, err := ParseDuration(s)
		return err
	case TypeSize:
		_, err := ParseSize(s)
		return err
	}
	if len(f.Enum) > 0 {
		for _, e := range f.Enum {
			if e == s {
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", quoteList(f.Enum))
	}
	return nil
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

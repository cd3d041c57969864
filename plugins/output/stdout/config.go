package stdout

import "github.com/sentinel-audit/sentinel/sdk"

const (
	formatJSON   = "json"
	formatPretty = "pretty"
)

// Config is the stdout output's arguments.
type Config struct {
	// Format is "json" (one compact line per event) or "pretty" (indented).
	Format string `json:"format"`
}

func (c *Config) applyDefaults() {
	if c.Format == "" {
		c.Format = formatJSON
	}
}

// Validate reports arguments that cannot work, pointing at the argument.
func (c *Config) Validate() error {
	if c.Format != formatJSON && c.Format != formatPretty {
		return sdk.Fieldf("format", "must be %q or %q, got %q", formatJSON, formatPretty, c.Format)
	}
	return nil
}

var configSchema = sdk.Schema{Fields: []sdk.Field{{
	Name: "format", Type: sdk.TypeString, Default: formatJSON, Enum: []string{formatJSON, formatPretty},
	Description: "\"json\": each event body as one compact JSON line (NDJSON, for pipes and jq). " +
		"\"pretty\": indented JSON, for reading on a terminal.",
	Example: `"pretty"`,
}}}

package jsonl

import (
	"path/filepath"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Defaults, shared by the schema and by Configure (which may be handed raw
// JSON without the host's defaults, e.g. in tests or `sentinel call`).
const (
	defaultMaxLine      = 16 << 20
	defaultStartAt      = startBeginning
	defaultPollInterval = 250 * time.Millisecond
	startBeginning      = "beginning"
	startEnd            = "end"
)

// Config is the jsonl input's arguments.
type Config struct {
	// Paths are files or globs to read; "-" is standard input.
	Paths []string `json:"paths"`
	// Follow keeps tailing the files instead of ending at their end.
	Follow bool `json:"follow"`
	// MaxLine is the longest line accepted; longer lines are dead-lettered.
	MaxLine sdk.Size `json:"max_line"`
	// StartAt is where a file without saved progress is first read from.
	StartAt string `json:"start_at"`
	// PollInterval is how often a following input looks for appended data and new files.
	PollInterval sdk.Duration `json:"poll_interval"`
}

func (c *Config) Defaults() {
	if c.MaxLine == 0 {
		c.MaxLine = defaultMaxLine
	}
	if c.StartAt == "" {
		c.StartAt = defaultStartAt
	}
	if c.PollInterval == 0 {
		c.PollInterval = sdk.Duration(defaultPollInterval)
	}
}

// Validate reports arguments that cannot work, pointing at the argument.
func (c *Config) Validate() error {
	if len(c.Paths) == 0 {
		return sdk.Fieldf("paths", "at least one file, glob or \"-\" (stdin) is required")
	}
	stdin := 0
	for _, p := range c.Paths {
		switch {
		case p == "":
			return sdk.Fieldf("paths", "empty path")
		case p == "-":
			stdin++
		default:
			if _, err := filepath.Match(p, ""); err != nil {
				return sdk.Fieldf("paths", "bad glob %q: %v", p, err)
			}
		}
	}
	if stdin > 1 {
		return sdk.Fieldf("paths", "\"-\" (stdin) may appear only once")
	}
	if c.MaxLine < 2 {
		return sdk.Fieldf("max_line", "must be at least 2 bytes, got %d", c.MaxLine)
	}
	if c.MaxLine > 1<<30 {
		return sdk.Fieldf("max_line", "must be at most 1GiB, got %d", c.MaxLine)
	}
	if c.StartAt != startBeginning && c.StartAt != startEnd {
		return sdk.Fieldf("start_at", "must be %q or %q, got %q", startBeginning, startEnd, c.StartAt)
	}
	if c.PollInterval.Std() < time.Millisecond {
		return sdk.Fieldf("poll_interval", "must be at least 1ms")
	}
	return nil
}

var configSchema = sdk.Schema{Fields: []sdk.Field{
	{
		Name: "paths", Type: sdk.TypeStringList, Required: true,
		Description: "Files or glob patterns (Go filepath.Match syntax) holding NDJSON audit events, one JSON " +
			"object per line. \"-\" reads standard input (its progress is not saved).",
		Example: `["/var/log/sentinel/*.jsonl"]`,
	},
	{
		Name: "follow", Type: sdk.TypeBool, Default: false,
		Description: "false: read every file to its end, then end the input (the host exits 0 once everything " +
			"is delivered, like Fluent Bit's exit_on_eof). true: keep tailing, picking up appended lines, " +
			"rotated files and new files matching the globs.",
		Example: "true",
	},
	{
		Name: "max_line", Type: sdk.TypeSize, Default: "16MiB",
		Description: "Longest accepted line. A longer line is dead-lettered (its first max_line bytes) and " +
			"reading goes on after it.",
		Example: `"1MiB"`,
	},
	{
		Name: "start_at", Type: sdk.TypeString, Default: startBeginning, Enum: []string{startBeginning, startEnd},
		Description: "Where to start a file that has no saved progress and exists when the input starts. " +
			"Files that appear later are always read from their beginning.",
		Example: `"end"`,
	},
	{
		Name: "poll_interval", Type: sdk.TypeDuration, Default: "250ms",
		Description: "How often a following input checks for appended data, rotation and new files.",
		Example:     `"1s"`,
	},
}}

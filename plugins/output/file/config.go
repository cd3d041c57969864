package file

import (
	"path/filepath"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/output/file/store"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Config is the file output's HCL block.
type Config struct {
	Path          string       `json:"path"`
	Format        string       `json:"format"`
	SegmentSize   sdk.Size     `json:"segment_size"`
	SegmentAge    sdk.Duration `json:"segment_age"`
	Fsync         string       `json:"fsync"`
	FsyncInterval sdk.Duration `json:"fsync_interval"`
	Retention     sdk.Duration `json:"retention"`
	Keys          string       `json:"keys"`
}

const (
	formatSealed = "sealed"
	formatJSONL  = "jsonl"
)

// defaults fills what was not configured; the store lives in the
// component's own data directory unless a path is given.
func (c *Config) defaults(dataDir string) {
	if c.Path == "" && dataDir != "" {
		c.Path = filepath.Join(dataDir, "store")
	}
	if c.Format == "" {
		c.Format = formatSealed
	}
	if c.SegmentSize == 0 {
		c.SegmentSize = 256 << 20
	}
	if c.Fsync == "" {
		c.Fsync = store.FsyncInterval
	}
	if c.FsyncInterval == 0 {
		c.FsyncInterval = sdk.Duration(time.Second)
	}
}

// Validate checks the arguments.
func (c *Config) Validate() error {
	switch {
	case c.Path == "":
		return sdk.Fieldf("path", "is required here: the store directory")
	case c.Format != formatSealed && c.Format != formatJSONL:
		return sdk.Fieldf("format", "must be %q or %q", formatSealed, formatJSONL)
	case c.SegmentSize < 4096:
		return sdk.Fieldf("segment_size", "must be at least 4KiB")
	case c.Fsync != store.FsyncAlways && c.Fsync != store.FsyncInterval && c.Fsync != store.FsyncNever:
		return sdk.Fieldf("fsync", "must be \"always\", \"interval\" or \"never\"")
	case c.SegmentAge != 0 && c.SegmentAge.Std() < time.Second:
		return sdk.Fieldf("segment_age", "must be at least 1s")
	case c.Retention != 0 && c.Retention.Std() < time.Minute:
		return sdk.Fieldf("retention", "must be at least 1m")
	}
	return nil
}

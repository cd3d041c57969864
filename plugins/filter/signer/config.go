package signer

import (
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Config is the signer's HCL block.
type Config struct {
	Keys               string       `json:"keys"`
	Origin             string       `json:"origin"`
	Epoch              sdk.Duration `json:"epoch"`
	CheckpointEvery    int          `json:"checkpoint_every"`
	CheckpointInterval sdk.Duration `json:"checkpoint_interval"`
	RestartWindow      int          `json:"restart_window"`
}

func (c *Config) Defaults() {
	if c.Epoch == 0 {
		c.Epoch = sdk.Duration(10 * time.Minute)
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 4096
	}
	if c.RestartWindow == 0 {
		c.RestartWindow = 16384
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = sdk.Duration(10 * time.Second)
	}
}

// Validate checks the arguments without touching the key directory.
func (c *Config) Validate() error {
	switch {
	case c.Keys == "":
		return sdk.Fieldf("keys", "is required: the directory written by `sentinel keygen --out DIR`")
	case c.Epoch.Std() < time.Second:
		return sdk.Fieldf("epoch", "must be at least 1s")
	case c.CheckpointEvery < 1:
		return sdk.Fieldf("checkpoint_every", "must be at least 1")
	case c.RestartWindow < 0:
		return sdk.Fieldf("restart_window", "must not be negative")
	case c.CheckpointInterval.Std() < 100*time.Millisecond:
		return sdk.Fieldf("checkpoint_interval", "must be at least 100ms")
	}
	return nil
}

// Package builtin lists the plugins bundled in the sentinel binary. Each is
// still served in its own process (`sentinel plugin serve NAME`).
package builtin

import (
	"github.com/sentinel-audit/sentinel/plugins/input/jsonl"
	"github.com/sentinel-audit/sentinel/sdk"
)

// All returns the bundled plugins' definitions.
func All() []*sdk.Definition {
	return []*sdk.Definition{
		jsonl.Definition,
	}
}

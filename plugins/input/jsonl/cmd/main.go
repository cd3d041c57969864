// Command jsonl serves the jsonl input plugin.
package main

import (
	"github.com/sentinel-audit/sentinel/plugins/input/jsonl"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(jsonl.Definition) }

// Command mcp_tap serves the mcp_tap input plugin.
package main

import (
	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(mcp_tap.Definition) }

// Command stdout serves the stdout output plugin.
package main

import (
	"github.com/sentinel-audit/sentinel/plugins/output/stdout"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(stdout.Definition) }

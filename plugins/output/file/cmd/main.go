// Command file serves the file output plugin.
package main

import (
	"github.com/sentinel-audit/sentinel/plugins/output/file"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(file.Definition) }

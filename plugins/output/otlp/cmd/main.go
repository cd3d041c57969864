// Command otlp serves the otlp output plugin out of process.
package main

import (
	"github.com/sentinel-audit/sentinel/plugins/output/otlp"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(otlp.Definition) }

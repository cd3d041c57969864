// Command signer serves the signer filter plugin.
package main

import (
	"github.com/sentinel-audit/sentinel/plugins/filter/signer"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(signer.Definition) }

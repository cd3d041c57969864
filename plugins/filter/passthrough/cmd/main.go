// Command passthrough serves the passthrough filter plugin.
package main

import (
	"github.com/sentinel-audit/sentinel/plugins/filter/passthrough"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(passthrough.Definition) }

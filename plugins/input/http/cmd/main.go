// Command http serves the http input plugin.
package main

import (
	"github.com/sentinel-audit/sentinel/plugins/input/http"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(http.Definition) }

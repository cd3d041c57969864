// Command nats serves the nats input plugin.
package main

import (
	"github.com/sentinel-audit/sentinel/plugins/input/nats"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(nats.Definition) }

// Command nats serves the nats output plugin.
package main

import (
	"github.com/sentinel-audit/sentinel/plugins/output/nats"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(nats.Definition) }

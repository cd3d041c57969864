package main

import (
	"github.com/sentinel-audit/sentinel/plugins/output/chronicle"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(chronicle.Definition) }

package main

import (
	"github.com/sentinel-audit/sentinel/plugins/output/microsoft_sentinel"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(microsoft_sentinel.Definition) }

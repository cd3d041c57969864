package main

import (
	"github.com/sentinel-audit/sentinel/plugins/output/splunk_hec"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(splunk_hec.Definition) }

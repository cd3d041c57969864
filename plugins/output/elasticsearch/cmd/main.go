package main

import (
	"github.com/sentinel-audit/sentinel/plugins/output/elasticsearch"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(elasticsearch.Definition) }

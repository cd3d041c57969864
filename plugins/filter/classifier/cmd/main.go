// Command classifier serves the classifier filter plugin out of process.
package main

import (
	"github.com/sentinel-audit/sentinel/plugins/filter/classifier"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(classifier.Definition) }

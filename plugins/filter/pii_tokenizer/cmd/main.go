// Command pii_tokenizer serves the pii_tokenizer filter plugin out of process.
package main

import (
	piitokenizer "github.com/sentinel-audit/sentinel/plugins/filter/pii_tokenizer"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(piitokenizer.Definition) }

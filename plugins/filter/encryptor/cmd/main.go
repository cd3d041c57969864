// Command encryptor serves the encryptor filter plugin.
package main

import (
	"github.com/sentinel-audit/sentinel/plugins/filter/encryptor"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(encryptor.Definition) }

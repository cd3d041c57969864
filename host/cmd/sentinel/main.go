// Command sentinel is the Sentinel host, its CLI, and the server of every
// bundled plugin (`sentinel plugin serve NAME`).
package main

import (
	"os"

	"github.com/sentinel-audit/sentinel/host/cli"
)

func main() { os.Exit(cli.Execute()) }

// Command http serves the http input plugin.
package main

import (
	"os"
	"runtime/debug"

	"github.com/sentinel-audit/sentinel/plugins/input/http"
	"github.com/sentinel-audit/sentinel/sdk"
)

// gcPercent is the process's collector target unless GOGC is set. Its live
// heap is small (the requests on their way), yet every event allocates its
// record and body: at the default 100 the collector ran every few requests
// and took about a third of the process's CPU. The plugin's soft memory
// limit still bounds the heap.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	sdk.Serve(http.Definition)
}

// Package cli is the sentinel command line. Each command lives in its own
// file and registers itself on the root in init.
package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X .../host/cli.Version=...".
var Version = "0.1.0-dev"

var root = &cobra.Command{
	Use:   "sentinel",
	Short: "Audit pipeline for MCP traffic (OWASP MCP08)",
	Long: `Sentinel turns Model Context Protocol traffic into structured, tamper-evident audit
events and moves them through a pipeline of plugins, written in HCL, to a local
WORM store and to the SIEMs security teams already run.

Start with:
  sentinel validate -c pipeline.hcl     check a pipeline, with file:line:column errors
  sentinel run -c pipeline.hcl          run it
  sentinel wrap -c pipeline.hcl -- CMD  audit an MCP stdio server
  sentinel plugins list                 what plugins there are`,
	SilenceUsage:  true,
	SilenceErrors: true,
	Version:       Version,
}

// exitError carries a process exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// Execute runs the CLI and returns the process exit code.
func Execute() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		code := 1
		if ee, ok := err.(*exitError); ok {
			code = ee.code
		}
		if err.Error() != "" {
			fmt.Fprintln(os.Stderr, "sentinel:", err)
		}
		return code
	}
	return 0
}

package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"golang.org/x/term"

	"github.com/sentinel-audit/sentinel/host/catalog"
	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/host/pipeline"
	"github.com/sentinel-audit/sentinel/plugins/builtin"
)

// runOptions adjust how a pipeline is started.
type runOptions struct {
	Logger hclog.Logger
	// Stdout receives what plugins print; `sentinel wrap` points it away from
	// its own stdout, which carries the MCP session.
	Stdout io.Writer
}

// newLogger writes human-readable logs to stderr.
func newLogger(level string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "sentinel", Level: hclog.LevelFromString(level), Output: os.Stderr,
		Color: hclog.AutoColor})
}

func newCatalog(logger hclog.Logger) (*catalog.Catalog, error) {
	cat, err := catalog.New(builtin.All(), logger)
	if err != nil {
		return nil, err
	}
	config.SetCatalog(cat)
	return cat, nil
}

// loadConfig loads and validates path, printing every diagnostic to w.
func loadConfig(path string, cat *catalog.Catalog, w io.Writer) (*config.Config, error) {
	cfg, diags := config.LoadWith(path, cat)
	printDiagnostics(w, diags, cfg.Files())
	if diags.HasErrors() {
		n := 0
		for _, d := range diags {
			if d.Severity == hcl.DiagError {
				n++
			}
		}
		return cfg, &exitError{code: 1, err: fmt.Errorf("%s: %d error(s); nothing was started", path, n)}
	}
	return cfg, nil
}

// startPipeline loads, validates and starts the pipeline at path; it returns
// once every plugin is running and configured.
func startPipeline(ctx context.Context, path string, opts runOptions) (*pipeline.Pipeline, *config.Config, error) {
	if opts.Logger == nil {
		opts.Logger = newLogger("info")
	}
	cat, err := newCatalog(opts.Logger)
	if err != nil {
		return nil, nil, err
	}
	if opts.Stdout != nil {
		cat.Stdout = opts.Stdout
	}
	cfg, err := loadConfig(path, cat, os.Stderr)
	if err != nil {
		return nil, cfg, err
	}
	opts.Logger.SetLevel(hclog.LevelFromString(cfg.LogLevel))
	p, err := pipeline.Start(ctx, cfg, pipeline.CatalogLauncher{Catalog: cat, Config: cfg}, pipeline.Options{Logger: opts.Logger})
	return p, cfg, err
}

// printDiagnostics writes each diagnostic as file:line:column: severity:
// summary, then the detail, the source line and a caret under the problem.
func printDiagnostics(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File) {
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		var b strings.Builder
		if d.Subject != nil {
			fmt.Fprintf(&b, "%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		fmt.Fprintf(&b, "%s: %s", sev, d.Summary)
		if d.Detail != "" {
			fmt.Fprintf(&b, "\n  %s", d.Detail)
		}
		if d.Subject != nil {
			if f := files[d.Subject.Filename]; f != nil {
				lines := bytes.Split(f.Bytes, []byte("\n"))
				if n := d.Subject.Start.Line; n >= 1 && n <= len(lines) {
					line := string(lines[n-1])
					fmt.Fprintf(&b, "\n  %4d | %s\n       | %s%s", n, line,
						strings.Repeat(" ", max(0, d.Subject.Start.Column-1)), caret(d.Subject, line))
				}
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

func caret(r *hcl.Range, line string) string {
	n := 1
	if r.End.Line == r.Start.Line && r.End.Column > r.Start.Column {
		n = r.End.Column - r.Start.Column
	}
	if rest := len(line) - (r.Start.Column - 1); n > rest && rest > 0 {
		n = rest
	}
	return strings.Repeat("^", n)
}

// isTerminal reports whether f is a terminal, for colour and progress output.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

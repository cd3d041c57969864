package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/sentinel-audit/sentinel/host/pipeline"
	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap"
	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/deliver"
	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/stdio"
	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/tap"
	"github.com/sentinel-audit/sentinel/sdk"
)

// forwardedSignals reach the wrapped server as they reach the wrapper.
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}

type wrapFlags struct {
	config, to, dataDir, token, logLevel string
	flushTimeout                         time.Duration
	policyMode                           string
	allowTools, denyTools                []string
}

func init() {
	var f wrapFlags
	cmd := &cobra.Command{
		Use:   "wrap [-c PIPELINE.hcl | --to ADDRESS] -- SERVER COMMAND...",
		Short: "Audit an MCP stdio server: run it behind a transparent tap",
		Long: `Configure your MCP client to launch "sentinel wrap ... -- <server command>" instead of the
server. The client gets exactly the same session: bytes pass unchanged both ways, the
server's stderr is passed through, signals are forwarded, and the wrapper exits as the
server did (same exit code, or the same signal). Only the server's bytes are written
to stdout; the wrapper logs to stderr.

Events go to the mcp_tap input of a pipeline: with -c the pipeline in that file runs
inside this process; with --to they go to a running host's mcp_tap ingest endpoint
(a unix socket path, or host:port). The session never waits on the pipeline: events
queue in memory and spill to a spool file under the data directory when the pipeline
is slow or down, and are delivered when it is back (by this or a later wrapper).`,
		Example: `  sentinel wrap -c pipeline.hcl -- npx -y @modelcontextprotocol/server-everything
  sentinel wrap --to ./data/input.mcp_tap.tap/ingest.sock -- ./my-mcp-server --stdio
  sentinel wrap --to 127.0.0.1:7071 --token "$SENTINEL_INGEST_TOKEN" -- python server.py`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 0 {
				return errors.New("put the server command after --: sentinel wrap [flags] -- CMD ARGS...")
			}
			return runWrap(cmd.Context(), f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "run the pipeline in this HCL file; its mcp_tap input receives the events")
	fl.StringVar(&f.to, "to", "", "send events to a running host's mcp_tap ingest endpoint (socket path or host:port)")
	fl.StringVar(&f.dataDir, "data-dir", "", "spool and tool inventory directory (default: the mcp_tap component's, or $XDG_STATE_HOME/sentinel/wrap)")
	fl.StringVar(&f.token, "token", os.Getenv("SENTINEL_INGEST_TOKEN"), "ingest token (default $SENTINEL_INGEST_TOKEN)")
	fl.StringVar(&f.logLevel, "log-level", "warn", "wrapper log level (logs go to stderr)")
	fl.DurationVar(&f.flushTimeout, "flush-timeout", 5*time.Second, "at exit, how long to try delivering queued events before spooling them")
	fl.StringVar(&f.policyMode, "policy-mode", "", "with --to: tool policy mode, audit or enforce")
	fl.StringSliceVar(&f.allowTools, "allow-tool", nil, "with --to: allowed tool name or glob (repeatable)")
	fl.StringSliceVar(&f.denyTools, "deny-tool", nil, "with --to: denied tool name or glob (repeatable)")
	root.AddCommand(cmd)
}

// wrapTarget is where the wrapper's events go and what it enforces.
type wrapTarget struct {
	address, token, dataDir string
	tapCfg                  mcp_tap.Config
	pipeline                *pipeline.Pipeline
}

func runWrap(ctx context.Context, f wrapFlags, command []string) error {
	log := hclog.New(&hclog.LoggerOptions{Name: "sentinel-wrap", Level: hclog.LevelFromString(f.logLevel), Output: os.Stderr})
	// Take the forwardable signals before anything else can act on them: the
	// server decides how to stop, and the wrapper follows it. SIGPIPE is
	// caught (not ignored, which the server would inherit) so a vanished
	// client shows as a write error instead of killing the wrapper.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwardedSignals...)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	defer signal.Stop(sigs)

	defer stdio.TuneGC()()

	target, err := resolveWrapTarget(context.WithoutCancel(ctx), f, log)
	if err != nil {
		return err
	}
	ep, err := deliver.ParseAddress(target.address)
	if err != nil {
		return err
	}
	sink, err := deliver.NewSink(deliver.SinkOptions{
		Client:   deliver.NewClient(ep, target.token, 30*time.Second),
		SpoolDir: filepath.Join(target.dataDir, "spool"),
		Log:      func(msg string, args ...any) { log.Warn(msg, args...) },
	})
	if err != nil {
		return err
	}
	var pol *tap.Policy
	if target.tapCfg.Policy != nil {
		if pol, err = tap.NewPolicy(*target.tapCfg.Policy); err != nil {
			return err
		}
	}
	server := target.tapCfg.Server
	if server == "" {
		server = strings.Join(command, " ")
	}
	t := tap.New(tap.Config{
		Transport: "pipe", Server: server, Endpoint: "stdio:" + command[0],
		MaxMessage: int(target.tapCfg.MaxMessageSize), MaxPayload: int(target.tapCfg.MaxPayload),
		Policy: pol, Inventory: tap.OpenInventory(filepath.Join(target.dataDir, "tools.json")), Emit: sink.Emit,
	})
	exit, runErr := stdio.Run(stdio.Options{
		Command: command, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Tap: t, Gate: pol != nil && pol.Mode() == "enforce", Signals: sigs,
	})

	fctx, cancel := context.WithTimeout(context.Background(), f.flushTimeout)
	if err := sink.Close(fctx); err != nil {
		log.Error("events could not be spooled", "error", err)
	}
	cancel()
	if n := sink.Spilled.Load(); n > 0 {
		log.Warn("events spooled for later delivery", "events", n, "spool", filepath.Join(target.dataDir, "spool"))
	}
	if target.pipeline != nil {
		sctx, cancel := context.WithTimeout(context.Background(), f.flushTimeout)
		if err := target.pipeline.Stop(sctx); err != nil {
			log.Warn("pipeline stop", "error", err)
		}
		cancel()
	}
	if runErr != nil {
		return &exitError{code: 127, err: runErr}
	}
	if exit.Signal != 0 {
		// die the way the server died, so the client sees the same thing
		signal.Reset(exit.Signal)
		_ = syscall.Kill(os.Getpid(), exit.Signal)
		time.Sleep(100 * time.Millisecond)
		return &exitError{code: 128 + int(exit.Signal), err: errors.New("")}
	}
	if exit.Code != 0 {
		return &exitError{code: exit.Code, err: errors.New("")}
	}
	return nil
}

// resolveWrapTarget starts the pipeline of --config and finds its mcp_tap
// input, or takes --to.
func resolveWrapTarget(ctx context.Context, f wrapFlags, log hclog.Logger) (*wrapTarget, error) {
	switch {
	case f.config != "" && f.to != "":
		return nil, errors.New("use either --config or --to, not both")
	case f.config == "" && f.to == "":
		return nil, errors.New("say where events go: --config PIPELINE.hcl or --to ADDRESS")
	}
	tg := &wrapTarget{token: f.token, dataDir: f.dataDir}
	if f.to != "" {
		tg.address = f.to
		if f.policyMode != "" || len(f.allowTools) > 0 || len(f.denyTools) > 0 {
			tg.tapCfg.Policy = &tap.PolicyConfig{Mode: f.policyMode, AllowTools: f.allowTools, DenyTools: f.denyTools}
		}
		if tg.dataDir == "" {
			tg.dataDir = defaultWrapDataDir()
		}
		return tg, nil
	}
	// plugins' stdout must not reach ours: it carries the MCP session
	p, cfg, err := startPipeline(ctx, f.config, runOptions{Logger: log, Stdout: os.Stderr})
	if err != nil {
		return nil, err
	}
	tg.pipeline = p
	for _, c := range cfg.Components {
		if c.Kind != sdk.KindInput || c.Plugin != mcp_tap.Definition.Name {
			continue
		}
		if err := json.Unmarshal(c.Config, &tg.tapCfg); err != nil && len(c.Config) > 0 {
			return nil, fmt.Errorf("%s: %w", c.ID(), err)
		}
		tg.address = tg.tapCfg.Ingest
		if tg.address == "" {
			tg.address = filepath.Join(c.DataDir, mcp_tap.IngestSocket)
		}
		if tg.address == "off" {
			return nil, fmt.Errorf("%s has ingest = \"off\": the wrapper has nowhere to send events", c.ID())
		}
		if tg.token == "" {
			tg.token = tg.tapCfg.IngestToken
		}
		if tg.dataDir == "" {
			tg.dataDir = c.DataDir
		}
		return tg, nil
	}
	_ = p.Stop(ctx)
	return nil, fmt.Errorf("%s has no input \"mcp_tap\" block to receive the wrapper's events", f.config)
}

func defaultWrapDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "sentinel", "wrap")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "sentinel", "wrap")
	}
	return filepath.Join(os.TempDir(), "sentinel-wrap")
}

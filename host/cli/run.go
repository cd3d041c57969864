package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sentinel-audit/sentinel/host/pipeline"
	"github.com/sentinel-audit/sentinel/sdk"
)

func init() {
	var path string
	var keepRunning bool
	cmd := &cobra.Command{
		Use:   "run -c PIPELINE.hcl",
		Short: "Run a pipeline",
		Long: `Run the pipeline described in an HCL file. Every plugin runs in its own process.

A pipeline whose inputs are all finite (a jsonl input without follow) exits 0 once
every record is delivered or dead-lettered. Any other pipeline runs until SIGINT or
SIGTERM, then stops its inputs, drains in-flight batches (sentinel { drain_timeout }),
and exits. Records that failed for good are in <data_dir>/deadletter/<component>.jsonl.

With sentinel { metrics = "127.0.0.1:9464" }, the host serves Prometheus /metrics,
/healthz, /readyz and /status (the components' counters as JSON). --keep-running
keeps a finished pipeline's process, and that endpoint, up until a signal.`,
		Example: `  sentinel run -c config.hcl.example
  SPLUNK_HEC_TOKEN=... sentinel run -c pipeline.hcl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPipeline(cmd.Context(), path, keepRunning, os.Stderr)
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "pipeline file (HCL)")
	cmd.Flags().BoolVar(&keepRunning, "keep-running", false, "stay up after a finite pipeline finished, for inspection, until SIGINT/SIGTERM")
	_ = cmd.MarkFlagRequired("config")
	root.AddCommand(cmd)
}

func runPipeline(ctx context.Context, path string, keepRunning bool, status io.Writer) error {
	sdk.ProfileFromEnv("host")
	logger := newLogger("info")
	start := time.Now()
	p, cfg, err := startPipeline(ctx, path, runOptions{Logger: logger})
	if err != nil {
		return err
	}
	logger.Info("pipeline running", "components", len(cfg.Components), "data_dir", cfg.DataDir)
	if cfg.Metrics != "" {
		stop, err := serveMetrics(cfg.Metrics, p)
		if err != nil {
			_ = p.Stop(context.Background())
			return err
		}
		defer stop()
		logger.Info("serving /metrics, /healthz, /readyz, /status", "address", cfg.Metrics)
	}
	select {
	case <-p.Done():
		if keepRunning {
			printSummary(status, p.Stats(), time.Since(start), p)
			logger.Info("pipeline finished; --keep-running: waiting for SIGINT/SIGTERM")
			<-ctx.Done()
			return nil
		}
	case <-ctx.Done():
		logger.Info("stopping: draining in-flight batches", "timeout", cfg.DrainTimeout.Std())
		dctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout.Std())
		defer cancel()
		if err := p.Stop(dctx); err != nil {
			logger.Warn(err.Error())
		}
	}
	printSummary(status, p.Stats(), time.Since(start), p)
	return nil
}

func printSummary(w io.Writer, stats []pipeline.StatsSnapshot, took time.Duration, p *pipeline.Pipeline) {
	fmt.Fprintf(w, "\n%-40s %10s %10s %10s %10s %8s %8s\n", "component", "in", "out", "dropped", "dead", "retried", "restarts")
	for _, s := range stats {
		fmt.Fprintf(w, "%-40s %10d %10d %10d %10d %8d %8d\n", s.Component, s.In, s.Out, s.Dropped, s.DeadLettered, s.Retried, s.Restarts)
		if s.DeadLettered > 0 {
			fmt.Fprintf(w, "  dead letters: %s\n", p.DeadLetterPath(s.Component))
		}
	}
	fmt.Fprintf(w, "finished in %s\n", took.Round(time.Millisecond))
}

// serveMetrics serves the pipeline's observability endpoints on addr.
func serveMetrics(addr string, p *pipeline.Pipeline) (func(), error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	return func() { _ = srv.Close() }, nil
}

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Launcher starts a component's plugin: out of process through the catalog,
// or in process for tests and baselines.
type Launcher interface {
	Launch(ctx context.Context, comp *config.Component) (Proc, error)
}

// Proc is one running plugin instance.
type Proc interface {
	Conn() sdk.Conn
	Kill()
}

// streamEvent is a result frame, or the end of a stream, tagged with the
// generation of the process that produced it so stale events are ignored.
type streamEvent struct {
	gen   uint64
	frame *sdk.Frame
	err   error
}

// supervised keeps one plugin instance alive for its owner loop: it starts,
// configures and streams to the plugin, and restarts it with backoff when it
// exits, panics or misses a deadline. go-plugin never restarts a plugin; this does.
// Only the owner goroutine calls its methods.
type supervised struct {
	comp     *config.Component
	launcher Launcher
	logger   hclog.Logger
	stats    *Stats

	proc   Proc
	gen    uint64
	writer chan *sdk.Frame
	cancel context.CancelFunc
	events chan streamEvent

	failures int
	started  time.Time
	// restartStats count the restarts: the component's, or every filter's
	// that shares the process.
	restartStats []*Stats
}

func newSupervised(comp *config.Component, l Launcher, logger hclog.Logger, stats *Stats) *supervised {
	return &supervised{comp: comp, launcher: l, logger: logger, stats: stats, events: make(chan streamEvent, 256), restartStats: []*Stats{stats}}
}

// start launches, configures and opens the stream.
func (s *supervised) start(ctx context.Context) error {
	proc, err := s.launcher.Launch(ctx, s.comp)
	if err != nil {
		return fmt.Errorf("%s: start plugin %s: %w", s.comp.ID(), s.comp.Plugin, err)
	}
	conn := proc.Conn()
	if err := conn.Configure(ctx, s.comp.Name, s.comp.DataDir, s.comp.Config, false); err != nil {
		proc.Kill()
		return fmt.Errorf("%s: configure: %w", s.comp.ID(), err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	stream, err := conn.Stream(sctx)
	if err != nil {
		cancel()
		proc.Kill()
		return fmt.Errorf("%s: open stream: %w", s.comp.ID(), err)
	}
	s.gen++
	s.proc, s.cancel, s.started = proc, cancel, time.Now()
	s.writer = make(chan *sdk.Frame, 1024)
	go s.write(s.gen, stream, s.writer)
	go s.read(s.gen, stream)
	return nil
}

// write sends frames in order; after a failure it drains so the owner never blocks.
func (s *supervised) write(gen uint64, stream sdk.Stream, frames <-chan *sdk.Frame) {
	var failed bool
	for f := range frames {
		if failed {
			continue
		}
		if err := stream.Send(f); err != nil {
			failed = true
			if errors.Is(err, sdk.ErrBatchTooLarge) {
				s.events <- streamEvent{gen: gen, frame: &sdk.Frame{Kind: sdk.FrameResult, Seq: f.Seq, Err: err}}
				failed = false
				continue
			}
			s.events <- streamEvent{gen: gen, err: fmt.Errorf("send: %w", err)}
		}
	}
	if !failed {
		_ = stream.CloseSend()
	}
}

func (s *supervised) read(gen uint64, stream sdk.Stream) {
	for {
		f, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.EOF
			}
			s.events <- streamEvent{gen: gen, err: err}
			return
		}
		s.events <- streamEvent{gen: gen, frame: f}
	}
}

func (s *supervised) send(f *sdk.Frame) { s.writer <- f }

// kill ends the current process; its stream fails and the owner restarts it.
func (s *supervised) kill() {
	if s.proc != nil {
		s.proc.Kill()
		s.cancel()
	}
}

// restart replaces a dead or hung process, backing off on repeated failure,
// until it succeeds or ctx ends.
func (s *supervised) restart(ctx context.Context, why error) error {
	s.stop()
	if time.Since(s.started) > time.Minute {
		s.failures = 0
	}
	for {
		s.failures++
		for _, st := range s.restartStats {
			st.Restarts.Add(1)
		}
		wait := backoff(100*time.Millisecond, 5*time.Second, s.failures)
		s.logger.Warn("restarting plugin", "component", s.comp.ID(), "reason", why, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		err := s.start(ctx)
		if err == nil {
			return nil
		}
		why = err
	}
}

// stop tears the current process down without ceremony.
func (s *supervised) stop() {
	if s.writer != nil {
		close(s.writer)
		s.writer = nil
	}
	s.kill()
	s.proc = nil
}

// shutdown ends the stream cleanly (so the plugin sees every frame sent,
// acks included), then calls Close and stops the process.
func (s *supervised) shutdown(timeout time.Duration) {
	if s.proc == nil {
		return
	}
	gen := s.gen
	close(s.writer)
	s.writer = nil
	deadline := time.After(timeout)
wait:
	for {
		select {
		case ev := <-s.events:
			if ev.gen == gen && ev.err != nil {
				break wait
			}
		case <-deadline:
			break wait
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.proc.Conn().Close(ctx); err != nil {
		s.logger.Warn("plugin close failed", "component", s.comp.ID(), "error", err)
	}
	s.kill()
	s.proc = nil
}

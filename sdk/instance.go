package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// FrameKind says what a Frame on a Process stream carries.
type FrameKind int

const (
	FrameProcess FrameKind = iota // host → plugin: a batch for a filter or an output
	FramePoll                     // host → plugin: ask an input for its next batch
	FrameAck                      // host → plugin: input batches now delivered
	FrameResult                   // plugin → host: the answer to the frame with the same Seq
)

// Frame is one message on a Process stream. Plugin authors never see it; the
// host and Serve exchange frames over gRPC, or in process through LocalConn.
type Frame struct {
	Kind    FrameKind
	Seq     uint64
	Batch   *Batch
	Acks    []uint64
	MaxWait time.Duration // for polls: how long an input may wait for records
	Err     error         // on results: RetryError, ErrEndOfInput, *PanicError or a plain error
}

// PanicError reports a plugin that panicked while processing a batch.
type PanicError struct{ Value, Stack string }

func (e *PanicError) Error() string { return "plugin panicked: " + e.Value }

// Conn is the host's handle on one plugin instance, in process or over RPC.
type Conn interface {
	Describe(ctx context.Context) (*Definition, error)
	Configure(ctx context.Context, name, dataDir string, raw json.RawMessage, dryRun bool) error
	Stream(ctx context.Context) (Stream, error)
	Health(ctx context.Context) error
	Invoke(ctx context.Context, operation string, args json.RawMessage) (json.RawMessage, error)
	Close(ctx context.Context) error
}

// Stream is the long-lived batch stream of one instance. Results come back in
// the order requests were sent.
type Stream interface {
	Send(*Frame) error
	Recv() (*Frame, error)
	CloseSend() error
}

// instance runs one plugin: the semantics shared by Serve and LocalConn.
type instance struct {
	def    *Definition
	plugin Plugin
	logger hclog.Logger
	// busy is held while Process runs, so that Close never runs beside it:
	// a plugin may free in Close what Process is using.
	busy chan struct{}

	closeOnce sync.Once
	closeErr  error
}

func newInstance(def *Definition, logger hclog.Logger) *instance {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &instance{def: def, plugin: def.New(), logger: logger, busy: make(chan struct{}, 1)}
}

func (in *instance) configure(ctx context.Context, cfg Config) (err error) {
	defer recoverTo(&err)
	cfg.Logger = in.logger.Named(cfg.Name)
	if v, ok := in.plugin.(Validator); ok {
		if err := v.Validate(cfg); err != nil {
			return err
		}
	}
	if cfg.DryRun {
		return nil
	}
	if c, ok := in.plugin.(Configurer); ok {
		return c.Configure(ctx, cfg)
	}
	return nil
}

// process runs one batch, turning panics into PanicError and an input's idle
// poll deadline into an empty batch.
func (in *instance) process(ctx context.Context, f *Frame) (out *Batch, err error) {
	if f.Kind == FramePoll && f.MaxWait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.MaxWait)
		defer cancel()
	}
	in.busy <- struct{}{}
	defer func() {
		<-in.busy
		if v := recover(); v != nil {
			out, err = nil, &PanicError{Value: fmt.Sprint(v), Stack: string(debug.Stack())}
		}
	}()
	b := f.Batch
	if b == nil {
		b = &Batch{}
	}
	out, err = in.plugin.Process(ctx, b)
	if f.Kind == FramePoll && err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return &Batch{}, nil
	}
	if out == nil && err == nil {
		out = &Batch{}
	}
	return out, err
}

func (in *instance) ack(seqs []uint64) {
	if a, ok := in.plugin.(Acker); ok && len(seqs) > 0 {
		defer func() {
			if v := recover(); v != nil {
				in.logger.Error("plugin panicked in Ack", "panic", v)
			}
		}()
		a.Ack(context.Background(), seqs)
	}
}

func (in *instance) health(ctx context.Context) (err error) {
	defer recoverTo(&err)
	if h, ok := in.plugin.(HealthChecker); ok {
		return h.Health(ctx)
	}
	return nil
}

// close waits for a running Process to return (until ctx ends: a plugin
// stuck in Process is then closed beside it, as the host is about to kill it).
func (in *instance) close(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, closeWaitLimit)
		defer cancel()
	}
	select {
	case in.busy <- struct{}{}:
		defer func() { <-in.busy }()
	case <-ctx.Done():
	}
	in.closeOnce.Do(func() {
		defer recoverTo(&in.closeErr)
		if c, ok := in.plugin.(Closer); ok {
			in.closeErr = c.Close(ctx)
		}
	})
	return in.closeErr
}

// serveStream reads frames until recv fails, answers ACKs at once (so an input
// blocked in a poll still learns of deliveries), and processes everything else
// on one goroutine, in order.
func (in *instance) serveStream(ctx context.Context, recv func() (*Frame, error), send func(*Frame) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *Frame, 64)
	done := make(chan error, 1)
	if l, ok := in.plugin.(laned); ok {
		go in.serveLanes(ctx, cancel, l, work, send, done)
	} else {
		go in.serveInOrder(ctx, cancel, work, send, done)
	}
	var rerr error
	for {
		f, err := recv()
		if err != nil {
			rerr = err
			break
		}
		if f.Kind == FrameAck {
			in.ack(f.Acks)
			continue
		}
		select {
		case work <- f:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	werr := <-done
	if werr != nil {
		return werr
	}
	return rerr
}

// serveInOrder processes frames one at a time and answers each.
func (in *instance) serveInOrder(ctx context.Context, cancel context.CancelFunc, work chan *Frame, send func(*Frame) error, done chan<- error) {
	for f := range work {
		out, err := in.process(ctx, f)
		if out != nil {
			out.Seq = outSeq(f, out)
		}
		if serr := send(&Frame{Kind: FrameResult, Seq: f.Seq, Batch: out, Err: err}); serr != nil {
			cancel()
			for range work {
			}
			done <- serr
			return
		}
	}
	done <- nil
}

// serveLanes hands frames to a laned plugin as they come and answers them
// in the same order as they finish their way through its lanes.
func (in *instance) serveLanes(ctx context.Context, cancel context.CancelFunc, l laned, work chan *Frame, send func(*Frame) error, done chan<- error) {
	type pending struct {
		f *Frame
		j *job
	}
	answers := make(chan pending, cap(work))
	go func() {
		defer close(answers)
		for f := range work {
			b := f.Batch
			if b == nil {
				b = &Batch{}
			}
			answers <- pending{f, l.submit(ctx, b)}
		}
	}()
	for p := range answers {
		<-p.j.done
		out, err := p.j.out, p.j.err
		if out == nil && err == nil {
			out = &Batch{}
		}
		if out != nil {
			out.Seq = p.f.Seq
		}
		if serr := send(&Frame{Kind: FrameResult, Seq: p.f.Seq, Batch: out, Err: err}); serr != nil {
			cancel()
			for p := range answers {
				<-p.j.done
			}
			done <- serr
			return
		}
	}
	done <- nil
}

// outSeq keeps an input's own batch sequence; other kinds echo the request.
func outSeq(f *Frame, out *Batch) uint64 {
	if f.Kind == FramePoll {
		return out.Seq
	}
	return f.Seq
}

// closeWaitLimit bounds how long a Close without a deadline waits for a
// Process that ignores its context.
const closeWaitLimit = 30 * time.Second

func recoverTo(err *error) {
	if v := recover(); v != nil {
		*err = &PanicError{Value: fmt.Sprint(v), Stack: string(debug.Stack())}
	}
}

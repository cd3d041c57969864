package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// LocalConn runs a plugin in this process with exactly the semantics it has
// out of process: for tests, benchmarks' baselines and `sentinel call`.
func LocalConn(def *Definition, logger hclog.Logger) Conn {
	return &localConn{inst: newInstance(def, logger)}
}

type localConn struct{ inst *instance }

func (c *localConn) Describe(context.Context) (*Definition, error) { return c.inst.def, nil }

func (c *localConn) Configure(ctx context.Context, name, dataDir string, raw json.RawMessage, dryRun bool) error {
	return c.inst.configure(ctx, Config{Name: name, DataDir: dataDir, Raw: raw, DryRun: dryRun})
}

func (c *localConn) Health(ctx context.Context) error { return c.inst.health(ctx) }

func (c *localConn) Invoke(ctx context.Context, op string, args json.RawMessage) (json.RawMessage, error) {
	return c.inst.invoke(ctx, op, args)
}

func (c *localConn) Close(ctx context.Context) error { return c.inst.close(ctx) }

func (c *localConn) Stream(ctx context.Context) (Stream, error) {
	s := &localStream{ctx: ctx, in: make(chan *Frame, 64), out: make(chan *Frame, 64)}
	go func() {
		err := c.inst.serveStream(ctx, s.recvIn, func(f *Frame) error {
			select {
			case s.out <- f:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		s.finish(err)
	}()
	return s, nil
}

type localStream struct {
	ctx       context.Context
	in, out   chan *Frame
	closeOnce sync.Once
	mu        sync.Mutex
	err       error
}

func (s *localStream) Send(f *Frame) (err error) {
	defer func() {
		if recover() != nil { // sent after CloseSend
			err = io.ErrClosedPipe
		}
	}()
	s.in <- f
	return nil
}

func (s *localStream) recvIn() (*Frame, error) {
	select {
	case f, ok := <-s.in:
		if !ok {
			return nil, io.EOF
		}
		return f, nil
	case <-s.ctx.Done(): // the host killed this instance
		return nil, s.ctx.Err()
	}
}

func (s *localStream) Recv() (*Frame, error) {
	f, ok := <-s.out
	if !ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err != nil && !errors.Is(s.err, io.EOF) {
			return nil, s.err
		}
		return nil, io.EOF
	}
	return f, nil
}

func (s *localStream) CloseSend() error {
	s.closeOnce.Do(func() { close(s.in) })
	return nil
}

func (s *localStream) finish(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	close(s.out)
}

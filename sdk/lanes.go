package sdk

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
)

// Served, a fused chain runs each stage on a goroutine of its own, batches
// passing from one lane to the next in order: while the store writes batch
// n, the signer signs n+1 and the tokenizer reads n+2. A chain that would
// keep one core busy while the others idle can then use the cores that
// separate processes did. Each stage still sees batches one at a time and in
// the order they came, exactly as when Process runs them in a row; a batch
// resumed at a later stage passes the earlier lanes untouched, so it does
// not overtake the batches ahead of it.
type lanes struct {
	mu     sync.Mutex // guards in and closed, and is held while a batch enters
	in     []chan *job
	closed bool
	wg     sync.WaitGroup
}

// laned is a plugin whose batches can be submitted before earlier ones are answered.
type laned interface {
	submit(ctx context.Context, in *Batch) *job
}

var errChainClosed = errors.New("fused chain closed")

// submit starts in on its way through the lanes; the job's done closes once
// it is answered.
func (f *fused) submit(ctx context.Context, in *Batch) *job {
	j := f.begin(ctx, in)
	j.done = make(chan struct{})
	l := &f.lanes
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		j.out, j.err = nil, errChainClosed
		close(j.done)
		return j
	}
	if l.in == nil {
		f.startLanes()
	}
	l.in[0] <- j
	return j
}

func (f *fused) startLanes() {
	l := &f.lanes
	l.in = make([]chan *job, len(f.stages))
	for i := range l.in {
		l.in[i] = make(chan *job, 1)
	}
	l.wg.Add(len(f.stages))
	for i := range f.stages {
		go f.runLane(i)
	}
}

// runLane runs stage i on every job that reaches it, and hands on those it
// does not answer.
func (f *fused) runLane(i int) {
	l := &f.lanes
	defer l.wg.Done()
	if i+1 < len(l.in) {
		defer close(l.in[i+1])
	}
	for j := range l.in[i] {
		if i >= j.first && f.stepRecovering(j, i) {
			close(j.done)
			continue
		}
		l.in[i+1] <- j // only the last stage answers every job it runs
	}
}

// stepRecovering is step with a panic answered as a PanicError: the host
// then restarts the process, as it does for a plugin running alone.
func (f *fused) stepRecovering(j *job, i int) (answered bool) {
	defer func() {
		if v := recover(); v != nil {
			j.out, j.err = nil, &PanicError{Value: fmt.Sprintf("%s: %v", f.label(i), v), Stack: string(debug.Stack())}
			answered = true
		}
	}()
	return f.step(j, i)
}

// stopLanes lets the jobs in the lanes finish (until ctx ends) and takes no more.
func (f *fused) stopLanes(ctx context.Context) {
	l := &f.lanes
	l.mu.Lock()
	if !l.closed && l.in != nil {
		close(l.in[0])
	}
	l.closed = true
	l.mu.Unlock()
	drained := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
	}
}

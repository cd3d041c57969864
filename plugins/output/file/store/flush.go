package store

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// The flusher keeps the disk off the append path. An append only copies
// lines into the page cache; the flusher, on a goroutine of its own,
//   - starts write-back of every writebackChunk appended (without waiting
//     for it), so dirty pages never pile up into a burst that a seal's
//     fsync, or the kernel's own write-back, then pushes out while appends
//     wait behind it; and
//   - with fsync = "interval", makes what was appended durable every
//     interval while appends go on.
//
// A failed background fsync fails the next Append and is reported through
// Options.OnSyncError. It is not retried in silence: on Linux the pages whose
// write-back failed are marked clean, so a later fsync that succeeds does
// not mean they reached the disk.
//
// Before it, the interval fsync ran inside Append under the store's lock:
// at 150k events/s it pushed out a second of appends (~110 MB) while every
// batch queued behind it, and a 256 MiB segment's seal did the same. Those
// stalls were the periodic spikes in the chain's end-to-end latency.
type flusher struct {
	wake     chan struct{} // an append crossed a write-back chunk
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// writebackChunk is how much is appended before write-back of it starts:
// large enough to keep the calls few, small next to what a second of
// appends dirties.
const writebackChunk = 8 << 20

// startFlusher runs the flusher unless every append syncs anyway.
func (s *Store) startFlusher() {
	if s.opts.Fsync == FsyncAlways {
		return
	}
	s.flush = &flusher{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go s.flushLoop()
}

// appended is told, under s.mu, that the active segment grew.
func (s *Store) appended() {
	s.unsynced = true
	if s.flush != nil && s.size-s.writebackFrom >= writebackChunk {
		select {
		case s.flush.wake <- struct{}{}:
		default: // already woken
		}
	}
}

func (s *Store) flushLoop() {
	defer close(s.flush.done)
	var tick <-chan time.Time
	if s.opts.Fsync == FsyncInterval {
		t := time.NewTicker(s.opts.FsyncInterval)
		defer t.Stop()
		tick = t.C
	}
	var reported time.Time
	for {
		sync := false
		select {
		case <-s.flush.stop:
			return
		case <-s.flush.wake:
		case <-tick:
			sync = true
		}
		s.mu.Lock()
		f, seg, from, to := s.f, s.seg, s.writebackFrom, s.size
		sync = sync && s.unsynced
		if f != nil {
			s.writebackFrom = to
		}
		if sync {
			s.unsynced = false
		}
		s.mu.Unlock()
		if f != nil && to > from {
			s.writeback(f, from, to-from)
		}
		if !sync {
			continue
		}
		var err error
		if f != nil { // else sealed with no segment opened since: only checkpoints.log may be behind
			if err = s.syncFile(f); errors.Is(err, os.ErrClosed) {
				err = nil // sealed meanwhile, and a seal syncs
			} else if err != nil {
				err = fmt.Errorf("fsync segment %d: %w", seg, err)
			}
		}
		if err == nil {
			if err = s.ckpts.Sync(); err != nil {
				err = fmt.Errorf("fsync %s: %w", CheckpointsFile, err)
			}
		}
		if err == nil {
			continue
		}
		if s.opts.OnSyncError != nil && time.Since(reported) >= 5*time.Second {
			s.opts.OnSyncError(err)
			reported = time.Now()
		}
		s.mu.Lock()
		s.unsynced = true
		s.flushErr = err
		s.mu.Unlock()
	}
}

// beginWriteback starts write-back of a range; a store takes it when
// opened, and tests replace it first to see the ranges.
var beginWriteback = startWriteback

// syncSegment is an append's fsync (the flusher's, or with fsync = "always"
// the append's own). A store takes it when opened; tests replace it first
// to count fsyncs or make them fail.
var syncSegment = (*os.File).Sync

// stopFlusher ends the flusher and waits for it; it must not hold s.mu.
func (s *Store) stopFlusher() {
	if s.flush == nil {
		return
	}
	s.flush.stopOnce.Do(func() { close(s.flush.stop) })
	<-s.flush.done
}

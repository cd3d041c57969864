package store

import (
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

func openPlain(t *testing.T, opts Options) *Store {
	t.Helper()
	opts.Dir = t.TempDir()
	st, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// eventually polls cond under the store's lock for up to two seconds.
func eventually(t *testing.T, st *Store, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st.mu.Lock()
		ok := cond()
		st.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2s: not %s", what)
		}
	}
}

func TestIntervalFsyncHappensWithoutFurtherAppends(t *testing.T) {
	var synced atomic.Int32
	swapSync(t, func(f *os.File) error { synced.Add(1); return f.Sync() })
	st := openPlain(t, Options{Fsync: FsyncInterval, FsyncInterval: 20 * time.Millisecond})
	if err := st.Append([][]byte{[]byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	if synced.Load() != 0 {
		t.Fatal("Append synced itself; with fsync = interval the flusher does")
	}
	// The last append before a quiet spell is made durable all the same.
	eventually(t, st, "synced", func() bool { return synced.Load() > 0 && !st.unsynced })
	n := synced.Load()
	time.Sleep(100 * time.Millisecond)
	if synced.Load() != n {
		t.Fatal("the flusher kept syncing with nothing appended")
	}
}

func TestFailedBackgroundFsyncFailsTheNextAppendOnce(t *testing.T) {
	failing := atomic.Bool{}
	failing.Store(true)
	swapSync(t, func(f *os.File) error {
		if failing.Load() {
			return errEIO
		}
		return f.Sync()
	})
	var reported atomic.Int32
	st := openPlain(t, Options{Fsync: FsyncInterval, FsyncInterval: 10 * time.Millisecond,
		OnWriteError: func(error) { reported.Add(1) }})
	if err := st.Append([][]byte{[]byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, st, "told of the failed fsync", func() bool { return st.flushErr != nil })
	failing.Store(false)
	err := st.Append([][]byte{[]byte(`{"a":2}`)})
	if !errors.Is(err, errEIO) || reported.Load() == 0 {
		t.Fatalf("append after a failed fsync: %v (reported %d times)", err, reported.Load())
	}
	if err := st.Append([][]byte{[]byte(`{"a":2}`)}); err != nil {
		t.Fatalf("the failure was returned more than once: %v", err)
	}
	// What the failed fsync covered is synced again once the disk recovers.
	eventually(t, st, "synced after recovery", func() bool { return !st.unsynced && st.flushErr == nil })
}

func TestWritebackFollowsAppends(t *testing.T) {
	st := openPlain(t, Options{Fsync: FsyncNever})
	line := make([]byte, 64<<10)
	for i := range line {
		line[i] = 'x'
	}
	var lines [][]byte
	for range writebackChunk/len(line) + 1 {
		lines = append(lines, line)
	}
	if err := st.Append(lines); err != nil {
		t.Fatal(err)
	}
	eventually(t, st, "written back", func() bool { return st.writebackFrom == st.size })
}

func TestCloseStopsTheFlusher(t *testing.T) {
	st := openPlain(t, Options{Fsync: FsyncInterval, FsyncInterval: time.Millisecond})
	if err := st.Append([][]byte{[]byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.flush.done:
	default:
		t.Fatal("the flusher outlived Close")
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestFsyncAlwaysRunsNoFlusher(t *testing.T) {
	st := openPlain(t, Options{Fsync: FsyncAlways})
	if st.flush != nil {
		t.Fatal("a flusher with fsync = always, where every append syncs")
	}
}

var errEIO = errors.New("input/output error")

// swapSync replaces the flusher's fsync for t; call it before opening the
// store, so that the store is closed before the fsync is restored.
func swapSync(t *testing.T, fn func(*os.File) error) {
	old := syncSegment
	syncSegment = fn
	t.Cleanup(func() { syncSegment = old })
}

package store

import (
	"errors"
	"os"
	"sync"
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
	var fails, good atomic.Int32
	fails.Store(1)
	swapSync(t, func(f *os.File) error {
		if fails.Add(-1) >= 0 {
			return errEIO
		}
		good.Add(1)
		return f.Sync()
	})
	var reported atomic.Int32
	st := openPlain(t, Options{Fsync: FsyncInterval, FsyncInterval: 10 * time.Millisecond,
		OnSyncError: func(error) { reported.Add(1) }})
	if err := st.Append([][]byte{[]byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, st, "told of the failed fsync", func() bool { return st.flushErr != nil })
	if reported.Load() != 1 {
		t.Fatalf("OnSyncError called %d times for one failure", reported.Load())
	}
	// With no further write, the flusher tries again: what it could not
	// sync is still to be synced.
	eventually(t, st, "synced again", func() bool { return good.Load() > 0 && !st.unsynced })
	if err := st.Append([][]byte{[]byte(`{"a":2}`)}); !errors.Is(err, errEIO) {
		t.Fatalf("append after a failed fsync: %v", err)
	}
	if err := st.Append([][]byte{[]byte(`{"a":2}`)}); err != nil {
		t.Fatalf("the failure was returned more than once: %v", err)
	}
}

func TestFailedBackgroundFsyncIsReturnedByClose(t *testing.T) {
	swapSync(t, func(*os.File) error { return errEIO })
	st := openPlain(t, Options{Fsync: FsyncInterval, FsyncInterval: 5 * time.Millisecond})
	if err := st.Append([][]byte{[]byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, st, "told of the failed fsync", func() bool { return st.flushErr != nil })
	if err := st.Close(); !errors.Is(err, errEIO) {
		t.Fatalf("Close after a failed fsync no Append returned: %v", err)
	}
}

func TestCheckpointsLogIsSyncedWithNoSegmentOpen(t *testing.T) {
	st := openPlain(t, Options{Fsync: FsyncInterval, FsyncInterval: 10 * time.Millisecond, Framed: true})
	if err := st.Append([][]byte{[]byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := st.Rotate("test"); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	st.unsynced = true // as after a checkpoint line, with the segment sealed before a tick
	st.mu.Unlock()
	eventually(t, st, "synced", func() bool { return !st.unsynced })
}

func TestWritebackFollowsAppends(t *testing.T) {
	type span struct{ off, n int64 }
	var mu sync.Mutex
	var spans []span
	old := beginWriteback
	beginWriteback = func(f *os.File, off, n int64) {
		mu.Lock()
		spans = append(spans, span{off, n})
		mu.Unlock()
		old(f, off, n)
	}
	t.Cleanup(func() { beginWriteback = old })
	st := openPlain(t, Options{Fsync: FsyncNever})
	line := make([]byte, 64<<10)
	for i := range line {
		line[i] = 'x'
	}
	var lines [][]byte
	for range writebackChunk/len(line) + 1 {
		lines = append(lines, line)
	}
	for range 2 {
		if err := st.Append(lines); err != nil {
			t.Fatal(err)
		}
		eventually(t, st, "written back", func() bool { return st.writebackFrom == st.size })
	}
	mu.Lock()
	defer mu.Unlock()
	var next int64
	for _, sp := range spans {
		if sp.off != next || sp.n <= 0 {
			t.Fatalf("write-back ranges %v: not one run from the segment's start", spans)
		}
		next = sp.off + sp.n
	}
	if next != st.size {
		t.Fatalf("write-back ranges %v end at %d, the segment at %d", spans, next, st.size)
	}
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

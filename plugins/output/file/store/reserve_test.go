package store

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The active segment's blocks are reserved ahead of its end while it is
// written, and whatever was not used is given back when it is sealed.
func TestSegmentSpaceReservedThenReleased(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reservation is Linux-only")
	}
	dir := t.TempDir()
	st, err := Open(Options{Dir: dir, Framed: true, SegmentSize: 64 << 20, Fsync: FsyncNever, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	lines := make([][]byte, 100)
	for i := range lines {
		lines[i] = []byte(`{"event_id":"e","event_type":"mcp_tool_execution","n":12345678901234567890}`)
	}
	if err := st.Append(lines); err != nil {
		t.Fatal(err)
	}
	allocated := func() (size, blocks int64) {
		var s syscall.Stat_t
		if err := syscall.Stat(SegmentPath(dir, 1), &s); err != nil {
			t.Fatal(err)
		}
		return s.Size, s.Blocks * 512
	}
	size, blocks := allocated()
	if st.reserved < 0 {
		t.Skip("this file system does not reserve space")
	}
	if blocks < size+reserveChunk/2 {
		t.Fatalf("while written: %d bytes, %d allocated: nothing reserved ahead", size, blocks)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	size, blocks = allocated()
	if blocks > size+64<<10 {
		t.Fatalf("sealed: %d bytes, %d allocated: the reservation was not given back", size, blocks)
	}
	if fi, _ := os.Stat(SegmentPath(dir, 1)); fi.Size() != size {
		t.Fatal("size changed")
	}
}

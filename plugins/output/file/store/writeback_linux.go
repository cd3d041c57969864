package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to disk
// and returns without waiting for it (sync_file_range, SYNC_FILE_RANGE_WRITE).
// It is only a hint: durability still comes from fsync.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	// Control holds the descriptor open for the call: the segment may be
	// sealed and closed meanwhile.
	_ = rc.Control(func(fd uintptr) { _ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE) })
}

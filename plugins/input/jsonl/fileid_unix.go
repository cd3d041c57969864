//go:build unix

package jsonl

import (
	"os"
	"syscall"
)

// identityOf names the file behind info by device and inode, which survive a
// rename: that is how a rotated file is told from its successor.
func identityOf(info os.FileInfo) fileID {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)} //nolint:unconvert // types differ by platform
	}
	return fileID{}
}

//go:build !unix

package jsonl

import "os"

// identityOf has no device/inode to offer here; files are then known by
// path alone, and a rotation is seen only as a shrinking file.
func identityOf(os.FileInfo) fileID { return fileID{} }

//go:build !linux

package atomicfile

// startWriteback does nothing where sync_file_range is not available: the
// kernel's own write-back and Commit's fsync write the data.
func startWriteback(fd uintptr, off, n int64) {}

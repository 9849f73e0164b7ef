package atomicfile

import "syscall"

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start write-out of the
// range's dirty pages without waiting for it.
const syncFileRangeWrite = 2

// startWriteback asks the kernel to start writing [off, off+n) of fd to
// disk now rather than when the dirty-page thresholds are reached, so the
// disk works while the caller computes the next bytes. It only starts I/O
// (it may wait for a free request slot, never for completion); Commit's
// fsync still makes the data durable. Errors are ignored: the range is
// written by fsync in any case.
func startWriteback(fd uintptr, off, n int64) {
	syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, fd, uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
}

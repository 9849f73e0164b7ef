package model

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// releaseMapped drops the pages of b from the process's resident set when
// b lies inside a shared mapping of a file (a memory-mapped checkpoint):
// madvise(MADV_DONTNEED) on such a mapping only unmaps the pages, which
// stay in the page cache and are read back on the next access, so the data
// is unchanged. Any other memory (heap, anonymous or private mappings) is
// left alone, as DONTNEED would discard it.
func releaseMapped(b []byte) {
	if len(b) == 0 {
		return
	}
	start := uintptrOf(b)
	end := start + uintptr(len(b))
	lo, hi, ok := fileMapping(start, end)
	if !ok {
		return
	}
	page := uintptr(os.Getpagesize())
	a := max(start&^(page-1), lo)
	z := min((end+page-1)&^(page-1), hi)
	if z > a {
		syscall.Syscall(syscall.SYS_MADVISE, a, z-a, syscall.MADV_DONTNEED)
	}
}

// fileMapping finds, in /proc/self/maps, the shared file mapping that
// contains [start, end) and returns its bounds.
func fileMapping(start, end uintptr) (lo, hi uintptr, ok bool) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 6 {
			continue
		}
		dash := bytes.IndexByte(fields[0], '-')
		if dash < 0 {
			continue
		}
		l, err1 := strconv.ParseUint(string(fields[0][:dash]), 16, 64)
		h, err2 := strconv.ParseUint(string(fields[0][dash+1:]), 16, 64)
		if err1 != nil || err2 != nil || uintptr(l) > start || uintptr(h) < end {
			continue
		}
		perms, inode := fields[1], string(fields[4])
		return uintptr(l), uintptr(h), len(perms) == 4 && perms[3] == 's' && inode != "0"
	}
	return 0, 0, false
}

// uintptrOf is the address of b's first byte.
func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

package manifest

import (
	"os"
	"syscall"
	"time"
)

// changeTime is the file's status-change time (ctime).
func changeTime(st os.FileInfo) (time.Time, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(s.Ctim.Sec, s.Ctim.Nsec), true
}

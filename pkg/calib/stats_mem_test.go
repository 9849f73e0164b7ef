package calib

import "testing"

// The candidate buffer is the memory that grows with the number of
// samples (issue #4: peak RSS at 64 samples within 10 % of 8 samples): it
// must hold keep values plus at most keep/8 (or 1024) of room, and
// buffers of mmapMinKeys keys or more must stay out of the Go heap target.
func TestCandidateBufferSlack(t *testing.T) {
	for _, n := range []int64{1, 999, 1000, 1_000_000, 113_644 * 8192, 1 << 38} {
		a, err := newAccum(n)
		if err != nil {
			t.Fatal(err)
		}
		c := a.capacity()
		if c <= a.keep || c > a.keep+max(a.keep/8, 1024) {
			t.Errorf("n=%d keep=%d: capacity %d, want (keep, keep+max(keep/8,1024)]", n, a.keep, c)
		}
	}
	if mmapMinKeys > 1<<12 {
		t.Errorf("mmapMinKeys = %d: candidate buffers of 16 KiB and more belong outside the Go heap", mmapMinKeys)
	}
}

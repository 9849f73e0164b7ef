//go:build amd64

package kernels

import (
	"testing"

	"golang.org/x/sys/cpu"
)

func TestSelectAMD64(t *testing.T) {
	want := "generic"
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		want = "avx2-fma"
	}
	if got := Impl(); got != want {
		t.Fatalf("Impl() = %q, want %q (AVX2=%v FMA=%v)", got, want, cpu.X86.HasAVX2, cpu.X86.HasFMA)
	}
	if want == "avx2-fma" && len(impls()) != 2 {
		t.Fatalf("the AVX2 implementation is not among the tested ones")
	}
}

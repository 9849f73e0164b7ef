//go:build !linux

package model

// releaseMapped is a no-op outside Linux.
func releaseMapped(b []byte) {}

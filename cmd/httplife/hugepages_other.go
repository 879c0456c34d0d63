//go:build !linux

package main

const bigCapture = 64 << 20

// prepareHeap does nothing outside Linux (see hugepages_linux.go).
func prepareHeap() {}

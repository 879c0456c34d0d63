//go:build !linux

package main

// prepareHeap does nothing outside Linux (see hugepages_linux.go).
func prepareHeap() {}

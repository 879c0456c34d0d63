//go:build !linux

package main

// preferHugePages does nothing outside Linux.
func preferHugePages(size int) {}

const hugeHeapBytes = 0

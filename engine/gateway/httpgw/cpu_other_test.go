//go:build !unix

package httpgw_test

// cpuNanos is not measured here.
func cpuNanos() int64 { return -1 }

// Package leakcheck fails a test binary whose tests leave goroutines behind.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests of m and then checks that no goroutine started by them
// is still running, waiting up to five seconds for stragglers to finish. Use
// it as the body of TestMain:
//
//	func TestMain(m *testing.M) { leakcheck.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := wait(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leakcheck: goroutines still running after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// wait returns the stacks of goroutines that are not part of the test
// runtime, once none are left or the limit passes.
func wait(limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		leaked := interesting()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Others waits up to limit for the goroutines running beside the caller
// (the test runtime's own left out) to end, and returns the stacks of those
// still running: empty when nothing else can run, and allocate, while the
// caller measures.
func Others(limit time.Duration) string { return wait(limit) }

// interesting returns the stacks of every goroutine but the caller's and the
// test runtime's.
func interesting() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if g == "" || strings.Contains(g, "leakcheck.interesting") ||
			strings.Contains(g, "testing.(*M).") || strings.Contains(g, "testing.runTests") ||
			strings.Contains(g, "signal.signal_recv") || strings.Contains(g, "runtime.ensureSigM") ||
			strings.Contains(g, "os/signal.loop") {
			continue
		}
		out = append(out, g)
	}
	return strings.Join(out, "\n\n")
}

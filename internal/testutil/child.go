package testutil

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
)

// childEnv names the role a re-executed test binary plays; see [Role].
const childEnv = "VACHANA_TEST_CHILD"

// Role returns the role this test binary was started in by [StartChild], or
// "" when it runs the tests. A TestMain that offers roles checks it first:
//
//	func TestMain(m *testing.M) {
//		if testutil.Role() == "refserver" {
//			os.Exit(serveRefserver())
//		}
//		leakcheck.Main(m)
//	}
//
// A child announces itself with one line on standard output (a URL, say)
// and runs until its standard input is closed.
func Role() string { return os.Getenv(childEnv) }

// Child is the test binary running again in another process, in a role of
// its TestMain's: a peer whose goroutines, allocations, threads and CPU are
// not charged to the process under test.
type Child struct {
	cmd      *exec.Cmd
	waitOnce sync.Once
	waitErr  error
	In       io.WriteCloser // the child's standard input; closing it asks the child to end
	Out      *bufio.Reader  // the child's standard output, after its first line
	// Line is the first line the child printed, without its newline.
	Line string
}

// StartChild starts the test binary in role and waits, up to limit, for
// the first line of its standard output. Its standard error goes to ours.
// The caller must call [Child.Stop].
func StartChild(role string, limit time.Duration) (*Child, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Child{cmd: cmd, In: in, Out: bufio.NewReader(out)}
	hung := time.AfterFunc(limit, func() { cmd.Process.Kill() })
	line, err := c.Out.ReadString('\n')
	hung.Stop()
	if err != nil {
		c.Stop()
		return nil, fmt.Errorf("testutil: the %s child printed nothing within %v: %v", role, limit, err)
	}
	c.Line = strings.TrimSpace(line)
	return c, nil
}

// Wait waits for the child to end and returns how it ended. It may be
// called more than once, and after Stop.
func (c *Child) Wait() error {
	c.waitOnce.Do(func() { c.waitErr = c.cmd.Wait() })
	return c.waitErr
}

// Stop closes the child's standard input, gives it a second to end on its
// own, then kills it, and waits for it.
func (c *Child) Stop() {
	c.In.Close()
	done := make(chan struct{})
	go func() {
		c.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// ServeUntilStdinCloses prints line on standard output and blocks until
// standard input reaches its end: the body of a child that only serves.
func ServeUntilStdinCloses(line string) {
	fmt.Println(line)
	io.Copy(io.Discard, os.Stdin)
}

// Peer starts the test binary in role (see [StartChild]), stops it when tb
// ends, and returns the line it announced itself with (its URL, say).
func Peer(tb testing.TB, role string) string {
	tb.Helper()
	c, err := StartChild(role, 30*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Stop)
	return c.Line
}

// NoAllocs fails tb unless f allocates nothing, over 200 calls. The count
// is the whole process's (testing.AllocsPerRun), so NoAllocs first
// requires that no goroutine but the caller's runs: keep the peer in
// another process ([Peer]). what names f in the message.
func NoAllocs(tb testing.TB, what string, f func()) {
	tb.Helper()
	if others := leakcheck.Others(time.Second); others != "" {
		tb.Fatalf("goroutines that could allocate during the count of %s:\n%s", what, others)
	}
	if allocs := testing.AllocsPerRun(200, f); allocs != 0 {
		tb.Fatalf("%s allocates %.1f times per call, want 0", what, allocs)
	}
}

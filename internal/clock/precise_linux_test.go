package clock

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
)

// TestKernelSleepHoldsNoThreads checks what the shared clock is for: a
// thousand goroutines in their fine sleep at once do not each hold an OS
// thread, as a nanosleep each did (measured: about 450 threads instead of
// 4). It comes first in the package: Go keeps idle threads, which sleepers
// in nanosleep would reuse before making more. The sleepers wake 500 ms in
// and are counted 400 ms in, so a busy machine that is slow to start them
// all, or to wake the counter, still counts them asleep; the bound, 8 more
// threads, is far from the fault's hundreds.
func TestKernelSleepHoldsNoThreads(t *testing.T) {
	k := newKernel(time.Second)
	before, err := testutil.Threads()
	if err != nil {
		t.Skip(err)
	}
	var wg sync.WaitGroup
	var asleep, nanosleeps atomic.Int32
	at := time.Now().Add(500 * time.Millisecond)
	for i := range 1000 {
		wg.Go(func() {
			ch := make(chan wake, 1)
			asleep.Add(1)
			if !k.sleep(waiter{at: at.Add(time.Duration(i) * time.Microsecond), early: 200 * time.Microsecond, ch: ch}) {
				nanosleeps.Add(1)
			}
		})
	}
	time.Sleep(400 * time.Millisecond) // all asleep now
	during, _ := testutil.Threads()
	late := time.Now().After(at)
	wg.Wait()
	if n := nanosleeps.Load(); n > 0 {
		t.Skipf("no timerfd for %d sleepers", n)
	}
	if late || asleep.Load() < 1000 {
		t.Skipf("the machine is too busy: %d of 1000 sleepers started by the count, which came after they woke: %v", asleep.Load(), late)
	}
	if during > before+8 {
		t.Fatalf("%d OS threads while 1000 goroutines slept, %d before: the sleepers hold threads", during, before)
	}
}

func TestKernelHeapOrder(t *testing.T) {
	var k kernel
	base := time.Now()
	var want []time.Duration
	for range 500 {
		d := time.Duration(rand.N(1000)) * time.Microsecond
		want = append(want, d)
		k.push(waiter{at: base.Add(d)})
	}
	slices.Sort(want)
	for i, w := range want {
		if got := k.pop().at.Sub(base); got != w {
			t.Fatalf("pop %d: got %v, want %v", i, got, w)
		}
	}
	if len(k.q) != 0 {
		t.Fatalf("%d waiters left", len(k.q))
	}
}

// TestKernelSleepManyWaiters has many goroutines sleep to deadlines in the
// same few milliseconds, in every order, as the pacers of many streams do:
// none may wake more than its early before its deadline (one with early 0
// not at all), every one must wake, and the leader's role must pass on
// whatever order the deadlines come in. Afterwards the clock is idle.
func TestKernelSleepManyWaiters(t *testing.T) {
	k := newKernel(time.Second)
	const goroutines, rounds = 300, 20
	var (
		mu   sync.Mutex
		late []time.Duration
		wg   sync.WaitGroup
	)
	for range goroutines {
		wg.Go(func() {
			ch := make(chan wake, 1)
			for range rounds {
				at := time.Now().Add(time.Duration(rand.N(3000)) * time.Microsecond)
				early := []time.Duration{0, 50 * time.Microsecond, 200 * time.Microsecond}[rand.N(3)]
				if !k.sleep(waiter{at: at, early: early, ch: ch}) {
					t.Error("no timerfd")
					return
				}
				if now := time.Now(); now.Before(at.Add(-early)) {
					t.Errorf("woke %v before the deadline, more than the %v allowed", at.Sub(now), early)
				}
				if len(ch) != 0 {
					t.Error("a token was left in the channel")
				}
				mu.Lock()
				late = append(late, time.Since(at))
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("sleepers did not all wake: a lost wake-up or leader")
	}
	if t.Failed() {
		return
	}
	slices.Sort(late)
	t.Logf("%d sleeps; lateness p50 %v, p99 %v, max %v", len(late), late[len(late)/2], late[len(late)*99/100], late[len(late)-1])
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.q) != 0 || k.leading {
		t.Fatalf("clock not idle after every sleeper woke: %d waiters, leading %v", len(k.q), k.leading)
	}
}

// TestKernelReleasesDescriptor checks that the timerfd is closed once
// nobody has slept on it for idle, and that the next sleep opens another.
// The only time limit is a watchdog far beyond idle.
func TestKernelReleasesDescriptor(t *testing.T) {
	const idle = 50 * time.Millisecond
	k := newKernel(idle)
	ch := make(chan wake, 1)
	if !k.sleep(waiter{at: time.Now().Add(time.Millisecond), ch: ch}) {
		t.Skip("no timerfd")
	}
	k.mu.Lock()
	fd := k.fd
	k.mu.Unlock()
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		t.Fatalf("the timerfd %d is not open after a sleep: %v", fd, err)
	}
	waitClosed := func() {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(idle / 5) {
			k.mu.Lock()
			closed := k.f == nil
			k.mu.Unlock()
			if closed {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the timerfd is still open 10 s after the last sleep (idle %v)", idle)
			}
		}
	}
	waitClosed()
	k.mu.Lock()
	opened := k.opened
	k.mu.Unlock()
	if opened != 1 {
		t.Fatalf("opened %d timerfds for one sleep", opened)
	}
	at := time.Now().Add(time.Millisecond)
	if !k.sleep(waiter{at: at, ch: ch}) {
		t.Skip("no timerfd the second time")
	}
	if time.Now().Before(at) {
		t.Fatal("a sleep on a reopened timerfd woke early")
	}
	k.mu.Lock()
	opened = k.opened
	k.mu.Unlock()
	if opened != 2 {
		t.Fatalf("opened %d timerfds, want 2: the second sleep did not reopen it", opened)
	}
	waitClosed()
}

// TestPreciseSleepUntil checks the whole Precise sleep on the real clock:
// never before t with early 0, never more than early before it otherwise,
// and cancellable while more than Span is left.
func TestPreciseSleepUntil(t *testing.T) {
	var c Precise
	ctx := context.Background()
	for i := range 20 {
		at := time.Now().Add(time.Duration(i%7) * time.Millisecond)
		if err := c.SleepUntil(ctx, at, 0); err != nil {
			t.Fatal(err)
		}
		if now := c.Now(); now.Before(at) {
			t.Fatalf("sleep %d woke %v before its deadline", i, at.Sub(now))
		}
	}
	cause := errors.New("stopped by test")
	cctx, cancel := context.WithCancelCause(ctx)
	cancel(cause)
	if err := c.SleepUntil(cctx, time.Now().Add(time.Hour), 0); !errors.Is(err, cause) {
		t.Fatalf("SleepUntil with a cancelled context = %v, want its cause", err)
	}
	if err := c.SleepUntil(cctx, time.Now().Add(-time.Second), 0); err != nil {
		t.Fatalf("SleepUntil for a past time with a cancelled context = %v, want nil", err)
	}
}

package frame

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
)

// TestFineSleepHoldsNoThreads checks what the shared clock is for: a
// thousand goroutines in their fine sleep at once do not each hold an OS
// thread, as a nanosleep each did (measured: about 450 threads instead of
// 4). It comes first in the package: Go keeps idle threads, which sleepers
// in nanosleep would reuse before making more. The sleepers wake 500 ms in
// and are counted 400 ms in, so a busy machine that is slow to start them
// all, or to wake the counter, still counts them asleep; the bound, 8 more
// threads, is far from the fault's hundreds.
func TestFineSleepHoldsNoThreads(t *testing.T) {
	if sharedClock() == nil {
		t.Skip("no timerfd: fineSleep is a nanosleep")
	}
	before, err := testutil.Threads()
	if err != nil {
		t.Skip(err)
	}
	var wg sync.WaitGroup
	var asleep atomic.Int32
	at := time.Now().Add(500 * time.Millisecond)
	for i := range 1000 {
		wg.Go(func() {
			ch := make(chan wake, 1)
			asleep.Add(1)
			fineSleep(at.Add(time.Duration(i)*time.Microsecond), ch, false)
		})
	}
	time.Sleep(400 * time.Millisecond) // all asleep now
	during, _ := testutil.Threads()
	late := time.Now().After(at)
	wg.Wait()
	if late || asleep.Load() < 1000 {
		t.Skipf("the machine is too busy: %d of 1000 sleepers started by the count, which came after they woke: %v", asleep.Load(), late)
	}
	if during > before+8 {
		t.Fatalf("%d OS threads while 1000 goroutines slept, %d before: the sleepers hold threads", during, before)
	}
}

func TestClockHeapOrder(t *testing.T) {
	var c fineClock
	base := time.Now()
	var want []time.Duration
	for range 500 {
		d := time.Duration(rand.N(1000)) * time.Microsecond
		want = append(want, d)
		c.push(waiter{at: base.Add(d)})
	}
	slices.Sort(want)
	for i, w := range want {
		if got := c.pop().at.Sub(base); got != w {
			t.Fatalf("pop %d: got %v, want %v", i, got, w)
		}
	}
	if len(c.q) != 0 {
		t.Fatalf("%d waiters left", len(c.q))
	}
}

// TestFineSleepManyWaiters has many goroutines sleep to deadlines in the
// same few milliseconds, in every order, as the pacers of many streams do:
// none may wake more than coalesce before its deadline (an exact one not at
// all), every one must wake, and the leader's
// role must pass on whatever order the deadlines come in.
func TestFineSleepManyWaiters(t *testing.T) {
	if sharedClock() == nil {
		t.Skip("no timerfd: fineSleep is a nanosleep")
	}
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
				exact := rand.N(2) == 0
				fineSleep(at, ch, exact)
				now := time.Now()
				switch {
				case exact && now.Before(at):
					t.Errorf("an exact sleep woke %v before its deadline", at.Sub(now))
				case now.Before(at.Add(-coalesce)):
					t.Errorf("woke %v before the deadline, more than the %v allowed", at.Sub(now), coalesce)
				}
				if len(ch) != 0 {
					t.Error("a token was left in the channel")
				}
				mu.Lock()
				late = append(late, now.Sub(at))
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
	slices.Sort(late)
	t.Logf("%d sleeps; lateness p50 %v, p99 %v, max %v", len(late), late[len(late)/2], late[len(late)*99/100], late[len(late)-1])
	c := sharedClock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.q) != 0 || c.leading {
		t.Fatalf("clock not idle after every sleeper woke: %d waiters, leading %v", len(c.q), c.leading)
	}
}

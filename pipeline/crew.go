package pipeline

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/clock"
)

// Many streams, few wake-ups. A paced stream in its steady state (frames
// waiting in its queue, nothing to replay, a session that can write
// without waiting: see transport.Session's SetNoWait) hands its sending
// to a crew: one of the process's crews, one per CPU (GOMAXPROCS at the
// first use), each of which sends the frames of all its streams from one
// goroutine at a time. That goroutine, the leader, is one of the streams'
// own senders, parked in the crew like the others: it sleeps until the
// first of the crew's frames is due, sends every frame then due (each up
// to the pacer's coalescing ahead of its deadline, as the clock would
// release it), and sleeps again. A frame then costs a write, not the
// wake-up of its stream's goroutine: with a thousand streams on two cores,
// that wake-up, and the scheduling that goes with it, was about a third of
// the client's CPU per frame.
//
// The crew hands a stream back to its goroutine, which goes on as before,
// whenever anything but a frame to write comes up: its queue is empty or
// closed, its session ended or has a backlog (the network did not take a
// write at once), a write failed, the run ended, progress is due. Nothing
// of a stream's work but the steady writing runs in the crew, and no
// write in it waits for the network, so one stream's service cannot hold
// up another's frames. A stream's goroutine waits while the crew holds
// it; the crews start no goroutine.
type crew struct {
	mu     sync.Mutex
	seats  []seated  // a min-heap on at
	leader *seat     // the seat whose goroutine leads; nil when none
	wakeAt time.Time // when the leader will next look at the seats (it may be woken sooner); zero while it does
	clk    clock.Precise

	sent     int64 // frames the crew wrote, for tests
	backlogs int64 // streams handed back for a backlog, for tests
}

// seat is a stream while a crew holds it. The crew hands it back, or the
// leader's role, by a word on back.
type seat struct {
	s    *sender
	sess *session
	ctx  context.Context
	back chan crewWord

	at    time.Time     // when its next frame may leave
	early time.Duration // up to this much before at, with another seat's
	err   error         // a write's error, when the crew handed it back for one
}

// seated is a seat in the heap, with its at beside it, so that ordering
// the heap reads no seat.
type seated struct {
	at time.Time
	st *seat
}

type crewWord uint8

const (
	crewBack crewWord = iota + 1 // the seat is the goroutine's again
	crewLead                     // the goroutine leads the crew now; its seat stays
)

var crews struct {
	once sync.Once
	all  []*crew
	next atomic.Uint32
}

// pickCrew returns the crew for a new sender, in turn.
func pickCrew() *crew {
	crews.once.Do(func() {
		crews.all = make([]*crew, runtime.GOMAXPROCS(0))
		for i := range crews.all {
			crews.all[i] = new(crew)
		}
	})
	return crews.all[int(crews.next.Add(1))%len(crews.all)]
}

// canRide reports whether s's stream is in the steady state a crew sends:
// paced frames one at a time, from the queue, none to replay.
func (s *sender) canRide() bool {
	return s.pacer != nil && s.unit == 1 && s.cursor == s.live && !s.filling && !s.eof && !s.noRide && s.cursor >= s.rideAt && len(s.r.full) > 0
}

// refusedWait is how many frames a stream the crew refused sends itself
// before it asks again: its deadlines keep their phase to the leader's, so
// asking at every frame would cost each frame a refusal.
const refusedWait = 8

// ride hands the stream to its crew and returns once the crew has handed
// it back, having left the session's no-wait mode (under the watchdog w:
// that write may wait for the network) and returned the error of a write
// the crew made, if one failed. It does nothing if the stream is not in
// the steady state, or its session cannot write without waiting, or the
// crew's leader will look at the seats later than the stream's next frame
// is due (the stream sends that frame itself and tries again).
func (s *sender) ride(ctx context.Context, sess *session, w *watchdog) error {
	if !s.canRide() {
		return nil
	}
	st := &s.seat
	*st = seat{s: s, sess: sess, ctx: ctx, back: st.back}
	if st.back == nil {
		st.back = make(chan crewWord, 1)
	}
	_, st.at, st.early = s.pacer.Due()
	w.arm(time.Now()) // (entering waits for a write that waits for the network)
	ok, err := sess.SetNoWait(true)
	if w.disarm() {
		return &StallError{Frame: s.cursor, After: s.r.o.StallTimeout}
	}
	if err != nil {
		return fmt.Errorf("writing frame %d: %w", s.cursor, err) // the connection is gone
	}
	if !ok {
		s.noRide = true // this session cannot: the goroutine sends, as without crews
		return nil
	}
	c := s.crew
	lead, joined := c.join(st)
	if !joined {
		s.rideAt = s.cursor + refusedWait
		return s.leaveNoWait(sess, w, nil)
	}
	if lead || <-st.back == crewLead {
		c.lead(st)
	}
	return s.leaveNoWait(sess, w, st.err)
}

// leaveNoWait ends the session's no-wait mode, writing its backlog under
// the watchdog, and returns err, the error of the crew's last write, if
// any, or else that of the backlog's.
func (s *sender) leaveNoWait(sess *session, w *watchdog, err error) error {
	w.arm(time.Now())
	_, ferr := sess.SetNoWait(false)
	if w.disarm() {
		return &StallError{Frame: s.cursor, After: s.r.o.StallTimeout}
	}
	if err != nil {
		return err
	}
	if ferr != nil {
		return fmt.Errorf("writing frame %d: %w", s.cursor, ferr)
	}
	return nil
}

// join seats st, as the leader if the crew has none, and reports whether
// it did: not when the leader will look at the seats only after st's frame
// is due.
func (c *crew) join(st *seat) (lead, joined bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader != nil && !c.wakeAt.IsZero() && st.at.Before(c.wakeAt) {
		return false, false
	}
	c.push(st)
	if c.leader == nil {
		c.leader = st
		return true, true
	}
	return false, true
}

// lead sends the crew's frames as they come due, until self's stream is
// handed back; the role then passes to another seat's goroutine, if any.
// Each time, it sends the frames due, earliest deadline first, each up to
// its early before its deadline, and then sleeps until the earliest
// deadline left, which another sleeper of the process may bring forward by
// that one's early.
func (c *crew) lead(self *seat) {
	c.mu.Lock()
	for {
		now := time.Now()
		selfBack := false
		for len(c.seats) > 0 {
			st := c.seats[0].st
			if now.Before(st.at.Add(-st.early)) {
				break
			}
			back, wrote := st.s.step(st)
			if wrote {
				c.sent++
			}
			if back && st.sess.Backlog() {
				c.backlogs++
			}
			if !back {
				_, st.at, st.early = st.s.pacer.Due()
				c.seats[0].at = st.at
				c.down(0)
				continue
			}
			c.pop()
			if st == self {
				selfBack = true
			} else {
				st.back <- crewBack
			}
		}
		if selfBack {
			c.leader = nil
			if len(c.seats) > 0 {
				c.leader = c.seats[0].st
				c.leader.back <- crewLead
			}
			c.wakeAt = time.Time{}
			c.mu.Unlock()
			return
		}
		next, early := c.seats[0].at, c.seats[0].st.early // self is seated
		c.wakeAt = next
		c.mu.Unlock()
		c.clk.SleepUntil(context.Background(), next, early)
		c.mu.Lock()
		c.wakeAt = time.Time{}
	}
}

func (c *crew) push(st *seat) {
	c.seats = append(c.seats, seated{st.at, st})
	for i := len(c.seats) - 1; i > 0; {
		p := (i - 1) / 2
		if !c.seats[i].at.Before(c.seats[p].at) {
			break
		}
		c.seats[i], c.seats[p] = c.seats[p], c.seats[i]
		i = p
	}
}

func (c *crew) pop() {
	n := len(c.seats) - 1
	c.seats[0] = c.seats[n]
	c.seats[n] = seated{}
	c.seats = c.seats[:n]
	c.down(0)
}

// down restores the heap below i, whose seat's at may have grown.
func (c *crew) down(i int) {
	q := c.seats
	for {
		m, l, r := i, 2*i+1, 2*i+2
		if l < len(q) && q[l].at.Before(q[m].at) {
			m = l
		}
		if r < len(q) && q[r].at.Before(q[m].at) {
			m = r
		}
		if m == i {
			return
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
}

// step sends st's next frame, which is due, and reports whether to hand
// the stream back instead, or after it: see crew.
func (s *sender) step(st *seat) (back, wrote bool) {
	sess := st.sess
	if st.ctx.Err() != nil || sess.Backlog() {
		return true, false
	}
	select {
	case <-sess.gone:
		return true, false
	default:
	}
	var buf *frame.Frame
	select {
	case buf = <-s.r.full:
		if buf == nil {
			return true, false // closed: the goroutine sees it again
		}
	default:
		return true, false // nothing yet: the goroutine waits for it
	}
	f, _ := s.take(buf)
	now := time.Now() // (not the leader's: the frames before it took their time)
	s.pacer.Release(now)
	s.mark(now)
	err := sess.WriteAudio(f[:])
	if s.held != nil {
		s.release(s.held)
		s.held = nil
	}
	if err != nil {
		st.err = fmt.Errorf("writing frame %d: %w", s.cursor, err)
		return true, false
	}
	s.wrote(sess, 1)
	s.cursor++
	s.high = max(s.high, s.cursor)
	progress := s.r.o.OnProgress != nil && now.Sub(s.tick) >= 500*time.Millisecond // (called by the stream's goroutine)
	return progress || sess.Backlog(), true
}

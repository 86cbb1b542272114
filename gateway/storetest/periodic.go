package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// periodicCounter counts the jobs it ran per ref; while hold is open the
// job of ref "held" waits for it to close.
type periodicCounter struct {
	mu      sync.Mutex
	ran     map[string]int
	hold    chan struct{}
	started chan struct{}
}

// HandleJob implements gateway.JobHandler.
func (c *periodicCounter) HandleJob(ctx context.Context, j gateway.Job, _ gateway.JobMeta) error {
	if j.Ref == "held" {
		select {
		case c.started <- struct{}{}:
		default:
		}
		select {
		case <-c.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ran[string(j.Kind)+"/"+j.Ref]++
	return nil
}

func (c *periodicCounter) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ran[key]
}

// testPeriodicJobs checks the queue's periodic and exclusive jobs: a kind
// registered with Every runs round after round (registered twice, it is
// scheduled once), an exclusive job queued again while one is unfinished
// is dropped but can be queued once it completed, and the core's sweep of
// expired records runs as a periodic job.
func testPeriodicJobs(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	c := &periodicCounter{ran: map[string]int{}, hold: make(chan struct{}), started: make(chan struct{}, 1)}
	const round, item gateway.JobKind = "test-round", "test-item"
	e.svc.HandleJobKind(round, c)
	e.svc.HandleJobKind(item, c)
	for _, every := range []time.Duration{time.Hour, 30 * time.Millisecond} {
		if err := e.svc.Every(round, every); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.Every(gateway.JobSweepExpired, 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Every(round, 0); err == nil {
		t.Error("Every accepted a zero interval")
	}
	if ps := e.svc.PeriodicJobs(); len(ps) != 2 || ps[0] != (gateway.Periodic{Kind: round, Every: 30 * time.Millisecond}) {
		t.Fatalf("periodic jobs = %+v, want the round once (30ms) and the sweep", ps)
	}
	now := e.clock.Now()
	if err := e.store.Update(e.ctx, func(tx gateway.Tx) error {
		_, err := tx.InsertDocument(e.ctx, gateway.Document{Kind: "session", ID: "old", Version: 1, Updated: now, Expires: now.Add(time.Second), Body: []byte(`{}`)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)

	e.startWorkers()
	e.waitFor("three periodic rounds", func() bool { return c.count(string(round)+"/") >= 3 })
	e.waitFor("the periodic sweep", func() bool {
		err := e.store.View(e.ctx, func(tx gateway.Tx) error { _, err := tx.Document(e.ctx, "session", "old"); return err })
		return err != nil
	})

	held := gateway.Job{Kind: item, Ref: "held", Exclusive: true}
	if err := e.svc.EnqueueJobs(e.ctx, held); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.started:
	case <-time.After(15 * time.Second):
		t.Fatal("the held job never started")
	}
	for range 3 { // while it runs, more of the same are dropped
		if err := e.svc.EnqueueJobs(e.ctx, held); err != nil {
			t.Fatal(err)
		}
	}
	close(c.hold)
	e.waitFor("the held job", func() bool { return c.count(string(item)+"/held") >= 1 })
	// Give any wrongly queued duplicate the time to run: an unrelated job
	// queued after them runs only once they were fetched.
	if err := e.svc.EnqueueJobs(e.ctx, gateway.Job{Kind: item, Ref: "marker"}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the marker job", func() bool { return c.count(string(item)+"/marker") == 1 })
	if n := c.count(string(item) + "/held"); n != 1 {
		t.Errorf("exclusive job ran %d times, want once: the copies queued while it ran are dropped", n)
	}
	// Once the run is recorded as completed, the same job may be queued
	// again (until then another try is dropped).
	e.waitFor("the held job queued again after it completed", func() bool {
		if err := e.svc.EnqueueJobs(e.ctx, held); err != nil {
			t.Fatal(err)
		}
		return c.count(string(item)+"/held") >= 2
	})
}

// heldRounds counts the rounds it ran, and among them the requested ones
// (a RequestRound job names its request in Ref; a periodic round has
// none). It holds the first periodic round until holdPeriodic is closed,
// and the next requested round after holdOne is set until holdOne is
// closed; afterMark counts the requested rounds that started once mark
// was set.
type heldRounds struct {
	mu              sync.Mutex
	ran, items      int
	requested       int
	afterMark       int
	mark            bool
	periodicHeld    bool
	holdPeriodic    chan struct{}
	periodicStarted chan struct{}
	holdOne         chan struct{}
	oneStarted      chan struct{}
}

// HandleJob implements gateway.JobHandler.
func (h *heldRounds) HandleJob(ctx context.Context, j gateway.Job, _ gateway.JobMeta) error {
	h.mu.Lock()
	if j.Kind == "test-item" {
		h.items++
		h.mu.Unlock()
		return nil
	}
	h.ran++
	var wait chan struct{}
	switch {
	case j.Ref == "" && !h.periodicHeld:
		h.periodicHeld, wait = true, h.holdPeriodic
		close(h.periodicStarted)
	case j.Ref != "":
		h.requested++
		if h.mark {
			h.afterMark++
		}
		if h.holdOne != nil {
			wait, h.holdOne = h.holdOne, nil
			close(h.oneStarted)
		}
	}
	h.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (h *heldRounds) counts() (requested, items, afterMark int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requested, h.items, h.afterMark
}

// testRequestRound checks Service.RequestRound: requests made before a
// round starts share one round, and a round asked for while the same
// kind's round runs starts after the request instead of being merged into
// the running one. (Requested rounds may run beside a periodic one, so
// requests made one after another while workers run may each get a round
// of their own: a round that started between two requests has counted
// itself, and the later request must not be merged into it.)
func testRequestRound(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	const round, item gateway.JobKind = "test-round", "test-item"
	c := &heldRounds{holdPeriodic: make(chan struct{}), periodicStarted: make(chan struct{})}
	e.svc.HandleJobKind(round, c)
	e.svc.HandleJobKind(item, c)
	if err := e.svc.Every(round, time.Hour); err != nil { // one round as the leader is elected
		t.Fatal(err)
	}
	// Requests made before any round started share one round.
	for range 3 {
		if err := e.svc.RequestRound(e.ctx, round); err != nil {
			t.Fatal(err)
		}
	}
	e.startWorkers()
	select {
	case <-c.periodicStarted:
	case <-time.After(15 * time.Second):
		t.Fatal("the start-up round never ran")
	}
	e.waitFor("the requested round", func() bool { n, _, _ := c.counts(); return n >= 1 })
	close(c.holdPeriodic)
	// Give any wrongly queued extra round the time to run: a job queued
	// after it runs only once it was fetched.
	if err := e.svc.EnqueueJobs(e.ctx, gateway.Job{Kind: item, Ref: "marker"}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the marker job", func() bool { _, n, _ := c.counts(); return n == 1 })
	if n, _, _ := c.counts(); n != 1 {
		t.Errorf("%d requested rounds ran, want 1: the three requests made before any round started share one", n)
	}

	// A request made while a round runs gets a round that starts after it.
	c.mu.Lock()
	hold, started := make(chan struct{}), make(chan struct{})
	c.holdOne, c.oneStarted = hold, started
	c.mu.Unlock()
	if err := e.svc.RequestRound(e.ctx, round); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(15 * time.Second):
		t.Fatal("the requested round never ran")
	}
	c.mu.Lock()
	c.mark = true
	c.mu.Unlock()
	if err := e.svc.RequestRound(e.ctx, round); err != nil {
		t.Fatal(err)
	}
	close(hold)
	e.waitFor("a round started after the request made while one ran", func() bool { _, _, n := c.counts(); return n >= 1 })
}

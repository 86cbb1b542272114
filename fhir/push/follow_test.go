package push

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/pgstore/pgtest"
)

// TestFollowJobsRetryAndApplyTheReceiversMove follows through the queue:
// a round queues a job for the pushed referral, whose read of the
// receiver's Task fails twice (503) and is retried with backoff until the
// receiver's move is applied, once.
func TestFollowJobsRetryAndApplyTheReceiversMove(t *testing.T) {
	rc := newReceiver(t)
	ch := rc.channel()
	svc := newServiceWith(t, ch, rc.entry(), func(svc *gateway.Service) {
		if err := ch.Follow(svc, time.Hour, nil); err != nil {
			t.Fatal(err)
		}
	})
	r := submit(t, svc, "org-ortho")
	before, d := waitDelivery(t, svc, r.ID, gateway.DeliveryDelivered)
	rc.mu.Lock()
	rc.down = 2
	rc.mu.Unlock()
	rc.edit(d.RemoteID, func(m map[string]any) { m["status"] = "accepted" })
	got := roundsUntil(t, svc, r.ID, gateway.StatusAccepted)
	if got.Version != before.Version+1 {
		t.Errorf("version %d after following, want %d: the move applied once", got.Version, before.Version+1)
	}
	rc.mu.Lock()
	down := rc.down
	rc.mu.Unlock()
	if down != 0 {
		t.Errorf("the receiver still had %d failures to give: the follow did not retry through them", down)
	}
}

// roundsUntil asks for a follow round and waits until the referral
// reaches status. One request is enough: the round it queues starts after
// it, even when the round River runs at start-up is still running and
// listed the referrals before the one under test was delivered.
func roundsUntil(t *testing.T, svc *gateway.Service, id string, status gateway.Status) *gateway.Referral {
	t.Helper()
	if err := svc.RequestRound(context.Background(), JobFollowRound); err != nil {
		t.Fatal(err)
	}
	return waitStatus(t, svc, id, status)
}

// heldRound runs the follow round it wraps, then, on the first round
// only, tells started and waits for release before finishing: a round
// that has listed the referrals and is still running.
type heldRound struct {
	next    gateway.JobHandler
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

// HandleJob implements gateway.JobHandler.
func (h *heldRound) HandleJob(ctx context.Context, j gateway.Job, meta gateway.JobMeta) error {
	err := h.next.HandleJob(ctx, j, meta)
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.started)
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

// TestFollowRoundRequestedWhileOneRuns: a round asked for while another
// runs, which listed the referrals before the receiver's change, is not
// merged into the running one; a round starts after the request and
// applies the change (the next periodic round is an hour away).
func TestFollowRoundRequestedWhileOneRuns(t *testing.T) {
	rc := newReceiver(t)
	ch := rc.channel()
	held := &heldRound{started: make(chan struct{}), release: make(chan struct{})}
	svc := newServiceWith(t, ch, rc.entry(), func(svc *gateway.Service) {
		if err := ch.Follow(svc, time.Hour, nil); err != nil {
			t.Fatal(err)
		}
		held.next = &follower{ch: ch, svc: svc, log: slog.New(slog.DiscardHandler)}
		svc.HandleJobKind(JobFollowRound, held)
	})
	released := false
	release := func() {
		if !released {
			released = true
			close(held.release)
		}
	}
	t.Cleanup(release)
	select { // the round River runs as the leader is elected
	case <-held.started:
	case <-time.After(15 * time.Second):
		t.Fatal("the start-up follow round never ran")
	}
	r := submit(t, svc, "org-ortho")
	before, d := waitDelivery(t, svc, r.ID, gateway.DeliveryDelivered)
	rc.edit(d.RemoteID, func(m map[string]any) { m["status"] = "accepted" })
	if err := svc.RequestRound(t.Context(), JobFollowRound); err != nil {
		t.Fatal(err)
	}
	release()
	got := waitStatus(t, svc, r.ID, gateway.StatusAccepted)
	if got.Version != before.Version+1 {
		t.Errorf("version %d after following, want %d", got.Version, before.Version+1)
	}
}

// waitStatus polls until the referral reaches status.
func waitStatus(t *testing.T, svc *gateway.Service, id string, status gateway.Status) *gateway.Referral {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, _, err := svc.Referral(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == status {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("referral %s never reached %s (at %s)", id, status, r.Status)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for work
	}
}

// TestFollowOncePerRoundAcrossNodes runs two gateways on one PostgreSQL
// schema, both following pushed referrals: the queue's leader queues the
// round, so the receiver's Task is read once per round, not once per node,
// and its move is applied once.
func TestFollowOncePerRoundAcrossNodes(t *testing.T) {
	url := pgtest.FreshSchema(t, "gwtest_")
	ctx := t.Context()
	rc := newReceiver(t)
	var (
		stores []gateway.Store
		svcs   []*gateway.Service
		chs    []*Channel
	)
	sealer, err := gateway.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	// A leader queues a round as it is elected. Elections are counted from
	// River's own log: a leader change during the test (a reelection
	// that failed under load) rightly queues another round.
	elections := &electionCounter{}
	q := testQueue
	q.Logger = slog.New(elections)
	for range 2 {
		s, err := pgstore.Open(ctx, url, q)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ch := rc.channel()
		stores, chs = append(stores, s), append(chs, ch)
		svcs = append(svcs, gateway.NewService(s, sealer, gateway.SystemClock{}, gateway.DefaultConfig(), nil, ch))
	}
	admin := gateway.Actor{ID: "user:admin"}
	for _, e := range []*gateway.Entry{{ID: "org-north", Kind: gateway.KindOrganization, Name: "North (synthetic)"}, rc.entry()} {
		if _, err := svcs[0].PutEntry(ctx, admin, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svcs[0].VerifyEntry(ctx, admin, "org-ortho", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs[0].SetBAA(ctx, admin, gateway.BAAChange{PartyID: "org-ortho", State: gateway.BAAActive, Start: time.Now(), End: time.Now().AddDate(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	stop := func(s gateway.Store) {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.StopWorkers(sctx)
	}

	// Deliver with the first node alone, not following yet.
	if err := stores[0].StartWorkers(ctx, svcs[0]); err != nil {
		t.Fatal(err)
	}
	r := submit(t, svcs[0], "org-ortho")
	before, d := waitDelivery(t, svcs[0], r.ID, gateway.DeliveryDelivered)
	stop(stores[0])
	electedBefore := elections.count()
	rc.edit(d.RemoteID, func(m map[string]any) { m["status"] = "accepted" })

	// Both nodes follow, every hour: the leader queues one round as it is
	// elected, and no node queues its own.
	for i, s := range stores {
		if err := chs[i].Follow(svcs[i], time.Hour, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.StartWorkers(ctx, svcs[i]); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stop(s) })
	}
	got := waitStatus(t, svcs[1], r.ID, gateway.StatusAccepted)
	if got.Version != before.Version+1 {
		t.Errorf("version %d after following, want %d: the move applied once", got.Version, before.Version+1)
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(15 * time.Second)
	for count(`SELECT count(*) FROM river_job WHERE kind = 'edge' AND state <> 'completed'`) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("follow jobs never finished")
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for work
	}
	rounds := count(`SELECT count(*) FROM river_job WHERE kind = 'edge' AND args->>'kind' = $1`, string(JobFollowRound))
	follows := count(`SELECT count(*) FROM river_job WHERE kind = 'edge' AND args->>'kind' = $1 AND args->>'ref' = $2`, string(JobFollowReferral), r.ID)
	// Elections since the nodes started following (the first node's
	// election while it delivered alone queued no round: it did not follow).
	elected := elections.count() - electedBefore
	if elected < 1 {
		t.Fatalf("no leader election seen in River's log (%d rounds); has River's log message changed?", rounds)
	}
	if rounds < 1 || rounds > elected || follows != rounds {
		t.Errorf("%d rounds and %d follow jobs for the referral across two nodes with %d leader election(s), want one of each per election",
			rounds, follows, elected)
	}
	if n := rc.readCount(d.RemoteID); n != rounds {
		t.Errorf("the receiver's Task was read %d times in %d round(s), want once per round", n, rounds)
	}
	final, _, err := svcs[0].Referral(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.Version != before.Version+1 || final.Status != gateway.StatusAccepted {
		t.Errorf("referral v%d %s at the end, want v%d accepted", final.Version, final.Status, before.Version+1)
	}
}

// electionCounter is a slog.Handler that counts River's "Gained
// leadership" lines and drops everything else.
type electionCounter struct{ n atomic.Int64 }

func (c *electionCounter) count() int { return int(c.n.Load()) }

func (c *electionCounter) Enabled(context.Context, slog.Level) bool { return true }

func (c *electionCounter) Handle(_ context.Context, r slog.Record) error {
	if strings.HasSuffix(r.Message, "Gained leadership") {
		c.n.Add(1)
	}
	return nil
}

func (c *electionCounter) WithAttrs([]slog.Attr) slog.Handler { return c }

func (c *electionCounter) WithGroup(string) slog.Handler { return c }

// TestFollowReadsOpaqueVersionIDs: a version id is an opaque FHIR id, and
// receivers such as cloud FHIR stores issue ones that are not numbers; the
// follow must still read the receiver's Task and apply its move.
func TestFollowReadsOpaqueVersionIDs(t *testing.T) {
	rc := newReceiver(t)
	ch := rc.channel()
	svc := newServiceWith(t, ch, rc.entry(), func(svc *gateway.Service) {
		if err := ch.Follow(svc, time.Hour, nil); err != nil {
			t.Fatal(err)
		}
	})
	r := submit(t, svc, "org-ortho")
	_, d := waitDelivery(t, svc, r.ID, gateway.DeliveryDelivered)
	rc.edit(d.RemoteID, func(m map[string]any) {
		m["status"] = "accepted"
		m["meta"] = map[string]any{"versionId": "MTc0MTkwNjAwMDAwMDAwMDAwMA", "lastUpdated": "2026-03-02T09:05:00Z"}
	})
	roundsUntil(t, svc, r.ID, gateway.StatusAccepted)
}

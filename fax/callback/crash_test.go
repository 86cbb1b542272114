package callback_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referralgw/gateway/fax/faxsim"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
)

// crashingStore lets a set number of transactions commit and then dies:
// the next transaction does its work and is rolled back, as when the
// process is killed before COMMIT reaches the database, and every one after
// fails until the test restarts it.
type crashingStore struct {
	gateway.Store
	budget atomic.Int64 // commits left before the crash; -1: no crash planned
	dead   atomic.Bool
}

var errCrash = errors.New("test: process killed")

func newCrashingStore() *crashingStore {
	s := &crashingStore{}
	s.budget.Store(-1)
	return s
}

// crashAfter plans the crash after n more commits.
func (s *crashingStore) crashAfter(n int64) { s.budget.Store(n) }

// restart brings the process back.
func (s *crashingStore) restart() {
	s.budget.Store(-1)
	s.dead.Store(false)
}

func (s *crashingStore) Update(ctx context.Context, fn func(gateway.Tx) error) error {
	if s.dead.Load() {
		return errCrash
	}
	for {
		b := s.budget.Load()
		if b < 0 {
			return s.Store.Update(ctx, fn)
		}
		if b > 0 {
			if s.budget.CompareAndSwap(b, b-1) {
				return s.Store.Update(ctx, fn)
			}
			continue
		}
		s.dead.Store(true)
		return s.Store.Update(ctx, func(tx gateway.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			return errCrash
		})
	}
}

// TestCrashBetweenCallbackVerificationAndCommit posts a verified success
// callback and kills the gateway after 0, 1 and 2 of the commits its
// handling makes. After the restart the vendor retries: whatever the
// crash point, the receipt is applied exactly once, never taken for a
// replay of a callback whose receipt was lost.
func TestCrashBetweenCallbackVerificationAndCommit(t *testing.T) {
	for commits := range int64(3) {
		t.Run(fmt.Sprintf("after %d commits", commits), func(t *testing.T) {
			cs := newCrashingStore()
			// The emulator's own callback waits for an hour: the test posts it.
			e := newEnv(t, options{callbackDelay: time.Hour, wrapStore: func(s gateway.Store) gateway.Store { cs.Store = s; return cs }})
			r := e.create(t, false)
			var d *gateway.Delivery
			eventually(t, "the fax sent and recorded", func() bool {
				_, ds := e.referral(t, r.ID)
				d = ds[0]
				return d.State == gateway.DeliverySent && d.RemoteID != ""
			})
			f := e.faxesFor(d.ID)[0]
			form := callbackForm(f, phaxio.StatusSuccess)
			sig := phaxio.SignCallback(e.callback, form, nil, token)

			cs.crashAfter(commits)
			code, _ := e.post(t, form, sig)
			crashed := cs.dead.Load()
			cs.restart()
			if crashed && code == http.StatusOK {
				// Answering 200 is right only if the receipt committed.
				if rr, _ := e.referral(t, r.ID); rr.Status != gateway.StatusReceived {
					t.Fatalf("answered 200 but the receipt was lost (referral %s)", rr.Status)
				}
			}
			// The vendor retries (twice, to be sure a replay is recognised).
			for i := range 2 {
				if code, _ := e.post(t, form, sig); code != http.StatusOK {
					t.Fatalf("retry %d after the crash: status %d, want 200", i+1, code)
				}
			}
			rr, ds := e.referral(t, r.ID)
			if rr.Status != gateway.StatusReceived || ds[0].State != gateway.DeliveryDelivered {
				t.Fatalf("after the retries: referral %s, delivery %s; want received and delivered", rr.Status, ds[0].State)
			}
			trail := e.trail(t, clinicID)
			if n := count(trail, "delivery.delivered", "delivery", d.ID); n != 1 {
				t.Errorf("delivery.delivered audited %d times, want 1", n)
			}
			if n := count(trail, "fax.callback", "delivery", d.ID, "receipt", string(gateway.ReceiptFaxSuccess)); n != 1 {
				t.Errorf("applied callback audited %d times, want 1", n)
			}
		})
	}
}

// TestLostCallbackIsPolled loses every callback, as when the gateway is
// down while the vendor posts them: the poll job asks the vendor for the
// fax's status and records the receipt long before the deadline.
func TestLostCallbackIsPolled(t *testing.T) {
	e := newEnv(t, options{pollEvery: 50 * time.Millisecond})
	e.lose.Store(true)
	r := e.create(t, false)
	_, ds := e.waitReceived(t, r.ID)
	d := ds[0]
	if d.State != gateway.DeliveryDelivered || len(d.Receipts) == 0 || !strings.HasPrefix(d.Receipts[len(d.Receipts)-1].Detail, "polled") {
		t.Fatalf("delivery %s with receipts %+v; want delivered by a polled receipt", d.State, d.Receipts)
	}
	var f faxsim.Fax
	eventually(t, "the emulator's callback posted", func() bool {
		f = e.faxesFor(d.ID)[0]
		return len(f.Callbacks) > 0
	})
	if f.Callbacks[0].StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("the emulator's callback was not lost: %+v", f.Callbacks)
	}
	if e.statusGets.Load() == 0 {
		t.Fatal("no status request reached the vendor")
	}
}

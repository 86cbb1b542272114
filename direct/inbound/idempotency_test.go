package inbound_test

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/referralgw/gateway/direct/inbound"
	"github.com/referralgw/gateway/direct/smtpin"
)

// flakySpool fails the first Remove, as a crash right after processing
// committed would leave the message in the spool.
type flakySpool struct {
	*smtpin.DirSpool
	failed atomic.Bool
}

func (s *flakySpool) Remove(id string) error {
	if s.failed.CompareAndSwap(false, true) {
		return errors.New("simulated crash before removal")
	}
	return s.DirSpool.Remove(id)
}

// TestProcessedOnce: a message whose removal from the spool failed is not
// applied a second time on the next pass.
func TestProcessedOnce(t *testing.T) {
	a, b := pair(t)
	seedA(t, a, b)
	seedB(t, b)
	spool := &flakySpool{DirSpool: b.spool}
	proc, err := inbound.New(inbound.Config{Service: b.svc, Spool: spool, Dir: filepath.Join(t.TempDir(), "direct"),
		Channel: b.ch, CRLs: crls(a, b)})
	if err != nil {
		t.Fatal(err)
	}
	create(t, a)
	eventually(t, "message spooled at B", func() bool {
		ids, err := b.spool.List()
		return err == nil && len(ids) == 1
	})
	st, err := proc.ProcessOnce(t.Context())
	if err == nil || st.Failed != 1 {
		t.Fatalf("first pass: %+v %v, want the removal failure", st, err)
	}
	st, err = proc.ProcessOnce(t.Context())
	if err != nil || st.Processed != 1 {
		t.Fatalf("second pass: %+v %v", st, err)
	}
	if ids, _ := b.spool.List(); len(ids) != 0 {
		t.Fatalf("spool still holds %v", ids)
	}
	trail := b.actions(t, "cardio-b")
	if n := countAction(trail, "direct.inbound-stored"); n != 1 {
		t.Errorf("stored %d times", n)
	}
	if n := countAction(trail, "direct.mdn-sent"); n != 2 {
		t.Errorf("%d MDNs sent, want 2", n)
	}
	if items, _ := proc.Inbox().List(); len(items) != 1 {
		t.Errorf("inbox: %+v", items)
	}
}

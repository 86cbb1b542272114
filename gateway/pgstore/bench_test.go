package pgstore_test

import (
	"testing"

	"github.com/referralgw/gateway/gateway/storetest"
)

// BenchmarkCreateAndQueue measures creating a referral, passing its gates
// and queuing its first delivery in one transaction (the outbox), on
// PostgreSQL.
func BenchmarkCreateAndQueue(b *testing.B) {
	storetest.BenchCreateAndQueue(b, OpenFresh(b, storetest.FastQueue()))
}

// BenchmarkCreateAndQueueAppRole is BenchmarkCreateAndQueue as the app
// role, so every statement passes the row-level security policies; the
// difference to BenchmarkCreateAndQueue is their cost.
func BenchmarkCreateAndQueueAppRole(b *testing.B) {
	s, _ := openAppRole(b, storetest.FastQueue())
	storetest.BenchCreateAndQueue(b, s)
}

func BenchmarkSequencer(b *testing.B) {
	storetest.BenchSequencer(b, OpenFresh(b, storetest.FastQueue()))
}

// BenchmarkSequencerAppRole is BenchmarkSequencer as the app role, as
// production runs it: the policies and the tree-node check's lookups pass
// row-level security.
func BenchmarkSequencerAppRole(b *testing.B) {
	s, _ := openAppRole(b, storetest.FastQueue())
	storetest.BenchSequencer(b, s)
}

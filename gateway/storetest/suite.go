package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// Harness is what a store's test supplies to the suite.
type Harness struct {
	// Open returns a new, empty, migrated store; the harness closes it in
	// t.Cleanup.
	Open func(t *testing.T) gateway.Store
	// Tamper changes the audit row (tenant, seq) behind the store's back,
	// as a database superuser could.
	Tamper func(t *testing.T, s gateway.Store, tenant string, seq int64)
}

// FastQueue is a queue configuration for tests: quick polls and retries.
// A running job's heartbeats come every RescueAfter/4 (500 ms); the 1.5 s
// left before a rescue is slack for a heartbeat held up on a busy store
// (the embedded store has one connection), which would otherwise hand a
// live send to a second worker and break the tests' exact send counts.
func FastQueue() sqlstore.QueueConfig {
	return sqlstore.QueueConfig{MaxWorkers: 4, FetchPollInterval: 20 * time.Millisecond, MaxAttempts: 5,
		RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond, JobTimeout: 20 * time.Second, RescueAfter: 2 * time.Second}
}

// Run runs the whole conformance suite.
func Run(t *testing.T, h Harness) {
	t.Run("DirectoryAndVersions", func(t *testing.T) { testDirectory(t, h) })
	t.Run("DeliverEndToEnd", func(t *testing.T) { testDeliver(t, h) })
	t.Run("Metrics", func(t *testing.T) { testMetrics(t, h) })
	t.Run("Gates", func(t *testing.T) { testGates(t, h) })
	t.Run("BAAGateAtSendTime", func(t *testing.T) { testBAAAtSendTime(t, h) })
	t.Run("Fallback", func(t *testing.T) { testFallback(t, h) })
	t.Run("RetryThenDeliver", func(t *testing.T) { testRetry(t, h) })
	t.Run("RetryAfterIsHonoured", func(t *testing.T) { testRetryAfter(t, h) })
	t.Run("CancelMidSendCompletesOnce", func(t *testing.T) { testCancelMidSend(t, h) })
	t.Run("ReceiptDeadline", func(t *testing.T) { testDeadline(t, h) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, h) })
	t.Run("SubmitAtVersion", func(t *testing.T) { testSubmitAtVersion(t, h) })
	t.Run("AtomicUpdate", func(t *testing.T) { testAtomic(t, h) })
	t.Run("ListAndPage", func(t *testing.T) { testList(t, h) })
	t.Run("AuditTamper", func(t *testing.T) { testTamper(t, h) })
	t.Run("EdgeAggregation", func(t *testing.T) { testEdgeAggregation(t, h) })
	t.Run("EdgeAggregationForAReferral", func(t *testing.T) { testEdgeAggregationForAReferral(t, h) })
	t.Run("EdgeAggregationManySources", func(t *testing.T) { testEdgeAggregationManySources(t, h) })
	t.Run("WitnessedTamper", func(t *testing.T) { testWitnessedTamper(t, h) })
	t.Run("SequencerBatches", func(t *testing.T) { testSequencerBatches(t, h) })
	t.Run("Documents", func(t *testing.T) { testDocuments(t, h) })
	t.Run("RetryableReceipt", func(t *testing.T) { testRetryableReceipt(t, h) })
	t.Run("ReceiptBeforeSendRecorded", func(t *testing.T) { testReceiptBeforeSendRecorded(t, h) })
	t.Run("DatabaseOutage", func(t *testing.T) { testDatabaseOutage(t, h) })
	t.Run("CrashedJobResumes", func(t *testing.T) { testCrashedJobResumes(t, h) })
	t.Run("CrashedRescueResumes", func(t *testing.T) { testCrashedRescueResumes(t, h) })
	t.Run("ReceiptForQueuedDelivery", func(t *testing.T) { testReceiptForQueuedDelivery(t, h) })
	t.Run("ProgressReceiptForQueuedDelivery", func(t *testing.T) { testProgressReceiptForQueuedDelivery(t, h) })
	t.Run("HeartbeatKeepsLongSend", func(t *testing.T) { testHeartbeatKeepsLongSend(t, h) })
	t.Run("ReceiptKeys", func(t *testing.T) { testReceiptKeys(t, h) })
	t.Run("ComplianceReceipt", func(t *testing.T) { testComplianceReceipt(t, h) })
	t.Run("ComplianceReceiptProofs", func(t *testing.T) { testComplianceReceiptProofs(t, h) })
	t.Run("ReverseReferral", func(t *testing.T) { testReverse(t, h) })
	t.Run("TokenSearch", func(t *testing.T) { testTokenSearch(t, h) })
	t.Run("RecordByID", func(t *testing.T) { testRecordByID(t, h) })
	t.Run("EdgeJobs", func(t *testing.T) { testEdgeJobs(t, h) })
	t.Run("PeriodicJobs", func(t *testing.T) { testPeriodicJobs(t, h) })
	t.Run("RequestRound", func(t *testing.T) { testRequestRound(t, h) })
	t.Run("DirectoryRound", func(t *testing.T) { testDirectoryRound(t, h) })
	t.Run("RoundCountFromOlderDocuments", func(t *testing.T) { testRoundCountFromOlderDocuments(t, h) })
	t.Run("Subscriptions", func(t *testing.T) { testSubscriptions(t, h) })
	t.Run("AdoptSubscriptionDocuments", func(t *testing.T) { testAdoptSubscriptionDocuments(t, h) })
	t.Run("EntryChecks", func(t *testing.T) { testEntryChecks(t, h) })
	t.Run("EntryCheckKeepsOtherChannels", func(t *testing.T) { testEntryCheckKeepsOtherChannels(t, h) })
	t.Run("PracticeReport", func(t *testing.T) { testPracticeReport(t, h) })
	t.Run("RequestForInformation", func(t *testing.T) { testRequestForInformation(t, h) })
	t.Run("Inbound", func(t *testing.T) { testInbound(t, h) })
	t.Run("SealedAtRest", func(t *testing.T) { testSealedAtRest(t, h) })
	t.Run("KeyRotationUnderLoad", func(t *testing.T) { testKeyRotationUnderLoad(t, h) })
	t.Run("SealLegacyRows", func(t *testing.T) { testSealLegacyRows(t, h) })
	t.Run("SealingThroughWrappers", func(t *testing.T) { testSealingThroughWrappers(t, h) })
}

// env is one test's wiring.
type env struct {
	t      *testing.T
	ctx    context.Context
	store  gateway.Store
	svc    *gateway.Service
	clock  *ManualClock
	fhir   *RecordingChannel
	direct *RecordingChannel
	admin  gateway.Actor
}

func newEnv(t *testing.T, h Harness, fhir, direct Behavior) *env {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := gateway.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return newEnvWith(t, h.Open(t), sealer, fhir, direct)
}

// newEnvWith is newEnv over an open store with the given keys.
func newEnvWith(t *testing.T, store gateway.Store, sealer *gateway.Sealer, fhir, direct Behavior) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{t: t, ctx: ctx, store: store, clock: NewManualClock(time.Now()),
		fhir: NewRecordingChannel(gateway.ChannelFHIR, fhir), direct: NewRecordingChannel(gateway.ChannelDirect, direct),
		admin: gateway.Actor{ID: "user:admin"}}
	e.svc = gateway.NewService(store, sealer, e.clock, gateway.DefaultConfig(), nil, e.fhir, e.direct)
	e.seed()
	return e
}

// startWorkers runs the queue until the test ends.
func (e *env) startWorkers() {
	e.t.Helper()
	if err := e.store.StartWorkers(e.ctx, e.svc); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.store.StopWorkers(ctx)
	})
}

// seed creates two practices, a specialist on the platform with Direct as
// its second channel, all verified and under active BAAs.
func (e *env) seed() {
	e.t.Helper()
	e.put(&gateway.Entry{ID: "clinic-a", Kind: gateway.KindOrganization, Name: "Synthetic Family Clinic", NPI: "1234567893"})
	e.put(&gateway.Entry{ID: "cardio-b", Kind: gateway.KindOrganization, Name: "Synthetic Cardiology", OnPlatform: true,
		FHIR:   &gateway.FHIREndpoint{BaseURL: "https://ehr.cardio-b.example/fhir"},
		Direct: &gateway.DirectEndpoint{Address: "intake@direct.cardio-b.example"}})
	e.put(&gateway.Entry{ID: "dr-heart", Kind: gateway.KindPractitioner, Name: "Dr. Test Heart", ParentID: "cardio-b", OnPlatform: true,
		FHIR:   &gateway.FHIREndpoint{BaseURL: "https://ehr.cardio-b.example/fhir"},
		Direct: &gateway.DirectEndpoint{Address: "heart@direct.cardio-b.example"}})
	if _, err := e.svc.VerifyEntry(e.ctx, e.admin, "cardio-b", "phone call"); err != nil {
		e.t.Fatal(err)
	}
	e.baa("cardio-b", gateway.BAAActive, e.clock.Now().AddDate(1, 0, 0))
}

func (e *env) put(en *gateway.Entry) {
	e.t.Helper()
	if _, err := e.svc.PutEntry(e.ctx, e.admin, en); err != nil {
		e.t.Fatalf("put entry %s: %v", en.ID, err)
	}
}

func (e *env) baa(party string, st gateway.BAAState, end time.Time) {
	e.t.Helper()
	if _, err := e.svc.SetBAA(e.ctx, e.admin, gateway.BAAChange{PartyID: party, State: st, End: end}); err != nil {
		e.t.Fatalf("BAA %s → %s: %v", party, st, err)
	}
}

// referral returns a valid treatment referral from clinic-a to dr-heart.
func referral() gateway.NewReferral {
	return gateway.NewReferral{
		Requester:  gateway.Requester{OrgID: "clinic-a", Name: "Dr. Synthetic Primary", NPI: "1234567893"},
		ReceiverID: "dr-heart",
		Patient:    gateway.Patient{ID: "MRN-0001", FamilyName: "Testpatient", GivenName: "Alex", BirthDate: "1970-01-01"},
		Reason:     gateway.Coding{System: "http://snomed.info/sct", Code: "49436004", Display: "Atrial fibrillation"},
		ReasonText: "Palpitations for three weeks; please evaluate.",
		Priority:   gateway.PriorityRoutine,
		Consent:    gateway.ConsentRef{Kind: gateway.ConsentTreatment},
		Records:    []gateway.NewRecord{{Title: "ECG summary", ContentType: "text/plain", Content: []byte("Sinus rhythm with episodes of AF.")}},
		Submit:     true,
	}
}

func (e *env) create(n gateway.NewReferral) *gateway.Referral {
	e.t.Helper()
	r, err := e.svc.CreateReferral(e.ctx, gateway.Actor{ID: "user:referrer", OrgID: n.Requester.OrgID}, n)
	if err != nil {
		e.t.Fatalf("create referral: %v", err)
	}
	return r
}

// waitFor polls until cond holds or the deadline passes.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("timed out waiting for %s", what)
}

func (e *env) status(id string) gateway.Status {
	e.t.Helper()
	r, _, err := e.svc.Referral(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r.Status
}

func (e *env) deliveries(id string) []*gateway.Delivery {
	e.t.Helper()
	_, ds, err := e.svc.Referral(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ds
}

// verify checks every chain and returns the report.
func (e *env) verify() audit.Report {
	e.t.Helper()
	rep, err := audit.Verify(e.store.AuditEntries(e.ctx, gateway.AuditQuery{}))
	if err != nil {
		e.t.Fatal(err)
	}
	return rep
}

// actions lists the audit actions recorded for a referral in one tenant.
func (e *env) actions(tenant, referralID string) []string {
	e.t.Helper()
	var out []string
	for en, err := range e.store.AuditEntries(e.ctx, gateway.AuditQuery{Tenant: tenant, ReferralID: referralID}) {
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, en.Action)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func as[T error](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}

package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// keyStore is what a SQL store offers for key management.
type keyStore interface {
	gateway.Store
	Backend() sqlstore.Backend
	DataKeyCounts(ctx context.Context) (map[string]int, error)
	RewrapDataKeys(ctx context.Context, k *gateway.Sealer, actor string) (int, error)
	SealLegacyRows(ctx context.Context, actor string) (int, error)
}

// rawColumns are the columns read back raw to look for plaintext: every
// table the core writes PHI-bearing rows to, each column of it.
var rawColumns = map[string]string{
	"referrals":          "id, requester_org, identifier, receiver_id, receiver_org, patient_id, patient_identifier_idx, birth_date_idx, status, business_status, doc",
	"referral_versions":  "referral_id, version, doc",
	"consents":           "id, tenant, patient_id, kind, doc",
	"deliveries":         "id, referral_id, channel, state, remote_id, doc",
	"record_contents":    "referral_id, record_id, content_type, sha256, sealed",
	"documents":          "kind, id, doc",
	"audit_log":          "tenant, actor, referral_id, action, outcome, detail",
	"data_keys":          "id, kek_id, wrapped",
	"fhir_subscriptions": "id, org_id, client_id, status, criteria_param, criteria_org, error, channel, sent",
	"inbound_messages":   "id, sender, message_id, content_hash, state, tenant, doc, raw_sealed, summary_sealed",
}

// rawDump reads every column of rawColumns as the database holds it.
func rawDump(t *testing.T, s keyStore) []byte {
	t.Helper()
	ctx := t.Context()
	// Gateway-wide, so row-level security (an app-role store) hides nothing.
	btx, err := s.Backend().Begin(gateway.GatewayWide(ctx, gateway.PathKeys), true)
	if err != nil {
		t.Fatal(err)
	}
	defer btx.Rollback(ctx)
	var out bytes.Buffer
	for table, cols := range rawColumns {
		n := strings.Count(cols, ",") + 1
		rows, err := btx.Query(ctx, "SELECT "+cols+" FROM "+table)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		for rows.Next() {
			vals := make([]any, n)
			ptrs := make([]any, n)
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("dump %s: %v", table, err)
			}
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					out.Write(v)
				default:
					fmt.Fprint(&out, v)
				}
				out.WriteByte('|')
			}
		}
		rows.Close()
	}
	return out.Bytes()
}

// testSealedAtRest writes PHI through every path of the core and reads
// the rows back raw: no PHI value may appear, and the blind indexes must
// still find the referral by patient identifier and birth date.
func testSealedAtRest(t *testing.T, h Harness) {
	e := newEnv(t, h, Behavior{}, Behavior{})
	ks, ok := e.store.(keyStore)
	if !ok {
		t.Skip("store has no raw access")
	}
	canary := func(field string) string { return "Cnry" + field + "Zq" }
	n := referral()
	n.Submit = false
	n.Patient = gateway.Patient{ID: canary("Mrn"), System: "urn:oid:2.16.840.1.113883.19.5", FamilyName: canary("Family"),
		GivenName: canary("Given"), BirthDate: "1931-07-14", Gender: "unknown"}
	n.ReasonText = "Patient " + canary("Reason") + " needs review."
	n.Records = []gateway.NewRecord{{Title: canary("Title"), ContentType: "text/plain", Content: []byte(canary("Body"))}}
	n.Consent = gateway.ConsentRef{Kind: gateway.ConsentTreatment}
	r := e.create(n)
	if _, err := e.svc.CaptureConsent(e.ctx, e.admin, gateway.ConsentRecord{Tenant: "clinic-a", PatientID: canary("Mrn"),
		Kind: gateway.ConsentAuthorization, Signed: e.clock.Now(), Recipients: []string{"cardio-b"}, Purposes: []string{"TREAT"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Update(e.ctx, func(tx gateway.Tx) error {
		return tx.PutDocument(e.ctx, gateway.Document{Kind: "test-inbox", ID: "m1", Version: 1, Updated: e.clock.Now(),
			Body: []byte(`{"subject":"` + canary("Doc") + `"}`)})
	}); err != nil {
		t.Fatal(err)
	}

	// A FHIR subscription: its endpoint, headers (the receiver's
	// credentials) and the client's reason.
	if _, err := e.svc.CreateSubscription(gateway.WithPractice(e.ctx, "clinic-a"), gateway.Subscription{OrgID: "clinic-a",
		ClientID: "ehr-a", Status: gateway.SubscriptionRequested, Reason: canary("SubReason"),
		Criteria: gateway.SubscriptionCriteria{Param: "requester", OrgID: "clinic-a"},
		Endpoint: "https://ehr.example/" + canary("Endpoint"), Header: []string{"Authorization: Bearer " + canary("Header")},
		Delivery: gateway.SubscriptionDelivery{Start: e.clock.Now(), Cursor: e.clock.Now()}}, 0); err != nil {
		t.Fatal(err)
	}
	// A received message as it came in, and the summary processing keeps
	// of it (subject, attachment names).
	m, _, err := e.svc.ReceiveInbound(e.ctx, gateway.NewInbound{Channel: gateway.ChannelDirect, Received: e.clock.Now(),
		MailFrom: "sender@direct.example", RcptTo: []string{"intake@direct.cardio-b.example"}, MessageID: "phi@direct.example",
		Raw: []byte("Subject: " + canary("Raw") + "\r\n\r\nbody")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ApplyInbound(e.ctx, m.ID, gateway.InboundOutcome{State: gateway.InboundQuarantined, Kind: "message",
		Applied: "quarantined", Reason: "test", Summary: &gateway.InboundSummary{Subject: canary("Subject"),
			Attachments: []gateway.InboundAttachment{{Name: canary("Attachment") + ".pdf", ContentType: "application/pdf", Size: 1}}}}); err != nil {
		t.Fatal(err)
	}

	dump := rawDump(t, ks)
	if !bytes.Contains(dump, []byte(m.ID)) || !bytes.Contains(dump, []byte("ehr-a")) {
		t.Fatal("the raw dump misses the received message or the subscription")
	}
	for _, f := range []string{"Mrn", "Family", "Given", "Reason", "Title", "Body", "Doc",
		"SubReason", "Endpoint", "Header", "Raw", "Subject", "Attachment"} {
		if bytes.Contains(dump, []byte(canary(f))) {
			t.Errorf("the %s canary is stored in clear", f)
		}
	}
	for _, clear := range []string{"1931-07-14"} {
		if bytes.Contains(dump, []byte(clear)) {
			t.Errorf("%q is stored in clear", clear)
		}
	}

	// Everything still reads back, and the blind indexes search.
	got, _, err := e.svc.Referral(e.ctx, r.ID)
	if err != nil || got.Patient.FamilyName != canary("Family") {
		t.Fatalf("read back: %+v, %v", got, err)
	}
	contents, err := e.svc.RecordContents(e.ctx, got)
	if err != nil || len(contents) != 1 || string(contents[0].Content) != canary("Body") {
		t.Fatalf("record content: %v", err)
	}
	other := referral()
	other.Submit = false
	other.Patient.BirthDate = "1931-07-15"
	e.create(other)
	for _, tt := range []struct {
		name string
		q    gateway.ReferralQuery
		want int
	}{
		{"identifier value, any system", gateway.ReferralQuery{InvolvesOrg: "clinic-a", Patient: &gateway.Token{Value: canary("Mrn"), AnySystem: true}}, 1},
		{"identifier with its system", gateway.ReferralQuery{InvolvesOrg: "clinic-a", Patient: &gateway.Token{System: "urn:oid:2.16.840.1.113883.19.5", Value: canary("Mrn")}}, 1},
		{"identifier with another system", gateway.ReferralQuery{InvolvesOrg: "clinic-a", Patient: &gateway.Token{System: "urn:oid:2.16.840.1.113883.19.6", Value: canary("Mrn")}}, 0},
		{"identifier without a system", gateway.ReferralQuery{InvolvesOrg: "clinic-a", Patient: &gateway.Token{Value: canary("Mrn")}}, 0},
		{"identifier of nobody", gateway.ReferralQuery{InvolvesOrg: "clinic-a", Patient: &gateway.Token{Value: canary("Nobody"), AnySystem: true}}, 0},
		{"birth date", gateway.ReferralQuery{InvolvesOrg: "clinic-a", BirthDate: "1931-07-14"}, 1},
		{"next day", gateway.ReferralQuery{InvolvesOrg: "clinic-a", BirthDate: "1931-07-15"}, 1},
		{"another date", gateway.ReferralQuery{InvolvesOrg: "clinic-a", BirthDate: "1931-07-16"}, 0},
		{"identifier and date", gateway.ReferralQuery{InvolvesOrg: "clinic-a", Patient: &gateway.Token{Value: canary("Mrn"), AnySystem: true}, BirthDate: "1931-07-15"}, 0},
	} {
		list, err := e.svc.ListReferrals(gateway.WithPractice(e.ctx, "clinic-a"), tt.q)
		if err != nil || len(list) != tt.want {
			t.Errorf("search by %s: %d results, %v; want %d", tt.name, len(list), err, tt.want)
		}
	}
	consents, err := func() (out []gateway.ConsentRecord, err error) {
		err = e.store.View(gateway.WithPractice(e.ctx, "clinic-a"), func(tx gateway.Tx) error {
			out, err = tx.Consents(e.ctx, "clinic-a", canary("Mrn"))
			return err
		})
		return out, err
	}()
	if err != nil || len(consents) != 1 || consents[0].PatientID != canary("Mrn") {
		t.Errorf("consents by patient: %+v, %v", consents, err)
	}
}

// testKeyRotationUnderLoad rotates the KEK while referrals are created and
// delivered, by several "processes" each with its own data key: nothing is
// lost, every data key ends up under the new KEK, and a gateway holding
// only the new KEK reads every referral, record and delivery.
func testKeyRotationUnderLoad(t *testing.T, h Harness) {
	store := h.Open(t)
	ks, ok := store.(keyStore)
	if !ok {
		t.Skip("store has no key management")
	}
	key := func() []byte { k := make([]byte, 32); rand.Read(k); return k }
	kek1, kek2, index := key(), key(), key()
	keyring := func(cur []byte, retired ...[]byte) *gateway.Sealer {
		s, err := gateway.NewKeyring(cur, retired, index)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// processKeys are the keys of one gateway process: it starts with the
	// old KEK and, like a gateway re-reading its key files, learns the new
	// one when it meets a data key wrapped by it.
	var rotated atomic.Bool
	processKeys := func() *gateway.Sealer {
		k := keyring(kek1)
		k.SetKEKSource(func() ([]byte, [][]byte, error) {
			if rotated.Load() {
				return kek2, [][]byte{kek1}, nil
			}
			return kek1, nil, nil
		})
		return k
	}
	e := newEnvWith(t, store, processKeys(), Behavior{}, Behavior{})
	e.startWorkers()

	const writers, perWriter = 4, 8
	var (
		mu      sync.Mutex
		created []string
		wg      sync.WaitGroup
		errs    = make(chan error, writers)
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each writer is a gateway process of its own: its own keys
			// object, so its own data key.
			svc := gateway.NewService(store, processKeys(), e.clock, gateway.DefaultConfig(), nil, e.fhir, e.direct)
			for i := range perWriter {
				n := referral()
				n.Identifier = fmt.Sprintf("ROT-%d-%d", w, i)
				n.Records[0].Content = []byte(fmt.Sprintf("note %d-%d", w, i))
				r, err := svc.CreateReferral(e.ctx, gateway.Actor{ID: "user:referrer", OrgID: "clinic-a"}, n)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				created = append(created, r.ID)
				mu.Unlock()
			}
		}()
	}
	rotator := keyring(kek2, kek1)
	rotated.Store(true) // the new KEK file is in place before the first rewrap
	rotations := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case err := <-errs:
			t.Fatalf("writer: %v", err)
		default:
		}
		if _, err := ks.RewrapDataKeys(e.ctx, rotator, "user:keyadmin"); err != nil {
			t.Fatalf("rotate under load: %v", err)
		}
		rotations++
	}
	select {
	case err := <-errs:
		t.Fatalf("writer: %v", err)
	default:
	}
	// Data keys written after the last pass are wrapped by the old KEK;
	// one more pass takes them.
	if _, err := ks.RewrapDataKeys(e.ctx, rotator, "user:keyadmin"); err != nil {
		t.Fatal(err)
	}
	counts, err := ks.DataKeyCounts(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts[gateway.KEKID(kek2)] < writers {
		t.Fatalf("data keys per KEK after rotation: %v; want all (at least %d) under the new KEK only", counts, writers)
	}

	// Deliveries finish, then a gateway holding only the new KEK reads it all.
	e.waitFor("every referral delivered", func() bool {
		list, err := e.svc.ListReferrals(gateway.WithPractice(e.ctx, "clinic-a"), gateway.ReferralQuery{Statuses: []gateway.Status{gateway.StatusRequested}})
		return err == nil && len(list) == 0
	})
	fresh := gateway.NewService(store, keyring(kek2), e.clock, gateway.DefaultConfig(), nil, e.fhir, e.direct)
	all, err := fresh.ListReferrals(gateway.WithPractice(e.ctx, "clinic-a"), gateway.ReferralQuery{})
	if err != nil {
		t.Fatalf("list with the new KEK only: %v", err)
	}
	if len(all) != writers*perWriter || len(created) != writers*perWriter {
		t.Fatalf("%d referrals stored, %d created; want %d", len(all), len(created), writers*perWriter)
	}
	for _, id := range created {
		r, ds, err := fresh.Referral(e.ctx, id)
		if err != nil || len(ds) == 0 {
			t.Fatalf("referral %s with the new KEK only: %v (%d deliveries)", id, err, len(ds))
		}
		contents, err := fresh.RecordContents(e.ctx, r)
		if err != nil || len(contents) != 1 || !strings.HasPrefix(string(contents[0].Content), "note ") {
			t.Fatalf("record of %s with the new KEK only: %v", id, err)
		}
		if _, err := fresh.ReferralVersions(e.ctx, id); err != nil {
			t.Fatalf("versions of %s: %v", id, err)
		}
	}
	t.Logf("%d rotation passes ran during the load", rotations)
}

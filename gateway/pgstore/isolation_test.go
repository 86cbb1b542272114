package pgstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/pgstore/pgtest"
	"github.com/referralgw/gateway/gateway/sqlstore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// world is two practices (north and south), each referring to a third
// (east), and south referring to north: the shared referral both see.
type world struct {
	ctx     context.Context
	s       *sqlstore.Store
	appURL  string // the schema as the app role
	owner   string // the schema as its owner
	svc     *gateway.Service
	clock   *storetest.ManualClock
	refA    *gateway.Referral // north → east
	refB    *gateway.Referral // south → east
	refBA   *gateway.Referral // south → north (shared)
	dA, dB  *gateway.Delivery // refA's and refB's deliveries
	remoteB string            // dB's remote id
}

// practiceTables are the tables row-level security keeps per practice.
var practiceTables = []string{"referrals", "referral_versions", "record_contents", "deliveries", "consents",
	"audit_log", "audit_tree_nodes", "audit_signed_heads", "baas", "inbound_messages", "inbound_notices", "receipt_keys",
	"fhir_subscriptions"}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldAt(t, pgtest.FreshSchema(t, "gwtest_"))
}

// newWorldAt builds the world in the schema ownerURL reaches as its owner,
// migrated there, and works it as a fresh app role.
func newWorldAt(t *testing.T, ownerURL string) *world {
	t.Helper()
	appURL := pgtest.AppRole(t, ownerURL)
	s, err := pgstore.Open(t.Context(), appURL, storetest.FastQueue())
	if err != nil {
		t.Fatalf("open as app role: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := gateway.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{ctx: t.Context(), s: s, appURL: appURL, owner: ownerURL, clock: storetest.NewManualClock(time.Now())}
	w.svc = gateway.NewService(s, sealer, w.clock, gateway.DefaultConfig(), nil,
		storetest.NewRecordingChannel(gateway.ChannelFHIR, storetest.Behavior{}))
	admin := gateway.Actor{ID: "user:root"}
	for _, e := range []*gateway.Entry{
		{ID: "north", Kind: gateway.KindOrganization, Name: "Synthetic North Clinic", OnPlatform: true,
			FHIR: &gateway.FHIREndpoint{BaseURL: "https://ehr.north.example/fhir"}},
		{ID: "south", Kind: gateway.KindOrganization, Name: "Synthetic South Clinic"},
		{ID: "east", Kind: gateway.KindOrganization, Name: "Synthetic East Cardiology", OnPlatform: true,
			FHIR: &gateway.FHIREndpoint{BaseURL: "https://ehr.east.example/fhir"}},
		{ID: "west", Kind: gateway.KindOrganization, Name: "Synthetic West Clinic"},
		{ID: "faxco", Kind: gateway.KindVendor, Name: "Synthetic Fax Vendor", VendorRole: "fax"},
	} {
		if _, err := w.svc.PutEntry(w.ctx, admin, e); err != nil {
			t.Fatalf("put %s: %v", e.ID, err)
		}
	}
	for _, id := range []string{"north", "east"} {
		if _, err := w.svc.VerifyEntry(w.ctx, admin, id, "phone call"); err != nil {
			t.Fatal(err)
		}
	}
	for _, party := range []string{"north", "south", "east", "faxco"} {
		if _, err := w.svc.SetBAA(w.ctx, admin, gateway.BAAChange{PartyID: party, State: gateway.BAAActive,
			End: w.clock.Now().AddDate(1, 0, 0)}); err != nil {
			t.Fatalf("BAA %s: %v", party, err)
		}
	}
	for _, p := range []string{"north", "south"} {
		if _, err := w.svc.CaptureConsent(w.ctx, gateway.Actor{ID: "user:" + p, OrgID: p}, gateway.ConsentRecord{Tenant: p,
			PatientID: "MRN-" + p, Kind: gateway.ConsentAuthorization, Signed: w.clock.Now(), Recipients: []string{"east"}}); err != nil {
			t.Fatalf("consent %s: %v", p, err)
		}
	}
	// A FHIR subscription per practice: north shares referrals with south
	// and east (below), none with west.
	for _, p := range []string{"north", "south", "east", "west"} {
		if _, err := w.svc.CreateSubscription(gateway.WithPractice(w.ctx, p), gateway.Subscription{OrgID: p, ClientID: "ehr-" + p,
			Status: gateway.SubscriptionActive, Criteria: gateway.SubscriptionCriteria{Param: "owner", OrgID: p},
			Endpoint: "https://ehr." + p + ".example/hook", Delivery: gateway.SubscriptionDelivery{Start: w.clock.Now(), Cursor: w.clock.Now()}}, 0); err != nil {
			t.Fatalf("subscription of %s: %v", p, err)
		}
	}
	w.refA = w.create(t, "north", "east", "N-1")
	w.refB = w.create(t, "south", "east", "S-1")
	w.refBA = w.create(t, "south", "north", "S-2")
	// Give south's delivery a remote id, as a channel would on sending.
	sys := gateway.GatewayWide(w.ctx, "test-seed")
	if err := s.Update(sys, func(tx gateway.Tx) error {
		ds, err := tx.Deliveries(sys, w.refB.ID)
		if err != nil || len(ds) != 1 {
			return fmt.Errorf("south's deliveries: %v %v", ds, err)
		}
		w.dB, w.remoteB = ds[0], "remote-south-1"
		w.dB.RemoteID = w.remoteB
		if err := tx.UpdateDelivery(sys, w.dB); err != nil {
			return err
		}
		if ds, err = tx.Deliveries(sys, w.refA.ID); err != nil || len(ds) != 1 {
			return fmt.Errorf("north's deliveries: %v %v", ds, err)
		}
		w.dA = ds[0]
		// A receipt key per delivery, and a received message with its
		// notice per practice.
		for _, d := range []*gateway.Delivery{w.dA, w.dB} {
			if _, err := tx.InsertReceiptKey(sys, d.ID, "fax:1/success", w.clock.Now(), w.clock.Now().Add(time.Hour)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	btx, err := s.Backend().Begin(sys, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"north", "south"} {
		if _, err := btx.Exec(sys, `INSERT INTO inbound_messages (id, channel, received_at, sender, message_id, content_hash, state, tenant,
			version, updated_at, doc, raw_sealed) VALUES ($1, 'direct', now(), 'x@direct.example', $1, $1, 'received', $2, 1, now(), '{}', '\x00')`,
			"in-"+p, p); err != nil {
			t.Fatal(err)
		}
		if _, err := btx.Exec(sys, `INSERT INTO inbound_notices (id, inbound_id, state, created_at, updated_at, doc)
			VALUES ($1, $2, 'queued', now(), now(), '{}')`, "notice-"+p, "in-"+p); err != nil {
			t.Fatal(err)
		}
	}
	if err := btx.Commit(sys); err != nil {
		t.Fatal(err)
	}
	// Sequence the trail and sign every practice's tree (the app role's
	// sequencer, on its named path).
	skey, _, err := audit.GenerateSigningKey("gw.test")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := audit.NewSigner(skey)
	s.ConfigureAudit(sqlstore.AuditConfig{Signer: signer})
	if n, err := s.PublishAudit(w.ctx); err != nil || n == 0 {
		t.Fatalf("published %d checkpoints: %v", n, err)
	}
	return w
}

// create makes a submitted referral with one record; from acts for itself.
func (w *world) create(t *testing.T, from, to, identifier string) *gateway.Referral {
	t.Helper()
	r, err := w.svc.CreateReferral(w.ctx, gateway.Actor{ID: "user:" + from, OrgID: from}, gateway.NewReferral{
		Identifier: identifier, Requester: gateway.Requester{OrgID: from, Name: "Dr. Synthetic " + from},
		ReceiverID: to, Patient: gateway.Patient{ID: "MRN-" + from, FamilyName: "Testpatient"},
		Reason:  gateway.Coding{System: "http://snomed.info/sct", Code: "49436004"},
		Consent: gateway.ConsentRef{Kind: gateway.ConsentTreatment},
		Records: []gateway.NewRecord{{Title: "Letter", ContentType: "text/plain", Content: []byte("synthetic letter")}},
		Submit:  true,
	})
	if err != nil {
		t.Fatalf("referral %s → %s: %v", from, to, err)
	}
	if r.Status != gateway.StatusRequested {
		t.Fatalf("referral %s → %s is %s (blocked: %s)", from, to, r.Status, r.Blocked)
	}
	return r
}

// view runs fn in a read transaction of ctx's scope.
func (w *world) view(t *testing.T, ctx context.Context, fn func(tx gateway.Tx) error) {
	t.Helper()
	if err := w.s.View(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

// count runs SELECT count(*) on table in ctx's scope, straight on the
// backend: what a query that forgot its WHERE would see.
func (w *world) count(t *testing.T, ctx context.Context, table, where string, args ...any) int {
	t.Helper()
	btx, err := w.s.Backend().Begin(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer btx.Rollback(ctx)
	var n int
	q := "SELECT count(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	if err := btx.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func notFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("as north, %s: %v, want not found", what, err)
	}
}

func ids(rs []*gateway.Referral) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	slices.Sort(out)
	return out
}

// TestIsolationMatrix runs every store method as practice north against
// south's rows, and the same reads with no practice, on PostgreSQL as the
// app role: nothing of south's is returned, counted or changed.
func TestIsolationMatrix(t *testing.T) {
	w := newWorld(t)
	asA := gateway.WithPractice(w.ctx, "north")
	asB := gateway.WithPractice(w.ctx, "south")
	recB := w.refB.Records[0]
	seeA := []string{w.refA.ID, w.refBA.ID}
	slices.Sort(seeA)

	t.Run("reads", func(t *testing.T) {
		w.view(t, asA, func(tx gateway.Tx) error {
			_, err := tx.Referral(asA, w.refB.ID, false)
			notFound(t, "Referral", err)
			_, err = tx.ReferralByIdentifier(asA, "south", "S-1")
			notFound(t, "ReferralByIdentifier", err)
			_, err = tx.ReferralVersion(asA, w.refB.ID, 1)
			notFound(t, "ReferralVersion", err)
			if vs, err := tx.ReferralVersions(asA, w.refB.ID); err != nil || len(vs) != 0 {
				t.Errorf("ReferralVersions: %d, %v", len(vs), err)
			}
			for _, q := range []gateway.ReferralQuery{{}, {RequesterOrg: "south"}, {InvolvesOrg: "south"}, {ReceiverOrg: "east"},
				{IDs: []string{w.refB.ID}}, {DeliveredOn: gateway.ChannelFHIR}} {
				list, err := tx.ListReferrals(asA, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, id := range ids(list) {
					if !slices.Contains(seeA, id) {
						t.Errorf("ListReferrals(%+v) returned %s", q, id)
					}
				}
			}
			if all, _ := tx.ListReferrals(asA, gateway.ReferralQuery{}); !slices.Equal(ids(all), seeA) {
				t.Errorf("north lists %v, want its own and the shared one %v", ids(all), seeA)
			}
			rep, err := tx.PracticeReport(asA, gateway.ReportQuery{Practice: "south", From: w.clock.Now().Add(-time.Hour),
				To: w.clock.Now().Add(time.Hour), Now: w.clock.Now(), OpenOlderThan: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			// Only the referral south sent to north itself is in it.
			if rep.Cross != 1 || rep.Intra != 0 || len(rep.Sent) != 1 || rep.Sent[0].Count != 1 {
				t.Errorf("PracticeReport of south counts %d cross, %d intra, sent %+v", rep.Cross, rep.Intra, rep.Sent)
			}
			_, err = tx.ReferralPractice(asA, w.refB.ID)
			notFound(t, "ReferralPractice", err)
			_, err = tx.DeliveryPractice(asA, w.dB.ID)
			notFound(t, "DeliveryPractice", err)
			_, err = tx.RecordContent(asA, w.refB.ID, recB.ID)
			notFound(t, "RecordContent", err)
			_, err = tx.RecordReferral(asA, recB.ID)
			notFound(t, "RecordReferral", err)
			_, err = tx.Delivery(asA, w.dB.ID, false)
			notFound(t, "Delivery", err)
			if ds, err := tx.Deliveries(asA, w.refB.ID); err != nil || len(ds) != 0 {
				t.Errorf("Deliveries: %d, %v", len(ds), err)
			}
			_, err = tx.DeliveryByRemoteID(asA, gateway.ChannelFHIR, w.remoteB)
			notFound(t, "DeliveryByRemoteID", err)
			_, err = tx.BAAForParty(asA, "south")
			notFound(t, "BAAForParty", err)
			baas, err := tx.ListBAAs(asA)
			if err != nil {
				t.Fatal(err)
			}
			var parties []string
			for _, b := range baas {
				parties = append(parties, b.PartyID)
			}
			// Its own and the vendor's; east's (north refers to east) only as
			// the send gate's answer (TestPartnerReadsAreAnswersOnly).
			if slices.Sort(parties); !slices.Equal(parties, []string{"faxco", "north"}) {
				t.Errorf("north reads the BAAs of %v", parties)
			}
			if cs, err := tx.Consents(asA, "south", "MRN-south"); err != nil || len(cs) != 0 {
				t.Errorf("Consents: %d, %v", len(cs), err)
			}
			return nil
		})
		for e, err := range w.s.AuditEntries(asA, gateway.AuditQuery{}) {
			if err != nil || e.Tenant != "north" {
				t.Fatalf("north's audit stream has %s's entry (%v)", e.Tenant, err)
			}
		}
		for _, q := range []gateway.AuditQuery{{Tenant: "south"}, {ReferralID: w.refB.ID}} {
			for e := range w.s.AuditEntries(asA, q) {
				t.Fatalf("AuditEntries(%+v) as north returned %s/%d", q, e.Tenant, e.Seq)
			}
		}
		heads, err := w.s.AuditHeads(asA)
		if err != nil || len(heads) != 1 || heads[0].Tenant != "north" {
			t.Errorf("AuditHeads as north: %+v, %v", heads, err)
		}
	})

	t.Run("counts", func(t *testing.T) {
		// A query with no WHERE at all sees exactly north's rows.
		mine := map[string]string{
			"referrals":          "requester_org = 'north' OR receiver_org = 'north'",
			"referral_versions":  "referral_id IN ('" + w.refA.ID + "', '" + w.refBA.ID + "')",
			"record_contents":    "referral_id IN ('" + w.refA.ID + "', '" + w.refBA.ID + "')",
			"deliveries":         "referral_id IN ('" + w.refA.ID + "', '" + w.refBA.ID + "')",
			"consents":           "tenant = 'north'",
			"audit_log":          "tenant = 'north'",
			"audit_tree_nodes":   "tenant = 'north'",
			"audit_signed_heads": "tenant = 'north'",
			"baas":               "tenant IN ('north', 'gateway')",
			"inbound_messages":   "tenant = 'north'",
			"inbound_notices":    "inbound_id = 'in-north'",
			"receipt_keys":       "delivery_id = '" + w.dA.ID + "'",
			"fhir_subscriptions": "org_id = 'north'",
		}
		all := gateway.GatewayWide(w.ctx, "test-count")
		for _, table := range practiceTables {
			got, want := w.count(t, asA, table, ""), w.count(t, all, table, mine[table])
			if got != want || want == 0 {
				t.Errorf("%s: north counts %d rows, its own are %d", table, got, want)
			}
			if others := w.count(t, all, table, ""); others <= want {
				t.Errorf("%s: the test has no rows of south's (%d in all)", table, others)
			}
		}
	})

	t.Run("writes", func(t *testing.T) {
		stale := *w.refB
		stale.Version++
		stale.Status = gateway.StatusCancelled
		rec := gateway.Record{ID: gateway.NewID(), Title: "x", ContentType: "text/plain", SHA256: "00", Size: 1}
		forged := *w.refB
		forged.ID = gateway.NewID()
		forged.Identifier = "S-forged"
		d := *w.dB
		d.State = gateway.DeliveryFailed
		for name, write := range map[string]func(tx gateway.Tx) error{
			"UpdateReferral":   func(tx gateway.Tx) error { return tx.UpdateReferral(asA, &stale) },
			"InsertReferral":   func(tx gateway.Tx) error { return tx.InsertReferral(asA, &forged) },
			"PutRecordContent": func(tx gateway.Tx) error { return tx.PutRecordContent(asA, w.refB.ID, rec, []byte("x")) },
			"InsertDelivery": func(tx gateway.Tx) error {
				return tx.InsertDelivery(asA, &gateway.Delivery{ID: gateway.NewID(), ReferralID: w.refB.ID, Channel: gateway.ChannelFax,
					State: gateway.DeliveryQueued, Created: w.clock.Now(), Updated: w.clock.Now()})
			},
			"UpdateDelivery": func(tx gateway.Tx) error { return tx.UpdateDelivery(asA, &d) },
			"PutBAA": func(tx gateway.Tx) error {
				return tx.PutBAA(asA, &gateway.BAA{ID: gateway.NewID(), PartyID: "south", State: gateway.BAATerminated, Version: 2})
			},
			"PutConsent": func(tx gateway.Tx) error {
				return tx.PutConsent(asA, &gateway.ConsentRecord{ID: gateway.NewID(), Tenant: "south", PatientID: "MRN-south",
					Kind: gateway.ConsentAuthorization})
			},
			"PutEntry": func(tx gateway.Tx) error {
				return tx.PutEntry(asA, &gateway.Entry{ID: "south", Kind: gateway.KindOrganization, Name: "Renamed", Version: 2})
			},
		} {
			if err := w.s.Update(asA, write); err == nil {
				t.Errorf("as north, %s on south's rows succeeded", name)
			}
		}
		// Statements with no WHERE change nothing of south's.
		btx, err := w.s.Backend().Begin(asA, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`UPDATE referrals SET status = 'cancelled' WHERE id = '` + w.refB.ID + `'`,
			`DELETE FROM consents`, `DELETE FROM record_contents WHERE referral_id = '` + w.refB.ID + `'`,
			`UPDATE deliveries SET state = 'failed' WHERE referral_id = '` + w.refB.ID + `'`} {
			n, err := btx.Exec(asA, q)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(q, "DELETE FROM consents") {
				if n != 1 {
					t.Errorf("%s as north affected %d rows, want north's one", q, n)
				}
				continue
			}
			if n != 0 {
				t.Errorf("%s as north affected %d rows", q, n)
			}
		}
		btx.Rollback(asA)
		// South still sees its rows as they were.
		r, _, err := w.svc.Referral(asB, w.refB.ID)
		if err != nil || r.Version != w.refB.Version || r.Status != gateway.StatusRequested {
			t.Errorf("south's referral after north's attempts: %+v, %v", r, err)
		}
		if e, _ := w.svc.Entry(asB, "south"); e == nil || e.Name != "Synthetic South Clinic" {
			t.Errorf("south's directory entry: %+v", e)
		}
		w.view(t, asB, func(tx gateway.Tx) error {
			if b, err := tx.BAAForParty(asB, "south"); err != nil || b.State != gateway.BAAActive {
				t.Errorf("south's BAA: %+v, %v", b, err)
			}
			if cs, err := tx.Consents(asB, "south", "MRN-south"); err != nil || len(cs) != 1 {
				t.Errorf("south's consents: %d, %v", len(cs), err)
			}
			if ds, err := tx.Deliveries(asB, w.refB.ID); err != nil || len(ds) != 1 || ds[0].State != w.dB.State {
				t.Errorf("south's deliveries: %+v, %v", ds, err)
			}
			return nil
		})
	})

	t.Run("shared referral", func(t *testing.T) {
		// South → north is both practices'; south also gets north's BAA
		// (its send gate checks the receiver's, as an answer, migration
		// 031), north does not get south's.
		for _, ctx := range []context.Context{asA, asB} {
			if r, _, err := w.svc.Referral(ctx, w.refBA.ID); err != nil || r.ID != w.refBA.ID {
				t.Errorf("%s cannot read the shared referral: %v", gateway.ScopeFrom(ctx).Practice, err)
			}
		}
		w.view(t, asB, func(tx gateway.Tx) error {
			if _, err := tx.BAAForParty(asB, "north"); err != nil {
				t.Errorf("south reads north's BAA: %v", err)
			}
			return nil
		})
	})

	t.Run("no practice", func(t *testing.T) {
		none := w.ctx
		for _, table := range append(practiceTables, "directory_entries") {
			if n := w.count(t, none, table, ""); n != 0 {
				t.Errorf("%s: %d rows with no practice set", table, n)
			}
		}
		w.view(t, none, func(tx gateway.Tx) error {
			for _, id := range []string{w.refA.ID, w.refB.ID} {
				if _, err := tx.Referral(none, id, false); !errors.Is(err, gateway.ErrNotFound) {
					t.Errorf("Referral %s with no practice: %v", id, err)
				}
			}
			if list, err := tx.ListReferrals(none, gateway.ReferralQuery{}); err != nil || len(list) != 0 {
				t.Errorf("ListReferrals with no practice: %d, %v", len(list), err)
			}
			if list, err := tx.ListBAAs(none); err != nil || len(list) != 0 {
				t.Errorf("ListBAAs with no practice: %d, %v", len(list), err)
			}
			if list, err := tx.ListEntries(none, gateway.EntryQuery{}); err != nil || len(list) != 0 {
				t.Errorf("ListEntries with no practice: %d, %v", len(list), err)
			}
			if cs, err := tx.Consents(none, "north", "MRN-north"); err != nil || len(cs) != 0 {
				t.Errorf("Consents with no practice: %d, %v", len(cs), err)
			}
			_, err := tx.DeliveryByRemoteID(none, gateway.ChannelFHIR, w.remoteB)
			if !errors.Is(err, gateway.ErrNotFound) {
				t.Errorf("DeliveryByRemoteID with no practice: %v", err)
			}
			return nil
		})
		if err := w.s.Update(none, func(tx gateway.Tx) error {
			return tx.PutConsent(none, &gateway.ConsentRecord{ID: gateway.NewID(), Tenant: "north", PatientID: "p", Kind: gateway.ConsentAuthorization})
		}); err == nil {
			t.Error("a consent was written with no practice set")
		}
	})
}

// TestScopeNeverLeaksAcrossTransactions alternates practices 10,000 times
// on a pool of one connection, with failed and unscoped transactions in
// between: each transaction sees its own practice's setting and rows only,
// because the settings are transaction-local.
func TestScopeNeverLeaksAcrossTransactions(t *testing.T) {
	w := newWorld(t)
	one, err := pgstore.Open(w.ctx, w.appURL+"&pool_max_conns=1", storetest.FastQueue())
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	b := one.Backend()
	pids := map[int]bool{}
	check := func(i int, ctx context.Context, want string) {
		t.Helper()
		btx, err := b.Begin(ctx, i%7 == 0)
		if err != nil {
			t.Fatal(err)
		}
		defer btx.Rollback(ctx)
		var setting string
		var pid, visible, foreign int
		err = btx.QueryRow(ctx, `SELECT coalesce(current_setting('gateway.practice', true), ''), pg_backend_pid(),
			(SELECT count(*) FROM referrals),
			(SELECT count(*) FROM referrals WHERE NOT (requester_org = $1 OR receiver_org = $1))`, want).
			Scan(&setting, &pid, &visible, &foreign)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		// north sees its own referral and the shared one; so does south.
		if setting != want || foreign != 0 || (want == "" && visible != 0) || (want != "" && visible != 2) {
			t.Fatalf("round %d acting for %q: setting %q, %d visible, %d of another practice", i, want, setting, visible, foreign)
		}
		pids[pid] = true
		switch {
		case i%11 == 0:
			// A failed statement aborts the transaction; the rollback
			// takes the scope with it.
			_, _ = btx.Exec(ctx, `SELECT 1/0`)
		case i%13 == 0:
			if err := btx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 10_000 {
		switch {
		case i%5 == 4:
			check(i, w.ctx, "")
		case i%2 == 0:
			check(i, gateway.WithPractice(w.ctx, "north"), "north")
		default:
			check(i, gateway.WithPractice(w.ctx, "south"), "south")
		}
	}
	if len(pids) != 1 {
		t.Fatalf("the rounds ran on %d connections, want one", len(pids))
	}
}

package storetest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// testSealLegacyRows puts a store back in the state a database upgraded
// from before sealing is in (documents as JSON text, the patient
// identifier in clear, record bodies sealed directly under the KEK), then
// checks that everything still reads, that SealLegacyRows seals it all,
// and that search works on the new blind indexes.
func testSealLegacyRows(t *testing.T, h Harness) {
	store := h.Open(t)
	ks, ok := store.(keyStore)
	if !ok {
		t.Skip("store has no key management")
	}
	kek, index := make([]byte, 32), make([]byte, 32)
	rand.Read(kek)
	rand.Read(index)
	sealer, err := gateway.NewKeyring(kek, nil, index)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, store, sealer, Behavior{}, Behavior{})
	n := referral()
	n.Patient = gateway.Patient{ID: "LegacyMrnQz", System: "urn:legacy", FamilyName: "Legacyfamilyqz", GivenName: "Legacygivenqz", BirthDate: "1911-11-11"}
	n.Records[0].Content = []byte("Legacybodyqz note")
	r := e.create(n) // submitted: a delivery is queued (no workers run)
	if _, err := e.svc.CaptureConsent(e.ctx, e.admin, gateway.ConsentRecord{ID: "consent-legacy", Tenant: "clinic-a", PatientID: "LegacyMrnQz",
		Kind: gateway.ConsentAuthorization, Signed: e.clock.Now(), Recipients: []string{"cardio-b"}, Purposes: []string{"TREAT"}}); err != nil {
		t.Fatal(err)
	}
	versions, err := e.svc.ReferralVersions(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	deliveries := e.deliveries(r.ID)

	var consent gateway.ConsentRecord
	pctx := gateway.WithPractice(e.ctx, "clinic-a")
	if err := e.store.View(pctx, func(tx gateway.Tx) error {
		cs, err := tx.Consents(pctx, "clinic-a", "LegacyMrnQz")
		if err == nil && len(cs) == 1 {
			consent = cs[0]
		}
		return err
	}); err != nil || consent.ID == "" {
		t.Fatalf("consent on file: %v", err)
	}

	// Write the rows back the way they were stored before sealing (in one
	// raw transaction: nothing else may use the store meanwhile, SQLite
	// has one connection).
	b := ks.Backend()
	btx, err := b.Begin(gateway.GatewayWide(e.ctx, gateway.PathKeys), false)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := btx.Exec(e.ctx, b.Dialect().Rebind(q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	cur := versions[len(versions)-1]
	exec(`UPDATE referrals SET doc=$1, patient_id=$2, patient_identifier_idx=NULL, birth_date_idx=NULL WHERE id=$3`,
		js(cur), "LegacyMrnQz", r.ID)
	for _, v := range versions {
		exec(`UPDATE referral_versions SET doc=$1 WHERE referral_id=$2 AND version=$3`, js(v), r.ID, v.Version)
	}
	exec(`UPDATE consents SET doc=$1, patient_id=$2 WHERE id=$3`, js(consent), "LegacyMrnQz", consent.ID)
	for _, d := range deliveries {
		exec(`UPDATE deliveries SET doc=$1 WHERE id=$2`, js(d), d.ID)
	}
	exec(`INSERT INTO documents (kind, id, version, updated_at, doc) VALUES ($1,$2,$3,$4,$5)`,
		"test-legacy", "d1", 1, e.clock.Now().UTC().Format(time.RFC3339Nano), []byte(`{"subject":"Legacydocqz"}`))
	rec := cur.Records[0]
	exec(`UPDATE record_contents SET sealed=$1 WHERE referral_id=$2 AND record_id=$3`,
		SealUnderKEK(t, kek, r.ID, rec.ID, []byte("Legacybodyqz note")), r.ID, rec.ID)
	if err := btx.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}

	canaries := []string{"LegacyMrnQz", "Legacyfamilyqz", "Legacygivenqz", "Legacybodyqz", "Legacydocqz", "1911-11-11"}
	inClear := func() []string {
		dump := rawDump(t, ks)
		var out []string
		for _, c := range canaries {
			if bytes.Contains(dump, []byte(c)) {
				out = append(out, c)
			}
		}
		return out
	}
	if got := inClear(); len(got) != len(canaries)-1 { // the record body was sealed, under the KEK
		t.Fatalf("legacy state: in clear %v; want every canary but the record body", got)
	}
	readAll := func(when string) {
		t.Helper()
		got, ds, err := e.svc.Referral(e.ctx, r.ID)
		if err != nil || got.Patient.FamilyName != "Legacyfamilyqz" || len(ds) != len(deliveries) {
			t.Fatalf("%s: referral: %v", when, err)
		}
		recs, err := e.svc.RecordContents(e.ctx, got)
		if err != nil || string(recs[0].Content) != "Legacybodyqz note" {
			t.Fatalf("%s: record: %v", when, err)
		}
		if vs, err := e.svc.ReferralVersions(e.ctx, r.ID); err != nil || len(vs) != len(versions) {
			t.Fatalf("%s: versions: %v", when, err)
		}
		var doc gateway.Document
		if err := e.store.View(e.ctx, func(tx gateway.Tx) (err error) {
			doc, err = tx.Document(e.ctx, "test-legacy", "d1")
			return err
		}); err != nil || !bytes.Contains(doc.Body, []byte("Legacydocqz")) {
			t.Fatalf("%s: document: %v", when, err)
		}
	}
	readAll("before sealing")

	sealed, err := ks.SealLegacyRows(e.ctx, "user:keyadmin")
	// referral, its versions, consent, deliveries, document, record
	if want := 1 + len(versions) + 1 + len(deliveries) + 1 + 1; err != nil || sealed != want {
		var detail map[string]string
		for en, err := range e.store.AuditEntries(e.ctx, gateway.AuditQuery{Tenant: gateway.SystemTenant}) {
			if err == nil && en.Action == "keys.sealed-legacy" {
				detail = en.Detail
			}
		}
		t.Fatalf("SealLegacyRows = %d, %v; want %d rows (sealed per table: %v; in clear: %v)", sealed, err, want, detail, inClear())
	}
	if got := inClear(); len(got) != 0 {
		t.Fatalf("after sealing, in clear: %v", got)
	}
	readAll("after sealing")
	for _, q := range []gateway.ReferralQuery{
		{InvolvesOrg: "clinic-a", Patient: &gateway.Token{System: "urn:legacy", Value: "LegacyMrnQz"}},
		{InvolvesOrg: "clinic-a", Patient: &gateway.Token{Value: "LegacyMrnQz", AnySystem: true}},
		{InvolvesOrg: "clinic-a", BirthDate: "1911-11-11"},
	} {
		if list, err := e.svc.ListReferrals(e.ctx, q); err != nil || len(list) != 1 {
			t.Errorf("search %+v after sealing: %d, %v", q, len(list), err)
		}
	}
	if again, err := ks.SealLegacyRows(e.ctx, "user:keyadmin"); err != nil || again != 0 {
		t.Errorf("second SealLegacyRows = %d, %v; want 0", again, err)
	}
	if !contains(e.actions(gateway.SystemTenant, ""), "keys.sealed-legacy") {
		t.Error("sealing the legacy rows is not in the gateway's trail")
	}
}

// SealUnderKEK seals a record body as it was sealed before data keys:
// AES-256-GCM under the KEK, the two ids as additional data.
func SealUnderKEK(t *testing.T, kek []byte, referralID, recordID string, pt []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(kek)
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	ad := binary.BigEndian.AppendUint32(nil, uint32(len(referralID)))
	ad = append(ad, referralID...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(recordID)))
	ad = append(ad, recordID...)
	nonce := make([]byte, a.NonceSize())
	rand.Read(nonce)
	return a.Seal(nonce, nonce, pt, ad)
}

package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// resealBatch bounds the rows one sealing transaction rewrites.
const resealBatch = 200

// legacy reports whether a document column still holds the JSON text it
// held before migration 004 (sealed values start with 0x01).
func legacy(doc []byte) bool { return len(doc) > 0 && (doc[0] == '{' || doc[0] == '[') }

// SealLegacyRows seals the rows written before PHI was sealed at rest:
// referral documents and their versions (with their blind indexes),
// consents, deliveries, edge documents, and record bodies sealed directly
// under the KEK. Each batch is its own transaction on the gateway-wide
// path gateway.PathKeys; a row changed meanwhile was sealed by its writer
// and is skipped. The work is audited in the gateway's trail. It returns
// how many rows it sealed; run again, it finds none.
func (s *Store) SealLegacyRows(ctx context.Context, actor string) (int, error) {
	ctx = gateway.GatewayWide(ctx, gateway.PathKeys)
	counts := map[string]int{}
	for _, step := range []struct {
		table string
		fn    func(ctx context.Context, t *tx, after string) (next string, n int, err error)
	}{
		{"referrals", resealReferrals},
		{"consents", resealConsents},
		{"deliveries", resealDeliveries},
		{"documents", resealDocuments},
		{"record_contents", resealRecords},
	} {
		after := ""
		for {
			var next string
			var n int
			err := s.Update(ctx, func(gtx gateway.Tx) error {
				var err error
				next, n, err = step.fn(ctx, unwrap(gtx), after)
				return err
			})
			if err != nil {
				return total(counts), fmt.Errorf("seal %s: %w", step.table, err)
			}
			counts[step.table] += n
			if next == "" {
				break
			}
			after = next
		}
	}
	if total(counts) == 0 {
		return 0, nil
	}
	detail := map[string]string{}
	for table, n := range counts {
		detail[table] = strconv.Itoa(n)
	}
	err := s.Update(ctx, func(t gateway.Tx) error {
		return t.Audit(ctx, audit.Event{Time: time.Now().UTC(), Actor: actor, Tenants: []string{gateway.SystemTenant},
			Action: "keys.sealed-legacy", Outcome: audit.OutcomeSuccess, Detail: detail})
	})
	return total(counts), err
}

func total(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// keyPage reads one page of (key, doc) rows after the given key; next is
// the last key read, "" on the last page.
func keyPage(ctx context.Context, t *tx, q, after string) (rows []sealedRow, next string, err error) {
	rows, err = t.sealedRows(ctx, q+` LIMIT `+strconv.Itoa(resealBatch), after)
	if err != nil {
		return nil, "", err
	}
	if len(rows) == resealBatch {
		next = rows[len(rows)-1].id
	}
	return rows, next, nil
}

func resealReferrals(ctx context.Context, t *tx, after string) (string, int, error) {
	rows, next, err := keyPage(ctx, t, `SELECT id, doc FROM referrals WHERE id > $1 ORDER BY id`, after)
	if err != nil {
		return "", 0, err
	}
	n := 0
	for _, row := range rows {
		if legacy(row.doc) {
			var r gateway.Referral
			if err := json.Unmarshal(row.doc, &r); err != nil {
				return "", n, fmt.Errorf("referral %s: %w", row.id, err)
			}
			doc, idx, err := t.sealReferral(&r)
			if err != nil {
				return "", n, err
			}
			c, err := t.exec(ctx, `UPDATE referrals SET doc=$2, patient_id=$3, patient_identifier_idx=$4, birth_date_idx=$5
				WHERE id=$1 AND version=$6`, r.ID, doc, idx[0], idx[1], idx[2], r.Version)
			if err != nil {
				return "", n, fmt.Errorf("seal referral %s: %w", r.ID, err)
			}
			n += int(c)
		}
		// Its versions, each sealed for its own version.
		versions, err := t.query(ctx, `SELECT version, doc FROM referral_versions WHERE referral_id=$1`, row.id)
		if err != nil {
			return "", n, err
		}
		type version struct {
			v   int
			doc []byte
		}
		var old []version
		for versions.Next() {
			var v version
			if err := versions.Scan(&v.v, &v.doc); err != nil {
				versions.Close()
				return "", n, err
			}
			if legacy(v.doc) {
				old = append(old, v)
			}
		}
		err = versions.Err()
		versions.Close()
		if err != nil {
			return "", n, err
		}
		for _, v := range old {
			sealed, err := t.seal(referralAD(row.id, v.v), v.doc)
			if err != nil {
				return "", n, err
			}
			if _, err := t.exec(ctx, `UPDATE referral_versions SET doc=$3 WHERE referral_id=$1 AND version=$2`, row.id, v.v, sealed); err != nil {
				return "", n, fmt.Errorf("seal referral %s version %d: %w", row.id, v.v, err)
			}
			n++
		}
	}
	return next, n, nil
}

func resealConsents(ctx context.Context, t *tx, after string) (string, int, error) {
	rows, next, err := keyPage(ctx, t, `SELECT id, doc FROM consents WHERE id > $1 ORDER BY id`, after)
	if err != nil {
		return "", 0, err
	}
	n := 0
	for _, row := range rows {
		if !legacy(row.doc) {
			continue
		}
		var c gateway.ConsentRecord
		if err := json.Unmarshal(row.doc, &c); err != nil {
			return "", n, fmt.Errorf("consent %s: %w", row.id, err)
		}
		sealed, err := t.seal(consentAD(row.id), row.doc)
		if err != nil {
			return "", n, err
		}
		patient, err := t.blind(idxPatientValue, c.PatientID)
		if err != nil {
			return "", n, err
		}
		if _, err := t.exec(ctx, `UPDATE consents SET doc=$2, patient_id=$3 WHERE id=$1`, row.id, sealed, patient); err != nil {
			return "", n, fmt.Errorf("seal consent %s: %w", row.id, err)
		}
		n++
	}
	return next, n, nil
}

func resealDeliveries(ctx context.Context, t *tx, after string) (string, int, error) {
	rows, next, err := keyPage(ctx, t, `SELECT id, doc FROM deliveries WHERE id > $1 ORDER BY id`, after)
	if err != nil {
		return "", 0, err
	}
	n := 0
	for _, row := range rows {
		if !legacy(row.doc) {
			continue
		}
		sealed, err := t.seal(deliveryAD(row.id), row.doc)
		if err != nil {
			return "", n, err
		}
		if _, err := t.exec(ctx, `UPDATE deliveries SET doc=$2 WHERE id=$1`, row.id, sealed); err != nil {
			return "", n, fmt.Errorf("seal delivery %s: %w", row.id, err)
		}
		n++
	}
	return next, n, nil
}

// pairRow is a row keyed by two columns, with its sealed value.
type pairRow struct {
	a, b string
	doc  []byte
}

// pairPage reads one page of (a, b, doc) rows after the key after (a and b
// joined by a NUL byte, which no id holds); next is the last key read, ""
// on the last page. q selects the three columns and pages with ($1, $2).
func pairPage(ctx context.Context, t *tx, q, after string) (rows []pairRow, next string, err error) {
	a, b, _ := strings.Cut(after, "\x00")
	res, err := t.query(ctx, q+` LIMIT `+strconv.Itoa(resealBatch), a, b)
	if err != nil {
		return nil, "", err
	}
	for res.Next() {
		var r pairRow
		if err := res.Scan(&r.a, &r.b, &r.doc); err != nil {
			res.Close()
			return nil, "", err
		}
		rows = append(rows, r)
	}
	err = res.Err()
	res.Close()
	if err != nil {
		return nil, "", err
	}
	if len(rows) == resealBatch {
		last := rows[len(rows)-1]
		next = last.a + "\x00" + last.b
	}
	return rows, next, nil
}

func resealDocuments(ctx context.Context, t *tx, after string) (string, int, error) {
	rows, next, err := pairPage(ctx, t, `SELECT kind, id, doc FROM documents WHERE (kind, id) > ($1, $2) ORDER BY kind, id`, after)
	if err != nil {
		return "", 0, err
	}
	n := 0
	for _, row := range rows {
		if !legacy(row.doc) {
			continue
		}
		sealed, err := t.seal(documentAD(row.a, row.b), row.doc)
		if err != nil {
			return "", n, err
		}
		if _, err := t.exec(ctx, `UPDATE documents SET doc=$3 WHERE kind=$1 AND id=$2`, row.a, row.b, sealed); err != nil {
			return "", n, fmt.Errorf("seal document %s/%s: %w", row.a, row.b, err)
		}
		n++
	}
	return next, n, nil
}

// resealRecords moves record bodies sealed directly under a KEK onto a
// data key.
func resealRecords(ctx context.Context, t *tx, after string) (string, int, error) {
	if t.keys == nil {
		return "", 0, errNoSealer
	}
	rows, next, err := pairPage(ctx, t, `SELECT referral_id, record_id, sealed FROM record_contents
		WHERE (referral_id, record_id) > ($1, $2) ORDER BY referral_id, record_id`, after)
	if err != nil {
		return "", 0, err
	}
	n := 0
	for _, row := range rows {
		if err := t.loadDataKey(ctx, row.doc); err != nil {
			return "", n, err
		}
		if id, ok := gateway.DataKeyOf(row.doc); ok && t.keys.HasDataKey(id) {
			continue // on a data key already
		}
		pt, err := t.keys.Open(row.a, row.b, row.doc)
		if err != nil {
			return "", n, err
		}
		sealed, err := t.keys.Seal(row.a, row.b, pt)
		if err != nil {
			return "", n, err
		}
		if _, err := t.exec(ctx, `UPDATE record_contents SET sealed=$3 WHERE referral_id=$1 AND record_id=$2`, row.a, row.b, sealed); err != nil {
			return "", n, fmt.Errorf("seal record %s: %w", row.b, err)
		}
		n++
	}
	return next, n, nil
}

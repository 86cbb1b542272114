package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// tx implements gateway.Tx over one backend transaction.
type tx struct {
	c     Conn
	btx   BackendTx
	d     Dialect
	queue QueueConfig
	keys  *gateway.Sealer // nil: PHI cannot be written or read
	// extraKeys are other Sealers whose data keys sealed rows of this
	// transaction (see KeepDataKey).
	extraKeys []*gateway.Sealer
	// pending holds audit events until flushAudit, just before commit.
	pending []audit.Event
	cache   txCache
	binds   *rebinds // nil: rebind every time
}

func (t *tx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return t.c.Exec(ctx, t.rebind(q), t.d.Args(args)...)
}

func (t *tx) query(ctx context.Context, q string, args ...any) (Rows, error) {
	return t.c.Query(ctx, t.rebind(q), t.d.Args(args)...)
}

func (t *tx) queryRow(ctx context.Context, q string, args ...any) Row {
	return t.c.QueryRow(ctx, t.rebind(q), t.d.Args(args)...)
}

// rebind is t.d.Rebind through the store's cache of rewritten texts.
func (t *tx) rebind(q string) string {
	if t.d.NumberedArgs || t.binds == nil {
		return t.d.Rebind(q)
	}
	return t.binds.rebind(t.d, q)
}

// execLater runs a write whose only result is success or failure: on a
// Pipeliner it is queued and sent with the transaction's next round trip,
// and its failure (ErrNoRowsChanged too, with wantRows) fails the
// transaction; otherwise it runs now. Either way check turns a failure into
// the error to return.
func (t *tx) execLater(ctx context.Context, wantRows bool, check func(err error) error, q string, args ...any) error {
	if p, ok := t.c.(Pipeliner); ok {
		p.ExecLater(ctx, wantRows, check, t.rebind(q), t.d.Args(args)...)
		return nil
	}
	n, err := t.exec(ctx, q, args...)
	if err == nil && wantRows && n == 0 {
		err = ErrNoRowsChanged
	}
	if err != nil {
		return check(err)
	}
	return nil
}

// wrapErr is a check that names the statement in its error.
func wrapErr(what string) func(error) error {
	return func(err error) error { return fmt.Errorf("%s: %w", what, err) }
}

// setScope changes the acting scope for the rest of the transaction (a
// named store path that must see more than the caller's practice).
func (t *tx) setScope(ctx context.Context, sc gateway.Scope) error {
	if !t.d.RowSecurity {
		return nil
	}
	if p, ok := t.c.(Pipeliner); ok {
		p.ExecLater(ctx, false, wrapErr("set scope"), SetScopeSQL, sc.Practice, sc.GatewayPath)
		return nil
	}
	if _, err := t.c.Exec(ctx, SetScopeSQL, sc.Practice, sc.GatewayPath); err != nil {
		return fmt.Errorf("set scope: %w", err)
	}
	return nil
}

func (t *tx) lock(lock bool) string {
	if lock {
		return " " + t.d.ForUpdate
	}
	return ""
}

// isUniqueViolation recognises a unique-constraint error from either database.
func isUniqueViolation(err error) bool {
	s := err.Error()
	return strings.Contains(s, "23505") || strings.Contains(s, "UNIQUE constraint failed")
}

// ---- referrals

// referralAD binds a sealed referral document to its id and version; the
// same sealed value goes into referrals and referral_versions.
func referralAD(id string, version int) []byte {
	return gateway.RowAD("referral", id, strconv.Itoa(version))
}

// sealReferral seals r's document and computes its blind indexes: the
// patient identifier (value alone, and system with value) and birth date.
func (t *tx) sealReferral(r *gateway.Referral) (doc []byte, idx [3]any, err error) {
	if doc, err = t.sealJSON(referralAD(r.ID, r.Version), r); err != nil {
		return nil, idx, err
	}
	if idx[0], err = t.blind(idxPatientValue, r.Patient.ID); err != nil {
		return nil, idx, err
	}
	if idx[1], err = t.blind(idxPatientIdentifier, r.Patient.System, r.Patient.ID); err != nil {
		return nil, idx, err
	}
	if idx[2], err = t.blind(idxBirthDate, r.Patient.BirthDate); err != nil {
		return nil, idx, err
	}
	return doc, idx, nil
}

func (t *tx) InsertReferral(ctx context.Context, r *gateway.Referral) error {
	doc, idx, err := t.sealReferral(r)
	if err != nil {
		return err
	}
	f := r.ReportFacts()
	id := r.ID
	err = t.execLater(ctx, false, func(err error) error {
		if isUniqueViolation(err) {
			return fmt.Errorf("referral %s: %w", id, gateway.ErrConflict)
		}
		return fmt.Errorf("insert referral: %w", err)
	}, `INSERT INTO referrals (id, requester_org, identifier, receiver_id, receiver_org, patient_id, patient_system,
		patient_identifier_idx, birth_date_idx, status, business_status, version, created_at, updated_at, doc, `+factColumns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15, $16,$17,$18,$19,$20,$21,$22,$23,$24,$25)`,
		append([]any{r.ID, r.Requester.OrgID, nullable(r.Identifier), r.ReceiverID, r.ReceiverOrgID, idx[0], r.Patient.System,
			idx[1], idx[2], string(r.Status), nullable(r.BusinessStatus), r.Version, r.Created, r.Updated, doc}, factArgs(f)...)...)
	if err != nil {
		return err
	}
	return t.insertVersion(ctx, r, doc)
}

func (t *tx) insertVersion(ctx context.Context, r *gateway.Referral, doc []byte) error {
	return t.execLater(ctx, false, wrapErr("insert referral version"),
		`INSERT INTO referral_versions (referral_id, version, updated_at, doc) VALUES ($1,$2,$3,$4)`, r.ID, r.Version, r.Updated, doc)
}

func (t *tx) UpdateReferral(ctx context.Context, r *gateway.Referral) error {
	doc, idx, err := t.sealReferral(r)
	if err != nil {
		return err
	}
	id := r.ID
	delete(t.cache.locked, id)
	err = t.execLater(ctx, true, func(err error) error {
		if errors.Is(err, ErrNoRowsChanged) {
			return fmt.Errorf("referral %s changed concurrently: %w", id, gateway.ErrConflict)
		}
		return fmt.Errorf("update referral: %w", err)
	}, `UPDATE referrals SET status=$2, business_status=$3, version=$4, updated_at=$5, doc=$6,
		`+factAssignments+`, patient_id=$18, patient_identifier_idx=$19, birth_date_idx=$20 WHERE id=$1 AND version=$7`,
		append(append([]any{r.ID, string(r.Status), nullable(r.BusinessStatus), r.Version, r.Updated, doc, r.Version - 1},
			factArgs(r.ReportFacts())...), idx[0], idx[1], idx[2])...)
	if err != nil {
		return err
	}
	return t.insertVersion(ctx, r, doc)
}

// scanReferral reads (id, version, doc) and opens the document.
func (t *tx) scanReferral(ctx context.Context, row interface{ Scan(...any) error }) (*gateway.Referral, error) {
	var (
		id      string
		version int
		doc     []byte
	)
	if err := row.Scan(&id, &version, &doc); err != nil {
		return nil, err
	}
	var r gateway.Referral
	if err := t.openJSON(ctx, "referral "+id, referralAD(id, version), doc, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (t *tx) Referral(ctx context.Context, id string, lock bool) (*gateway.Referral, error) {
	if r, ok, err := t.lockedReferral(ctx, id); ok {
		return r, err
	}
	r, err := t.scanReferral(ctx, t.queryRow(ctx, `SELECT id, version, doc FROM referrals WHERE id=$1`+t.lock(lock), id))
	if err != nil {
		return nil, fmt.Errorf("referral %s: %w", id, err)
	}
	return r, nil
}

func (t *tx) ReferralByIdentifier(ctx context.Context, org, identifier string) (*gateway.Referral, error) {
	r, err := t.scanReferral(ctx, t.queryRow(ctx, `SELECT id, version, doc FROM referrals WHERE requester_org=$1 AND identifier=$2`, org, identifier))
	if err != nil {
		return nil, fmt.Errorf("referral %s/%s: %w", org, identifier, err)
	}
	return r, nil
}

func (t *tx) ReferralVersion(ctx context.Context, id string, version int) (*gateway.Referral, error) {
	r, err := t.scanReferral(ctx, t.queryRow(ctx, `SELECT referral_id, version, doc FROM referral_versions WHERE referral_id=$1 AND version=$2`, id, version))
	if err != nil {
		return nil, fmt.Errorf("referral %s version %d: %w", id, version, err)
	}
	return r, nil
}

func (t *tx) ReferralVersions(ctx context.Context, id string) ([]*gateway.Referral, error) {
	return t.referrals(ctx, `SELECT referral_id, version, doc FROM referral_versions WHERE referral_id=$1 ORDER BY version`, id)
}

// referrals runs a query selecting (id, version, doc) and opens each row.
// The rows are read before any is opened: opening may load a data key,
// which needs the connection.
func (t *tx) referrals(ctx context.Context, q string, args ...any) ([]*gateway.Referral, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list referrals: %w", err)
	}
	type sealedRow struct {
		id      string
		version int
		doc     []byte
	}
	var raw []sealedRow
	for rows.Next() {
		var r sealedRow
		if err := rows.Scan(&r.id, &r.version, &r.doc); err != nil {
			rows.Close()
			return nil, err
		}
		raw = append(raw, r)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("list referrals: %w", err)
	}
	out := make([]*gateway.Referral, 0, len(raw))
	for _, r := range raw {
		var ref gateway.Referral
		if err := t.openJSON(ctx, "referral "+r.id, referralAD(r.id, r.version), r.doc, &ref); err != nil {
			return nil, err
		}
		out = append(out, &ref)
	}
	return out, nil
}

func (t *tx) ListReferrals(ctx context.Context, q gateway.ReferralQuery) ([]*gateway.Referral, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if q.InvolvesOrg != "" {
		args = append(args, q.InvolvesOrg)
		n := len(args)
		where = append(where, fmt.Sprintf("(requester_org = $%d OR receiver_org = $%d OR receiver_id = $%d)", n, n, n))
	}
	if q.RequesterOrg != "" {
		add("requester_org = ?", q.RequesterOrg)
	}
	if q.ReceiverID != "" {
		add("receiver_id = ?", q.ReceiverID)
	}
	if q.ReceiverOrg != "" {
		args = append(args, q.ReceiverOrg)
		where = append(where, fmt.Sprintf("(receiver_org = $%d OR receiver_id = $%d)", len(args), len(args)))
	}
	if len(q.Statuses) > 0 {
		var ph []string
		for _, s := range q.Statuses {
			args = append(args, string(s))
			ph = append(ph, fmt.Sprintf("$%d", len(args)))
		}
		where = append(where, "status IN ("+strings.Join(ph, ",")+")")
	}
	if len(q.IDs) > 0 {
		var ph []string
		for _, id := range q.IDs {
			args = append(args, id)
			ph = append(ph, fmt.Sprintf("$%d", len(args)))
		}
		where = append(where, "id IN ("+strings.Join(ph, ",")+")")
	}
	if tok := q.Identifier; tok != nil {
		switch {
		case tok.AnySystem:
			// Stored as "system|value", or the value alone without a system.
			// LIKE finds the "|value" suffix (case-insensitively on SQLite);
			// substr makes the match exact on both databases.
			args = append(args, tok.Value, "%|"+escapeLike(tok.Value), len(tok.Value))
			n := len(args)
			where = append(where, fmt.Sprintf(`(identifier = $%d OR (identifier LIKE $%d ESCAPE '\' AND substr(identifier, length(identifier) - $%d + 1) = $%d))`,
				n-2, n-1, n, n-2))
		case tok.System == "":
			add("identifier = ?", tok.Value)
		default:
			add("identifier = ?", tok.System+"|"+tok.Value)
		}
	}
	if q.DeliveredOn != "" {
		add("EXISTS (SELECT 1 FROM deliveries d WHERE d.referral_id = referrals.id AND d.channel = ? AND d.state = 'delivered')",
			string(q.DeliveredOn))
	}
	if q.BusinessStatus != "" {
		add("business_status = ?", q.BusinessStatus)
	}
	if tok := q.Patient; tok != nil {
		// Blind indexes: the value alone for any system, else system and
		// value together ("" for an identifier without a system).
		var idx any
		var err error
		if tok.AnySystem {
			idx, err = t.blind(idxPatientValue, tok.Value)
		} else {
			idx, err = t.blind(idxPatientIdentifier, tok.System, tok.Value)
		}
		if err != nil {
			return nil, err
		}
		if tok.AnySystem {
			add("patient_id = ?", idx)
		} else {
			add("patient_identifier_idx = ?", idx)
		}
	}
	if q.BirthDate != "" {
		idx, err := t.blind(idxBirthDate, q.BirthDate)
		if err != nil {
			return nil, err
		}
		add("birth_date_idx = ?", idx)
	}
	if !q.UpdatedFrom.IsZero() {
		add("updated_at >= ?", q.UpdatedFrom)
	}
	if !q.UpdatedTo.IsZero() {
		add("updated_at < ?", q.UpdatedTo)
	}
	if q.AfterID != "" {
		add("id > ?", q.AfterID)
	}
	sql := "SELECT id, version, doc FROM referrals"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY id"
	if q.Limit > 0 {
		sql += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	return t.referrals(ctx, sql, args...)
}

func (t *tx) ReferralPractice(ctx context.Context, id string) (string, error) {
	var p string
	if err := t.queryRow(ctx, `SELECT requester_org FROM referrals WHERE id=$1`, id).Scan(&p); err != nil {
		return "", fmt.Errorf("referral %s: %w", id, err)
	}
	return p, nil
}

func (t *tx) DeliveryPractice(ctx context.Context, id string) (string, error) {
	var p string
	if err := t.queryRow(ctx, `SELECT r.requester_org FROM deliveries d JOIN referrals r ON r.id = d.referral_id WHERE d.id=$1`,
		id).Scan(&p); err != nil {
		return "", fmt.Errorf("delivery %s: %w", id, err)
	}
	return p, nil
}

// ---- record content

func (t *tx) PutRecordContent(ctx context.Context, referralID string, rec gateway.Record, sealed []byte) error {
	t.cache.putRecord(referralID, rec.ID, sealed)
	return t.execLater(ctx, false, wrapErr("store record "+rec.ID), `INSERT INTO record_contents (referral_id, record_id, content_type, sha256, size, sealed)
		VALUES ($1,$2,$3,$4,$5,$6)`, referralID, rec.ID, rec.ContentType, rec.SHA256, rec.Size, sealed)
}

func (t *tx) RecordContent(ctx context.Context, referralID, recordID string) ([]byte, error) {
	if sealed, ok := t.cache.record(referralID, recordID); ok {
		return append([]byte(nil), sealed...), nil
	}
	var sealed []byte
	if err := t.queryRow(ctx, `SELECT sealed FROM record_contents WHERE referral_id=$1 AND record_id=$2`,
		referralID, recordID).Scan(&sealed); err != nil {
		return nil, fmt.Errorf("record %s: %w", recordID, err)
	}
	return sealed, nil
}

func (t *tx) RecordReferral(ctx context.Context, recordID string) (string, error) {
	var referralID string
	if err := t.queryRow(ctx, `SELECT referral_id FROM record_contents WHERE record_id=$1`, recordID).Scan(&referralID); err != nil {
		return "", fmt.Errorf("record %s: %w", recordID, err)
	}
	return referralID, nil
}

// escapeLike escapes LIKE's wildcards (and its escape character) in s.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s)
}

// ---- deliveries

func deliveryAD(id string) []byte { return gateway.RowAD("delivery", id) }

func (t *tx) InsertDelivery(ctx context.Context, d *gateway.Delivery) error {
	doc, err := t.sealJSON(deliveryAD(d.ID), d)
	if err != nil {
		return err
	}
	return t.execLater(ctx, false, wrapErr("insert delivery"), `INSERT INTO deliveries (id, referral_id, channel, state, remote_id, updated_at, deadline, doc)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, d.ID, d.ReferralID, string(d.Channel), string(d.State), nullable(d.RemoteID),
		d.Updated, d.Deadline, doc)
}

func (t *tx) UpdateDelivery(ctx context.Context, d *gateway.Delivery) error {
	doc, err := t.sealJSON(deliveryAD(d.ID), d)
	if err != nil {
		return err
	}
	id := d.ID
	return t.execLater(ctx, true, func(err error) error {
		if errors.Is(err, ErrNoRowsChanged) {
			return fmt.Errorf("delivery %s: %w", id, gateway.ErrNotFound)
		}
		return fmt.Errorf("update delivery: %w", err)
	}, `UPDATE deliveries SET state=$2, remote_id=$3, updated_at=$4, deadline=$5, doc=$6 WHERE id=$1`,
		d.ID, string(d.State), nullable(d.RemoteID), d.Updated, d.Deadline, doc)
}

// scanDelivery reads (id, doc) and opens the document.
func (t *tx) scanDelivery(ctx context.Context, row interface{ Scan(...any) error }) (*gateway.Delivery, error) {
	var (
		id  string
		doc []byte
	)
	if err := row.Scan(&id, &doc); err != nil {
		return nil, err
	}
	var d gateway.Delivery
	if err := t.openJSON(ctx, "delivery "+id, deliveryAD(id), doc, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func (t *tx) Delivery(ctx context.Context, id string, lock bool) (*gateway.Delivery, error) {
	var (
		d   *gateway.Delivery
		err error
	)
	if lock && t.d.ForUpdate != "" {
		d, err = t.lockDelivery(ctx, id)
	} else {
		d, err = t.scanDelivery(ctx, t.queryRow(ctx, `SELECT id, doc FROM deliveries WHERE id=$1`+t.lock(lock), id))
	}
	if err != nil {
		return nil, fmt.Errorf("delivery %s: %w", id, err)
	}
	return d, nil
}

func (t *tx) Deliveries(ctx context.Context, referralID string) ([]*gateway.Delivery, error) {
	raw, err := t.sealedRows(ctx, `SELECT id, doc FROM deliveries WHERE referral_id=$1 ORDER BY id`, referralID)
	if err != nil {
		return nil, fmt.Errorf("deliveries of %s: %w", referralID, err)
	}
	out := make([]*gateway.Delivery, 0, len(raw))
	for _, r := range raw {
		var d gateway.Delivery
		if err := t.openJSON(ctx, "delivery "+r.id, deliveryAD(r.id), r.doc, &d); err != nil {
			return nil, err
		}
		out = append(out, &d)
	}
	return out, nil
}

// sealedRow is an (id, sealed document) pair read ahead of opening.
type sealedRow struct {
	id  string
	doc []byte
}

// sealedRows runs a query selecting (id, doc) and reads every row before
// any is opened: opening may load a data key, which needs the connection.
func (t *tx) sealedRows(ctx context.Context, q string, args ...any) ([]sealedRow, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var out []sealedRow
	for rows.Next() {
		var r sealedRow
		if err := rows.Scan(&r.id, &r.doc); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
	}
	err = rows.Err()
	rows.Close()
	return out, err
}

func (t *tx) DeliveryByRemoteID(ctx context.Context, channel gateway.ChannelKind, remoteID string) (*gateway.Delivery, error) {
	d, err := t.scanDelivery(ctx, t.queryRow(ctx, `SELECT id, doc FROM deliveries WHERE channel=$1 AND remote_id=$2 ORDER BY id DESC LIMIT 1`,
		string(channel), remoteID))
	if err != nil {
		return nil, fmt.Errorf("delivery %s %s: %w", channel, remoteID, err)
	}
	return d, nil
}

// ---- directory

func (t *tx) PutEntry(ctx context.Context, e *gateway.Entry) error {
	delete(t.cache.entries, e.ID)
	plain := *e
	plain.Checks = nil // kept in their own column (PutEntryChecks)
	doc, err := json.Marshal(&plain)
	if err != nil {
		return err
	}
	var direct string
	if e.Direct != nil {
		direct = e.Direct.Address
	}
	n, err := t.exec(ctx, `INSERT INTO directory_entries (id, kind, name, npi, parent_id, direct_address, version, updated_at, doc)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
		ON CONFLICT (id) DO UPDATE SET kind=excluded.kind, name=excluded.name, npi=excluded.npi, parent_id=excluded.parent_id,
		direct_address=excluded.direct_address, version=excluded.version, updated_at=excluded.updated_at, doc=excluded.doc
		WHERE directory_entries.version = excluded.version - 1`,
		e.ID, string(e.Kind), e.Name, nullable(e.NPI), nullable(e.ParentID), nullable(direct), e.Version, e.Updated, string(doc))
	if err != nil {
		return fmt.Errorf("put entry %s: %w", e.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("entry %s changed concurrently: %w", e.ID, gateway.ErrConflict)
	}
	return nil
}

// PutEntryChecks replaces the entry's channel checks without changing its
// version.
func (t *tx) PutEntryChecks(ctx context.Context, id string, checks []gateway.ChannelCheck) error {
	delete(t.cache.entries, id)
	var doc any // NULL when there are none
	if len(checks) > 0 {
		b, err := json.Marshal(checks)
		if err != nil {
			return err
		}
		doc = string(b)
	}
	n, err := t.exec(ctx, `UPDATE directory_entries SET checks = $1 WHERE id = $2`, doc, id)
	if err != nil {
		return fmt.Errorf("entry %s checks: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("entry %s: %w", id, gateway.ErrNotFound)
	}
	return nil
}

// entryColumns are what scanEntry reads.
const entryColumns = "doc, checks"

func scanEntry(row interface{ Scan(...any) error }) (*gateway.Entry, error) {
	var raw rawEntry
	if err := row.Scan(&raw.doc, &raw.checks); err != nil {
		return nil, err
	}
	return decodeEntry(raw)
}

// decodeEntry decodes an entry's document and checks columns.
func decodeEntry(raw rawEntry) (*gateway.Entry, error) {
	doc, checks := raw.doc, raw.checks
	var e gateway.Entry
	if err := json.Unmarshal([]byte(doc), &e); err != nil {
		return nil, fmt.Errorf("decode entry: %w", err)
	}
	if checks != nil {
		if err := json.Unmarshal([]byte(*checks), &e.Checks); err != nil {
			return nil, fmt.Errorf("decode entry %s checks: %w", e.ID, err)
		}
	}
	return &e, nil
}

func (t *tx) Entry(ctx context.Context, id string) (*gateway.Entry, error) {
	raw, ok := t.cache.entry(id)
	if !ok {
		if err := t.queryRow(ctx, `SELECT `+entryColumns+` FROM directory_entries WHERE id=$1`, id).Scan(&raw.doc, &raw.checks); err != nil {
			return nil, fmt.Errorf("entry %s: %w", id, err)
		}
		t.cache.putEntry(id, raw)
	}
	e, err := decodeEntry(raw)
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", id, err)
	}
	return e, nil
}

func (t *tx) ListEntries(ctx context.Context, q gateway.EntryQuery) ([]*gateway.Entry, error) {
	var (
		where []string
		args  []any
	)
	if q.Kind != "" {
		args = append(args, string(q.Kind))
		where = append(where, fmt.Sprintf("kind = $%d", len(args)))
	}
	if q.ParentID != "" {
		args = append(args, q.ParentID)
		where = append(where, fmt.Sprintf("parent_id = $%d", len(args)))
	}
	if q.Search != "" {
		args = append(args, "%"+strings.ToLower(q.Search)+"%")
		n := len(args)
		where = append(where, fmt.Sprintf("(lower(name) LIKE $%d OR lower(id) LIKE $%d OR npi LIKE $%d OR lower(direct_address) LIKE $%d)", n, n, n, n))
	}
	if q.DirectAddress != "" {
		args = append(args, q.DirectAddress)
		where = append(where, fmt.Sprintf("lower(direct_address) = lower($%d)", len(args)))
	}
	if q.AfterID != "" {
		args = append(args, q.AfterID)
		where = append(where, fmt.Sprintf("id > $%d", len(args)))
	}
	sql := "SELECT " + entryColumns + " FROM directory_entries"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY id"
	if q.Limit > 0 {
		sql += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	rows, err := t.query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list entries: %w", err)
	}
	defer rows.Close()
	var out []*gateway.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ---- BAAs and consents

func (t *tx) PutBAA(ctx context.Context, b *gateway.BAA) error {
	doc, err := json.Marshal(b)
	if err != nil {
		return err
	}
	n, err := t.exec(ctx, `INSERT INTO baas (party_id, id, state, end_date, version, updated_at, doc) VALUES ($1,$2,$3,$4,$5,$6,$7)
		ON CONFLICT (party_id) DO UPDATE SET id=excluded.id, state=excluded.state, end_date=excluded.end_date,
		version=excluded.version, updated_at=excluded.updated_at, doc=excluded.doc WHERE baas.version = excluded.version - 1`,
		b.PartyID, b.ID, string(b.State), b.End, b.Version, b.Updated, string(doc))
	if err != nil {
		return fmt.Errorf("put BAA %s: %w", b.PartyID, err)
	}
	if n == 0 {
		return fmt.Errorf("BAA %s changed concurrently: %w", b.PartyID, gateway.ErrConflict)
	}
	return nil
}

func scanBAA(row interface{ Scan(...any) error }) (*gateway.BAA, error) {
	var doc string
	if err := row.Scan(&doc); err != nil {
		return nil, err
	}
	var b gateway.BAA
	if err := json.Unmarshal([]byte(doc), &b); err != nil {
		return nil, fmt.Errorf("decode BAA: %w", err)
	}
	return &b, nil
}

// BAAForParty reads the party's BAA. With row-level security a practice
// reads its own and the vendors' from the table, and the BAA of a party
// of a practice it has referred to as the database's answer
// (gateway_partner_baa, migration 031): the id, party, state and end date
// the send gate needs, nothing else. The answer is asked only when the
// table shows no row.
func (t *tx) BAAForParty(ctx context.Context, partyID string) (*gateway.BAA, error) {
	if !t.d.RowSecurity {
		b, err := scanBAA(t.queryRow(ctx, `SELECT doc FROM baas WHERE party_id=$1`, partyID))
		if err != nil {
			return nil, fmt.Errorf("BAA of %s: %w", partyID, err)
		}
		return b, nil
	}
	var doc *string
	err := t.queryRow(ctx, `SELECT coalesce((SELECT doc FROM baas WHERE party_id=$1), gateway_partner_baa($1))`, partyID).Scan(&doc)
	if err == nil && doc == nil {
		err = gateway.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("BAA of %s: %w", partyID, err)
	}
	var b gateway.BAA
	if err := json.Unmarshal([]byte(*doc), &b); err != nil {
		return nil, fmt.Errorf("BAA of %s: decode: %w", partyID, err)
	}
	return &b, nil
}

func (t *tx) ListBAAs(ctx context.Context) ([]*gateway.BAA, error) {
	rows, err := t.query(ctx, `SELECT doc FROM baas ORDER BY party_id`)
	if err != nil {
		return nil, fmt.Errorf("list BAAs: %w", err)
	}
	defer rows.Close()
	var out []*gateway.BAA
	for rows.Next() {
		b, err := scanBAA(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

func consentAD(id string) []byte { return gateway.RowAD("consent", id) }

func (t *tx) PutConsent(ctx context.Context, c *gateway.ConsentRecord) error {
	doc, err := t.sealJSON(consentAD(c.ID), c)
	if err != nil {
		return err
	}
	patient, err := t.blind(idxPatientValue, c.PatientID)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO consents (id, tenant, patient_id, kind, doc) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (id) DO UPDATE SET tenant=excluded.tenant, patient_id=excluded.patient_id, kind=excluded.kind, doc=excluded.doc`,
		c.ID, c.Tenant, patient, string(c.Kind), doc)
	if err != nil {
		return fmt.Errorf("put consent: %w", err)
	}
	return nil
}

func (t *tx) Consents(ctx context.Context, tenant, patientID string) ([]gateway.ConsentRecord, error) {
	patient, err := t.blind(idxPatientValue, patientID)
	if err != nil {
		return nil, err
	}
	raw, err := t.sealedRows(ctx, `SELECT id, doc FROM consents WHERE tenant=$1 AND patient_id=$2 ORDER BY id`, tenant, patient)
	if err != nil {
		return nil, fmt.Errorf("consents: %w", err)
	}
	var out []gateway.ConsentRecord
	for _, r := range raw {
		var c gateway.ConsentRecord
		if err := t.openJSON(ctx, "consent "+r.id, consentAD(r.id), r.doc, &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// ---- audit and jobs

// Audit buffers ev for each of its tenants; flushAudit appends the buffer
// to the chains just before commit.
func (t *tx) Audit(ctx context.Context, ev audit.Event) error {
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("audit event: %w", err)
	}
	t.pending = append(t.pending, ev)
	return nil
}

// flushAudit appends the buffered events to audit_events, unsequenced,
// with one INSERT: they commit or roll back with the transaction, and no
// chain head is locked. The sequencer gives them their places in the
// tenants' chains after commit.
func (t *tx) flushAudit(ctx context.Context) error {
	if len(t.pending) == 0 {
		return nil
	}
	var (
		values []string
		args   []any
	)
	for _, ev := range t.pending {
		tenants, err := json.Marshal(ev.Tenants)
		if err != nil {
			return err
		}
		detail, err := json.Marshal(ev.Detail)
		if err != nil {
			return err
		}
		n := len(args)
		values = append(values, fmt.Sprintf("($%d,$%d,$%d,$%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7))
		args = append(args, ev.Time.UTC().Truncate(time.Microsecond), ev.Actor, string(tenants), nullable(ev.ReferralID),
			ev.Action, ev.Outcome, string(detail))
	}
	t.pending = nil
	// Appending is the named gateway-wide path "audit-append": an event
	// about a shared referral goes into both practices' queues of events.
	// It runs last, just before commit, so nothing else runs in this scope.
	if err := t.setScope(ctx, gateway.Scope{GatewayPath: "audit-append"}); err != nil {
		return err
	}
	return t.execLater(ctx, false, wrapErr("append audit events"),
		`INSERT INTO audit_events (at, actor, tenants, referral_id, action, outcome, detail) VALUES `+strings.Join(values, ","), args...)
}

func (t *tx) Enqueue(ctx context.Context, j gateway.Job) error {
	args, opts := jobArgs(j, t.queue)
	opts.Metadata = traceMetadata(ctx)
	if err := t.btx.InsertJob(ctx, args, opts); err != nil {
		return fmt.Errorf("enqueue %s %s%s: %w", j.Kind, j.DeliveryID, j.Ref, err)
	}
	return nil
}

package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
)

// adminEvent audits a directory, BAA or consent change in the trail of the
// tenant it concerns.
func (s *Service) adminEvent(ctx context.Context, tx Tx, actor Actor, tenant, action, outcome string, detail map[string]string) error {
	if tenant == "" {
		tenant = "directory"
	}
	return tx.Audit(ctx, audit.Event{Time: s.clock.Now(), Actor: actor.ID, Tenants: []string{tenant},
		Action: action, Outcome: outcome, Detail: detail})
}

// directoryScope returns ctx on the gateway-wide path PathDirectory, or
// ErrForbidden for an actor that acts for one practice: the directory is
// shared by every practice and only gateway-wide administrators change it.
func directoryScope(ctx context.Context, actor Actor) (context.Context, error) {
	sc := ScopeFrom(ctx)
	if actor.OrgID != "" || sc.Practice != "" {
		return nil, fmt.Errorf("directory administration is gateway-wide: %w", ErrForbidden)
	}
	if sc.Empty() {
		ctx = GatewayWide(ctx, PathDirectory)
	}
	return ctx, nil
}

// readScope returns ctx unchanged when it carries a scope, else on the
// named gateway-wide path: for reads of what is shared or holds no PHI
// (the directory, BAAs).
func readScope(ctx context.Context, path string) context.Context {
	if ScopeFrom(ctx).Empty() {
		return GatewayWide(ctx, path)
	}
	return ctx
}

// PutEntry adds a directory entry or replaces one; for a replacement
// e.Version must be the version the admin read (ErrConflict otherwise).
// Verification is kept unless the contact details changed.
func (s *Service) PutEntry(ctx context.Context, actor Actor, e *Entry) (*Entry, error) {
	if err := ValidateEntry(e); err != nil {
		return nil, err
	}
	ctx, err := directoryScope(ctx, actor)
	if err != nil {
		return nil, fmt.Errorf("directory entry %s: %w", e.ID, err)
	}
	var action string
	err = s.update(ctx, func(tx Tx) error {
		if e.ParentID != "" {
			if _, err := tx.Entry(ctx, e.ParentID); errors.Is(err, ErrNotFound) {
				return &ValidationError{"parentId", fmt.Sprintf("unknown parent %q", e.ParentID)}
			} else if err != nil {
				return err
			}
		}
		old, err := tx.Entry(ctx, e.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			action = "directory.added"
			e.Version = 1
		case err != nil:
			return err
		default:
			action = "directory.changed"
			if e.Version != 0 && e.Version != old.Version {
				return &VersionConflict{ID: "entry " + e.ID, Version: old.Version, Want: e.Version}
			}
			e.Version = old.Version + 1
			if e.Verification == nil && sameContacts(old, e) {
				e.Verification = old.Verification
			}
		}
		e.Updated = s.clock.Now()
		if err := tx.PutEntry(ctx, e); err != nil {
			return err
		}
		return s.adminEvent(ctx, tx, actor, rootOf(ctx, tx, e), action, audit.OutcomeSuccess, map[string]string{"entry": e.ID, "kind": string(e.Kind)})
	})
	if err != nil {
		return nil, fmt.Errorf("directory entry %s: %w", e.ID, err)
	}
	return e, nil
}

// sameContacts reports whether two versions of an entry reach the same
// endpoints (a changed endpoint must be verified again).
func sameContacts(a, b *Entry) bool {
	addr := func(e *Entry) (string, string, string) {
		var f, d, x string
		if e.FHIR != nil {
			f = e.FHIR.BaseURL
		}
		if e.Direct != nil {
			d = e.Direct.Address
		}
		if e.Fax != nil {
			x = e.Fax.Number
		}
		return f, d, x
	}
	af, ad, ax := addr(a)
	bf, bd, bx := addr(b)
	return af == bf && ad == bd && ax == bx
}

// rootOf returns the id of the root organisation of e (its tenant).
func rootOf(ctx context.Context, tx Tx, e *Entry) string {
	if e.ParentID == "" {
		return e.ID
	}
	chain, err := ancestry(ctx, tx, e.ParentID)
	if err != nil || len(chain) == 0 {
		return e.ID
	}
	return chain[len(chain)-1].ID
}

// VerifyEntry records that an admin confirmed a party's contact details.
func (s *Service) VerifyEntry(ctx context.Context, actor Actor, id, method string) (*Entry, error) {
	if method == "" {
		return nil, &ValidationError{"method", "say how the contact was verified"}
	}
	ctx, err := directoryScope(ctx, actor)
	if err != nil {
		return nil, fmt.Errorf("verify entry %s: %w", id, err)
	}
	var e *Entry
	err = s.update(ctx, func(tx Tx) error {
		var err error
		if e, err = tx.Entry(ctx, id); err != nil {
			return err
		}
		e.Verification = &Verification{By: actor.ID, Method: method, At: s.clock.Now()}
		e.Version++
		e.Updated = s.clock.Now()
		if err := tx.PutEntry(ctx, e); err != nil {
			return err
		}
		return s.adminEvent(ctx, tx, actor, rootOf(ctx, tx, e), "directory.verified", audit.OutcomeSuccess, map[string]string{"entry": id, "method": method})
	})
	if err != nil {
		return nil, fmt.Errorf("verify entry %s: %w", id, err)
	}
	return e, nil
}

// Entry loads one directory entry.
func (s *Service) Entry(ctx context.Context, id string) (*Entry, error) {
	ctx = readScope(ctx, PathDirectory)
	var e *Entry
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		e, err = tx.Entry(ctx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("directory entry %s: %w", id, err)
	}
	return e, nil
}

// ListEntries lists directory entries.
func (s *Service) ListEntries(ctx context.Context, q EntryQuery) ([]*Entry, error) {
	ctx = readScope(ctx, PathDirectory)
	var out []*Entry
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.ListEntries(ctx, q)
		return err
	})
	return out, err
}

// EntriesWithDirectAddress lists the directory entries whose Direct
// address is addr (case-insensitive): the parties a message to addr is
// for.
func (s *Service) EntriesWithDirectAddress(ctx context.Context, addr string) ([]*Entry, error) {
	ctx = readScope(ctx, PathDirectory)
	var out []*Entry
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = entriesWithDirectAddress(ctx, tx, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("directory entries for %s: %w", addr, err)
	}
	return out, nil
}

// entriesWithDirectAddress is EntriesWithDirectAddress inside tx: one
// indexed lookup of the exact address. It runs for every recipient of
// every received message and at RCPT TO, so it must not scan the directory.
func entriesWithDirectAddress(ctx context.Context, tx Tx, addr string) ([]*Entry, error) {
	hits, err := tx.ListEntries(ctx, EntryQuery{DirectAddress: addr})
	if err != nil {
		return nil, err
	}
	out := hits[:0]
	for _, e := range hits {
		// The database folds ASCII case (SQLite's lower()); Go folds the rest.
		if e.Direct != nil && strings.EqualFold(e.Direct.Address, addr) {
			out = append(out, e)
		}
	}
	return out, nil
}

// BAAChange is a requested BAA transition.
type BAAChange struct {
	PartyID  string    `json:"partyId"`
	State    BAAState  `json:"state"`
	Start    time.Time `json:"start,omitzero"`
	End      time.Time `json:"end,omitzero"`
	Document string    `json:"document,omitempty"`
}

// SetBAA moves the BAA with a party to a new stored state (creating it on
// first use). The transition is checked against the state in force, and
// every change or refusal is audited. An actor that acts for a practice
// changes only that practice's BAAs; vendors' BAAs are gateway-wide.
func (s *Service) SetBAA(ctx context.Context, actor Actor, c BAAChange) (*BAA, error) {
	practice := ScopeFrom(ctx).Practice
	if actor.OrgID != "" {
		if practice != "" && practice != actor.OrgID {
			return nil, fmt.Errorf("BAA with %s: actor of %s acting for %s: %w", c.PartyID, actor.OrgID, practice, ErrForbidden)
		}
		practice = actor.OrgID
	}
	if practice != "" {
		ctx = actAs(ctx, practice)
	} else {
		ctx = readScope(ctx, PathBAA)
	}
	var b *BAA
	var refusal error
	err := s.update(ctx, func(tx Tx) error {
		party, err := tx.Entry(ctx, c.PartyID)
		if errors.Is(err, ErrNotFound) {
			return &ValidationError{"partyId", fmt.Sprintf("unknown party %q", c.PartyID)}
		} else if err != nil {
			return err
		}
		tenant := rootOf(ctx, tx, party)
		if practice != "" && (tenant != practice || party.Kind == KindVendor) {
			return fmt.Errorf("the BAA with %s belongs to %s, not %s: %w", c.PartyID, BAATenant(party, tenant), practice, ErrForbidden)
		}
		b, err = tx.BAAForParty(ctx, c.PartyID)
		if errors.Is(err, ErrNotFound) {
			b = &BAA{ID: NewID(), PartyID: c.PartyID}
		} else if err != nil {
			return err
		}
		from := b.Effective(s.clock.Now(), s.cfg.BAAWarningWindow)
		end := b.End
		if !c.End.IsZero() {
			end = c.End
		}
		refusal = CheckBAATransition(from, c.State)
		if refusal == nil && c.State == BAAActive && !end.IsZero() && !end.After(s.clock.Now()) {
			refusal = &ValidationError{"end", "an active BAA needs an end date in the future"}
		}
		if refusal == nil && c.State == BAAActive && (from == BAAExpired || from == BAAExpiring) && !c.End.After(b.End) {
			refusal = &ValidationError{"end", "renewing a BAA needs a later end date"}
		}
		if refusal != nil {
			return s.adminEvent(ctx, tx, actor, tenant, "baa.transition-refused", audit.OutcomeRefused, map[string]string{
				"party": c.PartyID, "from": string(from), "to": string(c.State), "reason": refusal.Error()})
		}
		b.State = c.State
		if !c.Start.IsZero() {
			b.Start = c.Start
		}
		b.End = end
		if c.Document != "" {
			b.Document = c.Document
		}
		b.Version++
		b.Updated = s.clock.Now()
		if err := tx.PutBAA(ctx, b); err != nil {
			return err
		}
		return s.adminEvent(ctx, tx, actor, tenant, "baa.transition", audit.OutcomeSuccess, map[string]string{
			"party": c.PartyID, "from": string(from), "to": string(c.State)})
	})
	if err != nil {
		return nil, fmt.Errorf("BAA with %s: %w", c.PartyID, err)
	}
	if refusal != nil {
		return nil, fmt.Errorf("BAA with %s: %w", c.PartyID, refusal)
	}
	return b, nil
}

// BAATenant names whose BAA the one with party is: the gateway's for a
// vendor, else the practice at the root of the party's directory chain
// (root). PostgreSQL derives the same in its baas.tenant column.
func BAATenant(party *Entry, root string) string {
	if party.Kind == KindVendor {
		return SystemTenant
	}
	return root
}

// BAAs lists the BAAs the caller may see: all of them on a gateway-wide
// path, else those its practice may read (on PostgreSQL: its own and the
// vendors'; of a practice it has referred to, the send gate gets an
// answer per party, not a list).
func (s *Service) BAAs(ctx context.Context) ([]*BAA, error) {
	ctx = readScope(ctx, PathBAA)
	var out []*BAA
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.ListBAAs(ctx)
		return err
	})
	return out, err
}

// CaptureConsent puts an authorization or Part 2 consent on file.
func (s *Service) CaptureConsent(ctx context.Context, actor Actor, c ConsentRecord) (*ConsentRecord, error) {
	var errs ValidationErrors
	if c.Tenant == "" {
		errs = append(errs, &ValidationError{"tenant", "required"})
	}
	if c.PatientID == "" {
		errs = append(errs, &ValidationError{"patientId", "required"})
	}
	if c.Kind != ConsentAuthorization && c.Kind != ConsentPart2 {
		errs = append(errs, &ValidationError{"kind", "must be authorization or part2"})
	}
	if c.Signed.IsZero() {
		errs = append(errs, &ValidationError{"signed", "the signature date is required"})
	}
	if !c.Expires.IsZero() && !c.Expires.After(c.Signed) {
		errs = append(errs, &ValidationError{"expires", "must be after the signature date"})
	}
	if err := errs.orNil(); err != nil {
		return nil, err
	}
	if c.ID == "" {
		c.ID = NewID()
	}
	if p := ScopeFrom(ctx).Practice; (p != "" && p != c.Tenant) || (actor.OrgID != "" && actor.OrgID != c.Tenant) {
		return nil, fmt.Errorf("capture consent for %s: %w", c.Tenant, ErrForbidden)
	}
	ctx = actAs(ctx, c.Tenant)
	err := s.update(ctx, func(tx Tx) error {
		if err := tx.PutConsent(ctx, &c); err != nil {
			return err
		}
		return s.adminEvent(ctx, tx, actor, c.Tenant, "consent.captured", audit.OutcomeSuccess, map[string]string{
			"consent": c.ID, "kind": string(c.Kind)})
	})
	if err != nil {
		return nil, fmt.Errorf("capture consent: %w", err)
	}
	return &c, nil
}

// ListReferrals lists the referrals matching q that the caller's practice
// is part of. Without a scope in ctx, a query naming one organisation acts
// for it, and any other lists nothing (on both stores, as PostgreSQL's
// policies would); gateway-wide work names its path (GatewayWide).
func (s *Service) ListReferrals(ctx context.Context, q ReferralQuery) ([]*Referral, error) {
	sc := ScopeFrom(ctx)
	if sc.Empty() {
		org := cmp.Or(q.InvolvesOrg, q.RequesterOrg, q.ReceiverOrg)
		if org == "" {
			return nil, nil
		}
		ctx, sc = WithPractice(ctx, org), Scope{Practice: org}
	}
	filter := false
	if sc.Practice != "" {
		if q.InvolvesOrg == "" {
			q.InvolvesOrg = sc.Practice
		} else {
			filter = q.InvolvesOrg != sc.Practice
		}
	}
	var out []*Referral
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.ListReferrals(ctx, q)
		return err
	})
	if filter {
		out = slices.DeleteFunc(out, func(r *Referral) bool { return !r.Involves(sc.Practice) })
	}
	return out, err
}

// AuditEntries streams audit entries ordered by (tenant, seq): acting for
// a practice, only that practice's chain; without a scope, every chain on
// the named path PathAudit (the trail holds ids and metadata, no PHI).
func (s *Service) AuditEntries(ctx context.Context, q AuditQuery) iter.Seq2[audit.Entry, error] {
	return s.store.AuditEntries(ctx, q)
}

// RecordAudit appends an event that an edge observed (a login, an auth
// decision, a refused request) to the trail.
func (s *Service) RecordAudit(ctx context.Context, ev audit.Event) error {
	if ev.Time.IsZero() {
		ev.Time = s.clock.Now()
	}
	return s.update(ctx, func(tx Tx) error { return tx.Audit(ctx, ev) })
}

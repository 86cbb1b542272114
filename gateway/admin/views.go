package admin

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// ReferralView is what the admin face shows of a referral: states, parties
// and timing, never the patient's identity, the clinical reason or the
// on-hold conversation (minimum necessary for watching referrals move).
type ReferralView struct {
	ID             string           `json:"id"`
	Version        int              `json:"version"`
	Status         gateway.Status   `json:"status"`
	Priority       gateway.Priority `json:"priority,omitempty"`
	Created        time.Time        `json:"created"`
	Updated        time.Time        `json:"updated"`
	RequesterOrg   string           `json:"requesterOrg"`
	ReceiverID     string           `json:"receiverId"`
	ReceiverOrgID  string           `json:"receiverOrgId,omitempty"`
	BusinessStatus string           `json:"businessStatus,omitempty"`
	Blocked        string           `json:"blocked,omitempty"`
	FailureReason  string           `json:"failureReason,omitempty"`
	Replaces       string           `json:"replaces,omitempty"`
	ReplacedBy     string           `json:"replacedBy,omitempty"`
	BasedOn        string           `json:"basedOn,omitempty"`
	FollowUps      []string         `json:"followUps,omitempty"`
	Records        int              `json:"records"`
}

func referralView(r *gateway.Referral) ReferralView {
	return ReferralView{ID: r.ID, Version: r.Version, Status: r.Status, Priority: r.Priority, Created: r.Created, Updated: r.Updated,
		RequesterOrg: r.Requester.OrgID, ReceiverID: r.ReceiverID, ReceiverOrgID: r.ReceiverOrgID, BusinessStatus: r.BusinessStatus,
		Blocked: r.Blocked, FailureReason: r.FailureReason, Replaces: r.Replaces, ReplacedBy: r.ReplacedBy,
		BasedOn: r.BasedOn, FollowUps: r.FollowUps, Records: len(r.Records)}
}

// TransitionView is one lifecycle move: who, when, and the reason code
// (the free-text reason may carry PHI and is left out).
type TransitionView struct {
	From       gateway.Status `json:"from"`
	To         gateway.Status `json:"to"`
	Actor      string         `json:"actor"`
	At         time.Time      `json:"at"`
	ReasonCode string         `json:"reasonCode,omitempty"`
}

// AuditEntryView is one audit chain entry as shown to admins.
type AuditEntryView struct {
	Tenant     string            `json:"tenant"`
	Seq        int64             `json:"seq"`
	Time       time.Time         `json:"time"`
	Actor      string            `json:"actor"`
	ReferralID string            `json:"referralId,omitempty"`
	Action     string            `json:"action"`
	Outcome    string            `json:"outcome"`
	Detail     map[string]string `json:"detail,omitempty"`
}

func auditEntryView(e audit.Entry) AuditEntryView {
	return AuditEntryView{Tenant: e.Tenant, Seq: e.Seq, Time: e.Time, Actor: e.Actor, ReferralID: e.ReferralID,
		Action: e.Action, Outcome: e.Outcome, Detail: e.Detail}
}

// Timeline is everything that happened to one referral.
type Timeline struct {
	Referral    ReferralView        `json:"referral"`
	Transitions []TransitionView    `json:"transitions"`
	Deliveries  []*gateway.Delivery `json:"deliveries"`
	Audit       []AuditEntryView    `json:"audit"`
}

func (s *Server) timeline(ctx context.Context, id string) (*Timeline, error) {
	r, ds, err := s.svc.Referral(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("admin: timeline %s: %w", id, err)
	}
	t := &Timeline{Referral: referralView(r), Transitions: []TransitionView{}, Deliveries: ds, Audit: []AuditEntryView{}}
	if t.Deliveries == nil {
		t.Deliveries = []*gateway.Delivery{}
	}
	for _, h := range r.History {
		t.Transitions = append(t.Transitions, TransitionView{From: h.From, To: h.To, Actor: h.Actor, At: h.At, ReasonCode: h.ReasonCode})
	}
	for e, err := range s.svc.AuditEntries(ctx, gateway.AuditQuery{ReferralID: id}) {
		if err != nil {
			return nil, fmt.Errorf("admin: timeline %s: audit: %w", id, err)
		}
		t.Audit = append(t.Audit, auditEntryView(e))
	}
	slices.SortStableFunc(t.Audit, func(a, b AuditEntryView) int { return a.Time.Compare(b.Time) })
	return t, nil
}

// ReferralFilter selects referrals for the tracker.
type ReferralFilter struct {
	Status   gateway.Status
	Receiver string
	Channel  gateway.ChannelKind
	// MinAge keeps referrals created at least this long ago (stuck ones).
	MinAge time.Duration
	// Patient keeps referrals whose patient's family or given name
	// contains it, ignoring case. Names are sealed at rest, so this
	// filters after decryption, and only within one practice.
	Patient string
	After   string
	Limit   int
}

// parseAge reads an age such as "36h", "90m" or "7d".
func parseAge(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d < 0 || d > 36500 {
			return 0, fmt.Errorf("not a number of days")
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("use a duration such as 36h or 7d")
	}
	return d, nil
}

// parseLimit reads a page size: default def, at most 500.
func parseLimit(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 500 {
		return 0, fmt.Errorf("must be a whole number from 1 to 500")
	}
	return n, nil
}

// parseReferralFilter reads the tracker's query parameters; every bad one
// is named.
func parseReferralFilter(get func(string) string) (ReferralFilter, gateway.ValidationErrors) {
	var f ReferralFilter
	var errs gateway.ValidationErrors
	if st := gateway.Status(get("status")); st != "" {
		if !gateway.ValidStatus(st) {
			errs = append(errs, &gateway.ValidationError{Field: "status", Reason: "unknown status " + string(st)})
		}
		f.Status = st
	}
	if ch := gateway.ChannelKind(get("channel")); ch != "" {
		if !gateway.ValidChannel(ch) {
			errs = append(errs, &gateway.ValidationError{Field: "channel", Reason: "must be fhir, direct or fax"})
		}
		f.Channel = ch
	}
	f.Receiver = strings.TrimSpace(get("receiver"))
	f.Patient = strings.TrimSpace(get("patient"))
	var err error
	if f.MinAge, err = parseAge(get("age")); err != nil {
		errs = append(errs, &gateway.ValidationError{Field: "age", Reason: err.Error()})
	}
	if f.Limit, err = parseLimit(get("limit"), 50); err != nil {
		errs = append(errs, &gateway.ValidationError{Field: "limit", Reason: err.Error()})
	}
	f.After = get("after")
	return f, errs
}

// ReferralRow is one line of the tracker.
type ReferralRow struct {
	ReferralView
	Channels []gateway.ChannelKind `json:"channels"` // channels of its deliveries, in order
}

// referrals lists one page of the tracker; next is the id to continue
// after, empty on the last page.
func (s *Server) referrals(ctx context.Context, f ReferralFilter) (rows []ReferralRow, next string, err error) {
	q := gateway.ReferralQuery{ReceiverID: f.Receiver, AfterID: f.After, Limit: f.Limit}
	if f.Status != "" {
		q.Statuses = []gateway.Status{f.Status}
	}
	if f.Patient != "" && gateway.ScopeFrom(ctx).Practice == "" {
		return nil, "", &gateway.ValidationError{Field: "patient",
			Reason: "searching by patient name needs a practice: names are sealed at rest and searched one practice at a time"}
	}
	cutoff := s.clock.Now().Add(-f.MinAge)
	rows = []ReferralRow{}
	for {
		page, err := s.svc.ListReferrals(ctx, q)
		if err != nil {
			return nil, "", fmt.Errorf("admin: list referrals: %w", err)
		}
		for _, r := range page {
			next = r.ID
			if f.MinAge > 0 && r.Created.After(cutoff) {
				continue
			}
			if f.Patient != "" && !patientNamed(r.Patient, f.Patient) {
				continue
			}
			row := ReferralRow{ReferralView: referralView(r), Channels: []gateway.ChannelKind{}}
			_, ds, err := s.svc.Referral(ctx, r.ID)
			if err != nil {
				return nil, "", fmt.Errorf("admin: list referrals: %w", err)
			}
			for _, d := range ds {
				if !slices.Contains(row.Channels, d.Channel) {
					row.Channels = append(row.Channels, d.Channel)
				}
			}
			if f.Channel != "" && !slices.Contains(row.Channels, f.Channel) {
				continue
			}
			rows = append(rows, row)
			if len(rows) == f.Limit {
				return rows, next, nil
			}
		}
		if len(page) < q.Limit {
			return rows, "", nil
		}
		q.AfterID = next
	}
}

// BAARow is one party on the BAA board: its BAA (nil when none is on file)
// and the state in force.
type BAARow struct {
	Party     *gateway.Entry   `json:"party"`
	BAA       *gateway.BAA     `json:"baa,omitempty"`
	Effective gateway.BAAState `json:"effective,omitempty"` // empty: no BAA on file
}

// baaBoard lists every BAA with its state in force; withParties adds the
// directory entries that have none yet (the console's board). Acting for a
// practice, it lists only that practice's parties and BAAs.
func (s *Server) baaBoard(ctx context.Context, withParties bool) ([]BAARow, error) {
	rows, err := s.allBAAs(ctx, withParties)
	practice := gateway.ScopeFrom(ctx).Practice
	if err != nil || practice == "" {
		return rows, err
	}
	entries, err := s.allEntries(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]*gateway.Entry{}
	for _, e := range entries {
		byID[e.ID] = e
	}
	return slices.DeleteFunc(rows, func(row BAARow) bool {
		return row.Party == nil || baaTenant(byID, row.Party) != practice
	}), nil
}

// baaTenant is whose BAA the one with party is (gateway.BAATenant), the
// root found by walking the directory's parents.
func baaTenant(byID map[string]*gateway.Entry, party *gateway.Entry) string {
	root := party
	for hops := 0; root.ParentID != "" && hops < 16; hops++ {
		parent, ok := byID[root.ParentID]
		if !ok {
			break
		}
		root = parent
	}
	return gateway.BAATenant(party, root.ID)
}

// allBAAs is baaBoard before the practice filter.
func (s *Server) allBAAs(ctx context.Context, withParties bool) ([]BAARow, error) {
	baas, err := s.svc.BAAs(ctx)
	if err != nil {
		return nil, fmt.Errorf("admin: BAAs: %w", err)
	}
	now, window := s.clock.Now(), s.svc.Config().BAAWarningWindow
	byParty := map[string]*gateway.BAA{}
	for _, b := range baas {
		byParty[b.PartyID] = b
	}
	rows := []BAARow{}
	if withParties {
		entries, err := s.allEntries(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			row := BAARow{Party: e}
			if b := byParty[e.ID]; b != nil {
				row.BAA, row.Effective = b, b.Effective(now, window)
			}
			rows = append(rows, row)
		}
		return rows, nil
	}
	for _, b := range baas {
		row := BAARow{BAA: b, Effective: b.Effective(now, window)}
		if e, err := s.svc.Entry(ctx, b.PartyID); err == nil {
			row.Party = e
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// allEntries pages through the whole directory.
func (s *Server) allEntries(ctx context.Context) ([]*gateway.Entry, error) {
	var out []*gateway.Entry
	q := gateway.EntryQuery{Limit: 500}
	for {
		page, err := s.svc.ListEntries(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("admin: directory: %w", err)
		}
		out = append(out, page...)
		if len(page) < q.Limit {
			return out, nil
		}
		q.AfterID = page[len(page)-1].ID
	}
}

// VerifyReport is the result of verifying every audit chain.
type VerifyReport struct {
	OK          bool          `json:"ok"`
	Tenants     int           `json:"tenants"`
	Entries     int           `json:"entries"`
	Checkpoints int           `json:"checkpoints"`         // witnessed checkpoints compared
	Unsequenced int           `json:"unsequenced"`         // events not yet in a chain
	PublicKey   string        `json:"publicKey,omitempty"` // the audit log's verifier key, for auditors
	Breaks      []audit.Break `json:"breaks"`
	At          time.Time     `json:"at"`
}

// verifyAudit runs the gateway's one audit verification (the CLI's too).
func (s *Server) verifyAudit(ctx context.Context) (VerifyReport, error) {
	rep, err := s.svc.VerifyAudit(ctx)
	if err != nil {
		return VerifyReport{}, fmt.Errorf("admin: verify audit: %w", err)
	}
	out := VerifyReport{OK: rep.OK(), Tenants: rep.Tenants, Entries: rep.Entries, Checkpoints: rep.Checkpoints,
		Unsequenced: rep.Unsequenced, PublicKey: s.svc.AuditPublicKey(), Breaks: rep.Breaks, At: s.clock.Now()}
	if out.Breaks == nil {
		out.Breaks = []audit.Break{}
	}
	return out, nil
}

// recentAudit returns the newest n entries (of one tenant when set), newest
// first. The stream is ordered by tenant, not time, so it is read whole,
// holding at most 2n entries at a time.
func (s *Server) recentAudit(ctx context.Context, tenant string, n int) ([]AuditEntryView, error) {
	newest := func(list []AuditEntryView) []AuditEntryView {
		slices.SortStableFunc(list, func(a, b AuditEntryView) int { return b.Time.Compare(a.Time) })
		return list[:min(n, len(list))]
	}
	var keep []AuditEntryView
	for e, err := range s.svc.AuditEntries(ctx, gateway.AuditQuery{Tenant: tenant}) {
		if err != nil {
			return nil, fmt.Errorf("admin: audit trail: %w", err)
		}
		keep = append(keep, auditEntryView(e))
		if len(keep) >= 2*n {
			keep = newest(keep)
		}
	}
	return newest(keep), nil
}

// patientNamed reports whether the patient's family or given name contains
// part, ignoring case.
func patientNamed(p gateway.Patient, part string) bool {
	part = strings.ToLower(part)
	return strings.Contains(strings.ToLower(p.FamilyName), part) || strings.Contains(strings.ToLower(p.GivenName), part)
}

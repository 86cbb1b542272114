package gateway

import (
	"context"
	"fmt"
	"time"
)

// ReportFacts are the figures of one referral that practice reports
// aggregate. None of them is PHI, so the store keeps them in clear,
// indexed columns beside the (sealed) referral and a report never reads
// the referral itself or scans the audit trail.
type ReportFacts struct {
	Intra        bool        // referrer and receiver are locations of one organization
	Part2        bool        // 42 CFR Part 2 records or basis
	DeliveredVia ChannelKind // the channel whose delivery reached the receiver first; empty if none yet
	ReceivedAt   time.Time   // first receipt (zero: not yet)
	AnsweredAt   time.Time   // first acceptance or decline
	ClosedAt     time.Time   // outcome documented (completed)
	Declined     bool
	Rerouted     bool // replaced by a referral to another receiver
	InfoRequests int  // times put on hold with a question
	Refusals     []string
}

// ReportFacts derives the report figures from the referral's history.
func (r *Referral) ReportFacts() ReportFacts {
	f := ReportFacts{
		Intra:        r.ReceiverOrgID != "" && r.ReceiverOrgID == r.Requester.OrgID,
		Part2:        r.Sensitive.Part2 || r.Consent.Kind == ConsentPart2,
		DeliveredVia: r.DeliveredVia,
		Rerouted:     r.ReplacedBy != "",
		Refusals:     r.Refusals,
	}
	for _, t := range r.History {
		switch t.To {
		case StatusReceived:
			if f.ReceivedAt.IsZero() {
				f.ReceivedAt = t.At
			}
		case StatusAccepted, StatusRejected:
			if f.AnsweredAt.IsZero() {
				f.AnsweredAt = t.At
			}
			f.Declined = f.Declined || t.To == StatusRejected
		case StatusOnHold:
			f.InfoRequests++
		case StatusCompleted:
			f.ClosedAt = t.At
		}
	}
	return f
}

// ReportQuery selects the referrals of one practice report.
type ReportQuery struct {
	Practice string    // the practice (root organization id) the report is for
	From, To time.Time // creation time, From inclusive, To exclusive
	// OpenOlderThan is the age past which an open referral is listed for
	// remediation; zero means DefaultOpenAge.
	OpenOlderThan time.Duration
	// Now is the reference time for ages; zero means the service clock.
	Now time.Time
}

// DefaultOpenAge is the age past which an open referral needs attention.
const DefaultOpenAge = 14 * 24 * time.Hour

// PracticeReport is what a practice's leadership reviews: volumes by
// channel and direction, intra- vs cross-practice, response times,
// exceptions and what is still open.
type PracticeReport struct {
	Practice string    `json:"practice"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`

	Sent     []ChannelCount `json:"sent"`     // referrals the practice sent, by delivering channel ("none": not delivered)
	Received []ChannelCount `json:"received"` // referrals sent to the practice, by channel
	Intra    int            `json:"intra"`    // sent to another location of the same organization
	Cross    int            `json:"cross"`    // sent to another practice

	// Response times of the referrals the practice sent.
	TimeToReceipt []DurationStats `json:"timeToReceipt"` // by channel
	TimeToAnswer  DurationStats   `json:"timeToAnswer"`
	TimeToClosure DurationStats   `json:"timeToClosure"`

	Declined     int `json:"declined"`
	Rerouted     int `json:"rerouted"`
	InfoRequests int `json:"infoRequests"` // requests for more information (on-hold), counted per request
	Part2        int `json:"part2"`

	FailedDeliveries []FailureCount `json:"failedDeliveries"` // by channel and reason
	RefusalsByGate   map[string]int `json:"refusalsByGate"`   // consent, baa, minimum-necessary, routing, verification

	OpenPastAge  int          `json:"openPastAge"`  // open referrals older than OpenAge (sent or received)
	OpenAge      Duration     `json:"openAge"`      //
	Remediation  []OpenItem   `json:"remediation"`  // the oldest of them, up to RemediationLimit
	GeneratedAt  time.Time    `json:"generatedAt"`  //
	ReferralsIn  int          `json:"referralsIn"`  // received in the period, all channels
	ReferralsOut int          `json:"referralsOut"` // sent in the period, all channels
	Notes        []ReportNote `json:"notes,omitempty"`
}

// RemediationLimit caps the remediation list of a report.
const RemediationLimit = 100

// ChannelCount is a number of referrals on one channel.
type ChannelCount struct {
	Channel string `json:"channel"` // fhir, direct, fax, or none
	Count   int    `json:"count"`
}

// DurationStats summarises a set of durations.
type DurationStats struct {
	Channel string   `json:"channel,omitempty"`
	Count   int      `json:"count"`
	Median  Duration `json:"median"`
	P90     Duration `json:"p90"`
}

// FailureCount is a number of failed deliveries with one reason.
type FailureCount struct {
	Channel string `json:"channel"`
	Reason  string `json:"reason"`
	Count   int    `json:"count"`
}

// OpenItem is an open referral past the remediation age.
type OpenItem struct {
	ReferralID string    `json:"referralId"`
	Status     Status    `json:"status"`
	Created    time.Time `json:"created"`
	Direction  string    `json:"direction"` // "sent" or "received"
}

// ReportNote says what a figure does or does not count.
type ReportNote struct {
	Figure string `json:"figure"`
	Note   string `json:"note"`
}

// Duration is a time.Duration that renders as text in JSON ("1h30m0s").
type Duration time.Duration

// MarshalText renders d as time.Duration does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses a time.Duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// PracticeReport builds the report of q.Practice for referrals created in
// [q.From, q.To), from the store's indexed report columns.
func (s *Service) PracticeReport(ctx context.Context, q ReportQuery) (*PracticeReport, error) {
	if q.Practice == "" {
		return nil, &ValidationError{"practice", "required"}
	}
	if q.From.IsZero() || q.To.IsZero() || !q.From.Before(q.To) {
		return nil, &ValidationError{"from/to", "a period with from before to is required"}
	}
	if q.OpenOlderThan <= 0 {
		q.OpenOlderThan = DefaultOpenAge
	}
	if q.Now.IsZero() {
		q.Now = s.clock.Now()
	}
	if p := ScopeFrom(ctx).Practice; p != "" && p != q.Practice {
		return nil, fmt.Errorf("report for %s acting for %s: %w", q.Practice, p, ErrForbidden)
	}
	ctx = actAs(ctx, q.Practice)
	var rep *PracticeReport
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		rep, err = tx.PracticeReport(ctx, q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("report for %s: %w", q.Practice, err)
	}
	rep.Practice, rep.From, rep.To, rep.GeneratedAt = q.Practice, q.From, q.To, q.Now
	rep.OpenAge = Duration(q.OpenOlderThan)
	rep.Notes = []ReportNote{
		{Figure: "refusalsByGate", Note: "gate refusals at submission, counted once per refusal on each referral; refusals at send time appear under failedDeliveries"},
		{Figure: "timeToReceipt", Note: "from creation to the first delivery receipt, per delivering channel"},
		{Figure: "timeToClosure", Note: "from creation to the documented outcome (completed)"},
	}
	return rep, nil
}

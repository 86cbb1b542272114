package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// factColumns are the report columns of referrals, in factArgs order.
const factColumns = `intra, part2, delivered_via, received_at, answered_at, closed_at, declined, rerouted, info_requests, refusals`

// factAssignments sets the report columns from arguments $8 to $17.
const factAssignments = `intra=$8, part2=$9, delivered_via=$10, received_at=$11, answered_at=$12, closed_at=$13,
		declined=$14, rerouted=$15, info_requests=$16, refusals=$17`

// factArgs lists f's values in factColumns order.
func factArgs(f gateway.ReportFacts) []any {
	return []any{f.Intra, f.Part2, nullable(string(f.DeliveredVia)), f.ReceivedAt, f.AnsweredAt, f.ClosedAt,
		f.Declined, f.Rerouted, f.InfoRequests, nullable(strings.Join(f.Refusals, ","))}
}

// openStatuses are the statuses the remediation list looks at; they match
// the partial index referrals_open_created.
const openStatuses = `('draft', 'requested', 'received', 'accepted', 'on-hold', 'in-progress')`

// PracticeReport aggregates the report columns of one practice's referrals.
// Every query is bounded by (requester_org or receiver_org, created_at),
// which the report indexes cover.
func (t *tx) PracticeReport(ctx context.Context, q gateway.ReportQuery) (*gateway.PracticeReport, error) {
	rep := &gateway.PracticeReport{RefusalsByGate: map[string]int{}}
	if t.d.Name == "postgres" {
		// The percentiles sort up to one row per referral: keep the sorts
		// in memory for this transaction only.
		if _, err := t.exec(ctx, `SET LOCAL work_mem = '64MB'`); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
	}
	period := []any{q.Practice, q.From, q.To}
	const sent = `requester_org = $1 AND created_at >= $2 AND created_at < $3`
	const received = `receiver_org = $1 AND created_at >= $2 AND created_at < $3`

	// Volumes, exceptions and intra vs cross, for what the practice sent.
	rows, err := t.query(ctx, `SELECT coalesce(delivered_via, 'none'), intra, count(*),
		sum(CASE WHEN declined THEN 1 ELSE 0 END), sum(CASE WHEN rerouted THEN 1 ELSE 0 END),
		sum(info_requests), sum(CASE WHEN part2 THEN 1 ELSE 0 END)
		FROM referrals WHERE `+sent+` GROUP BY 1, 2`, period...)
	if err != nil {
		return nil, fmt.Errorf("report volumes: %w", err)
	}
	byChannel := map[string]int{}
	err = eachRow(rows, func(r Rows) error {
		var ch string
		var intra bool
		var n, declined, rerouted, info, part2 int
		if err := r.Scan(&ch, &intra, &n, &declined, &rerouted, &info, &part2); err != nil {
			return err
		}
		byChannel[ch] += n
		if intra {
			rep.Intra += n
		} else {
			rep.Cross += n
		}
		rep.Declined += declined
		rep.Rerouted += rerouted
		rep.InfoRequests += info
		rep.Part2 += part2
		rep.ReferralsOut += n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report volumes: %w", err)
	}
	rep.Sent = channelCounts(byChannel)

	rows, err = t.query(ctx, `SELECT coalesce(delivered_via, 'none'), count(*) FROM referrals WHERE `+received+` GROUP BY 1`, period...)
	if err != nil {
		return nil, fmt.Errorf("report received: %w", err)
	}
	byChannel = map[string]int{}
	err = eachRow(rows, func(r Rows) error {
		var ch string
		var n int
		if err := r.Scan(&ch, &n); err != nil {
			return err
		}
		byChannel[ch] += n
		rep.ReferralsIn += n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report received: %w", err)
	}
	rep.Received = channelCounts(byChannel)

	// Response times.
	if rep.TimeToReceipt, err = t.durationStats(ctx, "received_at", true, sent, period); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		column string
		into   *gateway.DurationStats
	}{{"answered_at", &rep.TimeToAnswer}, {"closed_at", &rep.TimeToClosure}} {
		stats, err := t.durationStats(ctx, f.column, false, sent, period)
		if err != nil {
			return nil, err
		}
		if len(stats) == 1 {
			*f.into = stats[0]
		}
	}

	// Refusals by gate: only referrals that were ever refused carry the column.
	rows, err = t.query(ctx, `SELECT refusals FROM referrals WHERE `+sent+` AND refusals IS NOT NULL`, period...)
	if err != nil {
		return nil, fmt.Errorf("report refusals: %w", err)
	}
	err = eachRow(rows, func(r Rows) error {
		var list string
		if err := r.Scan(&list); err != nil {
			return err
		}
		for _, gate := range strings.Split(list, ",") {
			rep.RefusalsByGate[gate]++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report refusals: %w", err)
	}

	// Failed deliveries of what the practice sent, by channel and reason.
	// The documents are sealed: read the rows, then open each.
	failedRows, err := t.sealedRows(ctx, `SELECT d.id, d.doc FROM deliveries d JOIN referrals r ON r.id = d.referral_id
		WHERE r.requester_org = $1 AND r.created_at >= $2 AND r.created_at < $3 AND d.state = 'failed'`, period...)
	if err != nil {
		return nil, fmt.Errorf("report failures: %w", err)
	}
	failures := map[[2]string]int{}
	for _, row := range failedRows {
		var d gateway.Delivery
		if err := t.openJSON(ctx, "delivery "+row.id, deliveryAD(row.id), row.doc, &d); err != nil {
			return nil, fmt.Errorf("report failures: %w", err)
		}
		failures[[2]string{string(d.Channel), failureReason(d.LastError)}]++
	}
	for k, n := range failures {
		rep.FailedDeliveries = append(rep.FailedDeliveries, gateway.FailureCount{Channel: k[0], Reason: k[1], Count: n})
	}
	slices.SortFunc(rep.FailedDeliveries, func(a, b gateway.FailureCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Reason, b.Reason))
	})

	// Remediation: open referrals past the age, sent or received, whenever created.
	cutoff := q.Now.Add(-q.OpenOlderThan)
	open := `(requester_org = $1 OR receiver_org = $1) AND status IN ` + openStatuses + ` AND created_at < $2`
	if err := t.queryRow(ctx, `SELECT count(*) FROM referrals WHERE `+open, q.Practice, cutoff).Scan(&rep.OpenPastAge); err != nil {
		return nil, fmt.Errorf("report open: %w", err)
	}
	rows, err = t.query(ctx, `SELECT id, status, created_at, requester_org FROM referrals WHERE `+open+
		fmt.Sprintf(` ORDER BY created_at LIMIT %d`, gateway.RemediationLimit), q.Practice, cutoff)
	if err != nil {
		return nil, fmt.Errorf("report open: %w", err)
	}
	err = eachRow(rows, func(r Rows) error {
		var it gateway.OpenItem
		var status, requester string
		if err := r.Scan(&it.ReferralID, &status, dbTime{&it.Created}, &requester); err != nil {
			return err
		}
		it.Status = gateway.Status(status)
		it.Direction = "received"
		if requester == q.Practice {
			it.Direction = "sent"
		}
		rep.Remediation = append(rep.Remediation, it)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report open: %w", err)
	}
	return rep, nil
}

// durationStats summarises column - created_at over the referrals that
// where selects, per delivering channel when byChannel is set. PostgreSQL
// computes the percentiles itself; SQLite has no percentile function, so
// the durations are read and ranked here.
func (t *tx) durationStats(ctx context.Context, column string, byChannel bool, where string, args []any) ([]gateway.DurationStats, error) {
	group := `'all'`
	if byChannel {
		group = `coalesce(delivered_via, 'none')`
	}
	cond := where + ` AND ` + column + ` IS NOT NULL`
	if t.d.Name == "postgres" {
		// One sort yields both percentiles.
		rows, err := t.query(ctx, `SELECT `+group+`, count(*),
			percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY extract(epoch FROM `+column+` - created_at))
			FROM referrals WHERE `+cond+` GROUP BY 1 ORDER BY 1`, args...)
		if err != nil {
			return nil, fmt.Errorf("report %s: %w", column, err)
		}
		var out []gateway.DurationStats
		err = eachRow(rows, func(r Rows) error {
			var s gateway.DurationStats
			var pct []float64
			if err := r.Scan(&s.Channel, &s.Count, &pct); err != nil {
				return err
			}
			if len(pct) != 2 {
				return fmt.Errorf("percentiles: got %d values", len(pct))
			}
			s.Median, s.P90 = seconds(pct[0]), seconds(pct[1])
			out = append(out, s)
			return nil
		})
		return labelAll(out, byChannel), err
	}
	rows, err := t.query(ctx, `SELECT `+group+`, created_at, `+column+` FROM referrals WHERE `+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", column, err)
	}
	samples := map[string][]time.Duration{}
	err = eachRow(rows, func(r Rows) error {
		var g string
		var from, to time.Time
		if err := r.Scan(&g, dbTime{&from}, dbTime{&to}); err != nil {
			return err
		}
		samples[g] = append(samples[g], to.Sub(from))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", column, err)
	}
	var out []gateway.DurationStats
	for _, g := range slices.Sorted(maps.Keys(samples)) {
		ds := samples[g]
		slices.Sort(ds)
		out = append(out, gateway.DurationStats{Channel: g, Count: len(ds),
			Median: gateway.Duration(percentile(ds, 0.5)), P90: gateway.Duration(percentile(ds, 0.9))})
	}
	return labelAll(out, byChannel), nil
}

// labelAll clears the placeholder group name of an ungrouped figure.
func labelAll(out []gateway.DurationStats, byChannel bool) []gateway.DurationStats {
	if !byChannel {
		for i := range out {
			out[i].Channel = ""
		}
	}
	return out
}

// percentile interpolates linearly between ranks, as PostgreSQL's
// percentile_cont does, over sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	pos := p * float64(len(sorted)-1)
	lo := int(pos)
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	frac := pos - float64(lo)
	return sorted[lo] + time.Duration(frac*float64(sorted[lo+1]-sorted[lo]))
}

func seconds(s float64) gateway.Duration {
	return gateway.Duration(time.Duration(s * float64(time.Second)).Round(time.Millisecond))
}

// failureReason shortens a delivery error to the part that classifies it:
// the text before the first detail separator, at most 80 characters.
func failureReason(lastError string) string {
	if lastError == "" {
		return "unknown"
	}
	reason, _, _ := strings.Cut(lastError, "\n")
	if len(reason) > 80 {
		reason = reason[:80]
	}
	return reason
}

func channelCounts(m map[string]int) []gateway.ChannelCount {
	out := make([]gateway.ChannelCount, 0, len(m))
	for _, ch := range slices.Sorted(maps.Keys(m)) {
		out = append(out, gateway.ChannelCount{Channel: ch, Count: m[ch]})
	}
	return out
}

// eachRow calls fn for every row and closes rows.
func eachRow(rows Rows, fn func(Rows) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

package compliance

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// Row is one figure of a practice report in flat form: what the table and
// CSV formats print, one per line.
type Row struct {
	Figure string // e.g. "sent", "time to answer"
	Key    string // the channel, gate or reason the figure is broken down by; "" for a total
	Value  string
}

// Rows flattens rep into figures, in a stable order.
func Rows(rep *gateway.PracticeReport) []Row {
	var out []Row
	add := func(fig, key, v string) { out = append(out, Row{fig, key, v}) }
	n := strconv.Itoa
	add("referrals sent", "", n(rep.ReferralsOut))
	for _, c := range rep.Sent {
		add("sent by channel", c.Channel, n(c.Count))
	}
	add("referrals received", "", n(rep.ReferralsIn))
	for _, c := range rep.Received {
		add("received by channel", c.Channel, n(c.Count))
	}
	add("intra-practice (sent)", "", n(rep.Intra))
	add("cross-practice (sent)", "", n(rep.Cross))
	for _, s := range rep.TimeToReceipt {
		add("time to receipt median", s.Channel, dur(s.Median))
		add("time to receipt p90", s.Channel, dur(s.P90))
	}
	for _, f := range []struct {
		name string
		s    gateway.DurationStats
	}{{"time to answer", rep.TimeToAnswer}, {"time to closure", rep.TimeToClosure}} {
		add(f.name+" median", "", dur(f.s.Median))
		add(f.name+" p90", "", dur(f.s.P90))
		add(f.name+" count", "", n(f.s.Count))
	}
	add("declined", "", n(rep.Declined))
	add("re-routed", "", n(rep.Rerouted))
	add("requests for more information", "", n(rep.InfoRequests))
	add("42 CFR Part 2 referrals", "", n(rep.Part2))
	for _, f := range rep.FailedDeliveries {
		add("failed deliveries", f.Channel+": "+f.Reason, n(f.Count))
	}
	for _, g := range slices.Sorted(maps.Keys(rep.RefusalsByGate)) {
		add("refusals by gate", g, n(rep.RefusalsByGate[g]))
	}
	add("open past "+dur(rep.OpenAge), "", n(rep.OpenPastAge))
	return out
}

func dur(d gateway.Duration) string {
	return time.Duration(d).Round(time.Second).String()
}

// WriteReportTable writes rep as an aligned text table, then the
// remediation list.
func WriteReportTable(w io.Writer, rep *gateway.PracticeReport) error {
	fmt.Fprintf(w, "Referral report for %s, referrals created from %s up to (not including) %s\n\n", rep.Practice, rep.From.Format(time.DateTime), rep.To.Format(time.DateTime))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tBY\tVALUE")
	for _, r := range Rows(rep) {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Figure, r.Key, r.Value)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Remediation) > 0 {
		fmt.Fprintf(w, "\nOpen past %s (oldest first)\n", dur(rep.OpenAge))
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REFERRAL\tSTATUS\tDIRECTION\tCREATED")
		for _, it := range rep.Remediation {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", it.ReferralID, it.Status, it.Direction, it.Created.Format(time.DateTime))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, note := range rep.Notes {
		fmt.Fprintf(w, "\nNote on %s: %s", note.Figure, note.Note)
	}
	_, err := fmt.Fprintln(w)
	return err
}

// WriteReportCSV writes rep's figures as CSV with the header figure,by,value.
func WriteReportCSV(w io.Writer, rep *gateway.PracticeReport) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"figure", "by", "value"}); err != nil {
		return err
	}
	for _, r := range Rows(rep) {
		if err := cw.Write([]string{r.Figure, r.Key, r.Value}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

package compliance

import (
	"maps"
	"slices"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// Chart is one titled chart of a practice report, drawn as SVG.
type Chart struct {
	Title string
	SVG   string // escaped markup, safe to embed
}

// ReportCharts draws the charts of a practice report's console page:
// volumes by channel, direction, response times and exceptions.
func ReportCharts(rep *gateway.PracticeReport) []Chart {
	counts := func(cs []gateway.ChannelCount) []Bar {
		var out []Bar
		for _, c := range cs {
			out = append(out, Bar{Label: c.Channel, Value: float64(c.Count)})
		}
		return out
	}
	var receipt []Bar
	for _, s := range rep.TimeToReceipt {
		receipt = append(receipt, Bar{Label: s.Channel + " median", Value: hours(s.Median), Text: dur(s.Median)},
			Bar{Label: s.Channel + " p90", Value: hours(s.P90), Text: dur(s.P90)})
	}
	times := []Bar{
		{Label: "answer median", Value: hours(rep.TimeToAnswer.Median), Text: dur(rep.TimeToAnswer.Median)},
		{Label: "answer p90", Value: hours(rep.TimeToAnswer.P90), Text: dur(rep.TimeToAnswer.P90)},
		{Label: "closure median", Value: hours(rep.TimeToClosure.Median), Text: dur(rep.TimeToClosure.Median)},
		{Label: "closure p90", Value: hours(rep.TimeToClosure.P90), Text: dur(rep.TimeToClosure.P90)},
	}
	exceptions := []Bar{
		{Label: "declined", Value: float64(rep.Declined)},
		{Label: "re-routed", Value: float64(rep.Rerouted)},
		{Label: "more information asked", Value: float64(rep.InfoRequests)},
		{Label: "open past " + dur(rep.OpenAge), Value: float64(rep.OpenPastAge)},
	}
	for _, g := range slices.Sorted(maps.Keys(rep.RefusalsByGate)) {
		exceptions = append(exceptions, Bar{Label: "refused: " + g, Value: float64(rep.RefusalsByGate[g])})
	}
	failed := map[string]int{}
	for _, f := range rep.FailedDeliveries {
		failed[f.Channel] += f.Count
	}
	for _, ch := range slices.Sorted(maps.Keys(failed)) {
		exceptions = append(exceptions, Bar{Label: "failed on " + ch, Value: float64(failed[ch])})
	}
	charts := []struct {
		title string
		bars  []Bar
	}{
		{"Referrals sent, by delivering channel", counts(rep.Sent)},
		{"Referrals received, by channel", counts(rep.Received)},
		{"Sent within the organization and to other practices", []Bar{
			{Label: "intra-practice", Value: float64(rep.Intra)}, {Label: "cross-practice", Value: float64(rep.Cross)}}},
		{"Time to receipt, by channel", receipt},
		{"Time to answer and to closure", times},
		{"Exceptions", exceptions},
	}
	out := make([]Chart, len(charts))
	for i, c := range charts {
		out[i] = Chart{Title: c.title, SVG: BarChartSVG(c.title, c.bars)}
	}
	return out
}

func hours(d gateway.Duration) float64 { return time.Duration(d).Hours() }

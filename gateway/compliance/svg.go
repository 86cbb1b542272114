package compliance

import (
	"fmt"
	"html"
	"strings"
)

// Bar is one bar of a chart: a label and a value, with an optional text
// shown after the bar instead of the number (e.g. "3h12m").
type Bar struct {
	Label string
	Value float64
	Text  string
}

// BarChartSVG draws a horizontal bar chart as inline SVG, titled for
// screen readers (role="img" with a <title>), with every value also
// written as text so the chart reads without colour or JavaScript. It
// returns the markup, already escaped.
func BarChartSVG(title string, bars []Bar) string {
	const (
		rowH   = 22
		labelW = 190
		barW   = 300
		textW  = 110
	)
	max := 0.0
	for _, b := range bars {
		if b.Value > max {
			max = b.Value
		}
	}
	h := rowH*len(bars) + 8
	if len(bars) == 0 {
		h = rowH
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="%d" height="%d" viewBox="0 0 %d %d">`,
		labelW+barW+textW, h, labelW+barW+textW, h)
	fmt.Fprintf(&sb, `<title>%s</title>`, html.EscapeString(title))
	if len(bars) == 0 {
		sb.WriteString(`<text x="0" y="15">No data in this period.</text>`)
	}
	for i, b := range bars {
		y := i*rowH + 4
		w := 0.0
		if max > 0 {
			w = b.Value / max * barW
		}
		text := b.Text
		if text == "" {
			text = fmt.Sprintf("%g", b.Value)
		}
		fmt.Fprintf(&sb, `<text x="%d" y="%d" text-anchor="end">%s</text>`, labelW-8, y+14, html.EscapeString(b.Label))
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%.1f" height="%d" class="bar"/>`, labelW, y+2, w, rowH-8)
		fmt.Fprintf(&sb, `<text x="%.1f" y="%d">%s</text>`, float64(labelW)+w+6, y+14, html.EscapeString(text))
	}
	sb.WriteString(`</svg>`)
	return sb.String()
}

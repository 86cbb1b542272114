package compliance

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// citations renders a line's citations as "practice#seq, practice#seq".
func citations(cs []gateway.Citation) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s#%d", c.Practice, c.Seq)
	}
	return strings.Join(parts, ", ")
}

// WriteReceiptText writes rc as a plain-text document: a header, one line
// per statement with its time, actor and citations, and the verification.
func WriteReceiptText(w io.Writer, rc *gateway.ComplianceReceipt) error {
	fmt.Fprintf(w, "Compliance receipt for referral %s\n", rc.ReferralID)
	fmt.Fprintf(w, "Generated %s from the audit trails of %s\n\n", rc.Generated.Format(time.RFC3339), strings.Join(rc.Practices, " and "))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSECTION\tACTOR\tSTATEMENT\tCITES")
	for _, l := range rc.Lines {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.At.UTC().Format(time.RFC3339), l.Section, l.Actor, l.Statement, citations(l.Cites))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return writeVerdict(w, rc.Verification)
}

func writeVerdict(w io.Writer, v gateway.ReceiptVerification) error {
	if v.OK {
		_, err := fmt.Fprintf(w, "Verification: intact (%d cited entries checked against their chains, %d inclusion proofs verified against signed, witnessed checkpoints)\n", v.Checked, v.Proven)
		return err
	}
	fmt.Fprintf(w, "Verification: FAILED (%d cited entries checked)\n", v.Checked)
	for _, p := range v.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
	return nil
}

var receiptHTML = template.Must(template.New("receipt").Funcs(template.FuncMap{
	"cites": citations,
	"time":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Compliance receipt {{.ReferralID}}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}
.ok{color:#075e07}.bad{color:#a00000}small{color:#555}</style></head>
<body><h1>Compliance receipt</h1>
<p>Referral <code>{{.ReferralID}}</code>, generated {{time .Generated}} from the audit trails of
{{range $i, $p := .Practices}}{{if $i}} and {{end}}<code>{{$p}}</code>{{end}}.</p>
{{with .Verification}}{{if .OK}}<p class="ok">Verified: all {{.Checked}} cited entries are in intact chains; {{.Proven}} inclusion proofs verified against signed, witnessed checkpoints.</p>
{{else}}<p class="bad">Verification failed ({{.Checked}} cited entries checked):</p><ul class="bad">{{range .Problems}}<li>{{.}}</li>{{end}}</ul>{{end}}{{end}}
<table><thead><tr><th>Time</th><th>Section</th><th>Actor</th><th>Statement</th><th>Cites (practice#seq)</th></tr></thead><tbody>
{{range .Lines}}<tr><td>{{time .At}}</td><td>{{.Section}}</td><td>{{.Actor}}</td><td>{{.Statement}}</td><td><small>{{cites .Cites}}</small></td></tr>
{{end}}</tbody></table></body></html>
`))

// WriteReceiptHTML writes rc as a standalone HTML page.
func WriteReceiptHTML(w io.Writer, rc *gateway.ComplianceReceipt) error {
	return receiptHTML.Execute(w, rc)
}

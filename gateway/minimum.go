package gateway

import (
	"fmt"
	"regexp"
	"strings"
)

// Finding is one identifier the minimum-necessary scan found. It names the
// kind and where, never the matched value itself (that would be PHI).
type Finding struct {
	Kind  string // "ssn", "date-of-birth", "whole-chart"
	Where string // "reasonText" or "record:<id>"
}

func (f Finding) String() string { return fmt.Sprintf("%s in %s", f.Kind, f.Where) }

var (
	// ssnPattern matches ddd-dd-dddd and ddd dd dddd with the SSA's never-issued
	// areas (000, 666, 9xx), group 00 and serial 0000 excluded.
	ssnPattern = regexp.MustCompile(`\b(\d{3})[- ](\d{2})[- ](\d{4})\b`)
	// dobPattern matches a full date close after a birth-date label.
	dobPattern = regexp.MustCompile(`(?i)\b(dob|d\.o\.b\.?|date of birth|birth ?date|born)\b[^0-9\n]{0,12}` +
		`(\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{4}[/.\-]\d{1,2}[/.\-]\d{1,2}|` +
		`\d{1,2}[ \-][a-z]{3,9}\.?[ \-]\d{4}|[a-z]{3,9}\.? \d{1,2},? \d{4})`)
)

// MaxRecordsBeforeChartDump is how many records one referral may carry
// before the scan treats it as a whole-chart dump.
const MaxRecordsBeforeChartDump = 25

// ScanText returns the minimum-necessary findings in one piece of text.
func ScanText(where, text string) []Finding {
	var out []Finding
	for _, m := range ssnPattern.FindAllStringSubmatch(text, -1) {
		area, group, serial := m[1], m[2], m[3]
		if area == "000" || area == "666" || area[0] == '9' || group == "00" || serial == "0000" {
			continue
		}
		out = append(out, Finding{Kind: "ssn", Where: where})
		break
	}
	if dobPattern.MatchString(text) {
		out = append(out, Finding{Kind: "date-of-birth", Where: where})
	}
	return out
}

// isText reports whether a record's content type is scanned as text.
func isText(contentType string) bool {
	ct := strings.ToLower(contentType)
	return strings.HasPrefix(ct, "text/") || strings.Contains(ct, "xml") || strings.Contains(ct, "json")
}

// ScanReferral runs the minimum-necessary scan over a referral's free text
// and text records; content maps record id to plaintext.
func ScanReferral(r *Referral, content map[string][]byte) []Finding {
	out := ScanText("reasonText", r.ReasonText)
	out = append(out, ScanText("question", r.Question)...)
	out = append(out, ScanText("answer", r.Answer)...)
	for _, rec := range r.Records {
		if !isText(rec.ContentType) {
			continue
		}
		out = append(out, ScanText("record:"+rec.ID, string(content[rec.ID]))...)
	}
	if len(r.Records) > MaxRecordsBeforeChartDump {
		out = append(out, Finding{Kind: "whole-chart", Where: fmt.Sprintf("%d records", len(r.Records))})
	}
	return out
}

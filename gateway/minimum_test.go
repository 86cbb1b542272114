package gateway_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/referralgw/gateway/gateway"
)

func TestScanText(t *testing.T) {
	const ssn, dob = "ssn", "date-of-birth"
	tests := []struct {
		name string
		text string
		want []string // kinds, in order
		// secret is the identifier in the text that no finding may repeat.
		secret string
	}{
		{name: "empty", text: ""},
		{name: "clinical text", text: "Patient reports knee pain after a fall; please evaluate for meniscal tear."},

		// SSNs in the formats the scan knows.
		{name: "ssn with dashes", text: "SSN 123-45-6789 on file", want: []string{ssn}, secret: "123-45-6789"},
		{name: "ssn with spaces", text: "ssn: 123 45 6789", want: []string{ssn}, secret: "123 45 6789"},
		{name: "ssn at start", text: "219-09-9999 is the member number", want: []string{ssn}, secret: "219-09-9999"},
		{name: "ssn after a colon", text: "SSN:078-05-1120.", want: []string{ssn}, secret: "078-05-1120"},
		{name: "ssn with mixed separators", text: "id 123-45 6789", want: []string{ssn}, secret: "123-45 6789"},
		{name: "two ssns are one finding", text: "123-45-6789 and 234-56-7890", want: []string{ssn}, secret: "234-56-7890"},
		{name: "never-issued then a real one", text: "000-12-3456 then 123-45-6789", want: []string{ssn}, secret: "123-45-6789"},

		// Numbers the SSA never issues, and lookalikes.
		{name: "area 000", text: "SSN 000-12-3456"},
		{name: "area 666", text: "SSN 666-12-3456"},
		{name: "area 900", text: "SSN 900-12-3456"},
		{name: "area 987", text: "SSN 987-65-4321"},
		{name: "area 999", text: "SSN 999-99-9999"},
		{name: "group 00", text: "SSN 123-00-4567"},
		{name: "serial 0000", text: "SSN 123-45-0000"},
		{name: "phone number", text: "call 555-123-4567"},
		{name: "four-digit area", text: "ref 1234-56-7890"},
		{name: "five-digit serial", text: "ref 123-45-67890"},
		{name: "dotted", text: "ref 123.45.6789"},

		// Dates of birth after a birth label.
		{name: "DOB slash date", text: "DOB: 03/05/1980", want: []string{dob}, secret: "03/05/1980"},
		{name: "dob lower case dashes", text: "dob 3-5-1980", want: []string{dob}, secret: "3-5-1980"},
		{name: "DOB no space", text: "DOB:12/31/1975", want: []string{dob}, secret: "12/31/1975"},
		{name: "D.O.B. ISO date", text: "D.O.B. 1980-03-05", want: []string{dob}, secret: "1980-03-05"},
		{name: "D.O.B: ISO date", text: "D.O.B.: 1980-03-05", want: []string{dob}, secret: "1980-03-05"},
		{name: "date of birth month name", text: "Date of birth: March 5, 1980", want: []string{dob}, secret: "March 5, 1980"},
		{name: "date of birth abbreviated month", text: "date of birth Mar. 5 1980", want: []string{dob}, secret: "Mar. 5 1980"},
		{name: "date of birth with a dash", text: "Date of Birth - 03/05/1980", want: []string{dob}, secret: "03/05/1980"},
		{name: "born on ISO date", text: "She was born on 1980-03-05 in Springfield.", want: []string{dob}, secret: "1980-03-05"},
		{name: "Born: slash date", text: "Born: 7/4/1976", want: []string{dob}, secret: "7/4/1976"},
		{name: "birthdate", text: "birthdate 1980-03-05", want: []string{dob}, secret: "1980-03-05"},
		{name: "birth date", text: "Birth Date: Sept. 5, 1980", want: []string{dob}, secret: "Sept. 5, 1980"},

		// Dates that are not a date of birth.
		{name: "visit date", text: "seen on 2026-01-05"},
		{name: "follow-up date", text: "follow-up 03/05/2026, labs Jan 5, 2026"},
		{name: "newborn is not a birth label", text: "newborn screening on 2026-01-05"},
		{name: "label without a date", text: "DOB: see demographics"},
		{name: "label with a year only", text: "DOB 1980"},
		{name: "label too far from the date", text: "DOB verified at the front desk. Seen 2026-01-05"},
		{name: "label on another line", text: "DOB\n2026-01-05"},

		{name: "both", text: "DOB 03/05/1980, SSN 123-45-6789", want: []string{ssn, dob}, secret: "6789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := gateway.ScanText("reasonText", tt.text)
			var kinds []string
			for _, f := range got {
				kinds = append(kinds, f.Kind)
				if f.Where != "reasonText" {
					t.Errorf("finding %v: Where = %q, want reasonText", f, f.Where)
				}
				if tt.secret != "" && (strings.Contains(f.String(), tt.secret) || strings.Contains(fmt.Sprintf("%#v", f), tt.secret)) {
					t.Errorf("finding %#v repeats the identifier %q", f, tt.secret)
				}
			}
			if !slices.Equal(kinds, tt.want) {
				t.Errorf("ScanText(%q) kinds = %q, want %q", tt.text, kinds, tt.want)
			}
		})
	}
}

func TestScanReferral(t *testing.T) {
	textRec := func(id, ct string) gateway.Record { return gateway.Record{ID: id, Title: "note", ContentType: ct} }
	manyRecords := func(n int) []gateway.Record {
		recs := make([]gateway.Record, n)
		for i := range recs {
			recs[i] = gateway.Record{ID: fmt.Sprintf("rec-%02d", i), ContentType: "application/pdf"}
		}
		return recs
	}
	tests := []struct {
		name     string
		referral gateway.Referral
		content  map[string][]byte
		want     []gateway.Finding
	}{
		{
			name:     "clean referral",
			referral: gateway.Referral{ReasonText: "Evaluate chronic migraine.", Records: []gateway.Record{textRec("rec-1", "text/plain")}},
			content:  map[string][]byte{"rec-1": []byte("Headache diary attached, seen 2026-01-05.")},
		},
		{
			name:     "ssn in reason text",
			referral: gateway.Referral{ReasonText: "Ins. SSN 123-45-6789"},
			want:     []gateway.Finding{{Kind: "ssn", Where: "reasonText"}},
		},
		{
			name:     "date of birth in the referrer's answer",
			referral: gateway.Referral{Question: "Which knee?", Answer: "Left knee. DOB 03/05/1980."},
			want:     []gateway.Finding{{Kind: "date-of-birth", Where: "answer"}},
		},
		{
			name:     "ssn in a text record",
			referral: gateway.Referral{Records: []gateway.Record{textRec("rec-1", "text/plain; charset=utf-8")}},
			content:  map[string][]byte{"rec-1": []byte("Guarantor SSN 123-45-6789")},
			want:     []gateway.Finding{{Kind: "ssn", Where: "record:rec-1"}},
		},
		{
			name: "C-CDA and FHIR JSON records are scanned as text",
			referral: gateway.Referral{Records: []gateway.Record{
				textRec("ccda", "application/xml"), textRec("bundle", "application/fhir+json"), textRec("upper", "TEXT/PLAIN"),
			}},
			content: map[string][]byte{
				"ccda":   []byte(`<birthTime value="19800305"/> date of birth 1980-03-05`),
				"bundle": []byte(`{"note":"SSN 123-45-6789"}`),
				"upper":  []byte("born on 03/05/1980"),
			},
			want: []gateway.Finding{
				{Kind: "date-of-birth", Where: "record:ccda"},
				{Kind: "ssn", Where: "record:bundle"},
				{Kind: "date-of-birth", Where: "record:upper"},
			},
		},
		{
			name: "non-text records are not scanned",
			referral: gateway.Referral{Records: []gateway.Record{
				{ID: "pdf", ContentType: "application/pdf"}, {ID: "img", ContentType: "image/tiff"}, {ID: "none"},
			}},
			content: map[string][]byte{
				"pdf":  []byte("SSN 123-45-6789"),
				"img":  []byte("DOB 03/05/1980"),
				"none": []byte("SSN 123-45-6789"),
			},
		},
		{
			name:     "text record without content",
			referral: gateway.Referral{Records: []gateway.Record{textRec("rec-1", "text/plain")}},
		},
		{
			name:     "at the whole-chart threshold",
			referral: gateway.Referral{Records: manyRecords(gateway.MaxRecordsBeforeChartDump)},
		},
		{
			name:     "one record over the whole-chart threshold",
			referral: gateway.Referral{Records: manyRecords(gateway.MaxRecordsBeforeChartDump + 1)},
			want:     []gateway.Finding{{Kind: "whole-chart", Where: fmt.Sprintf("%d records", gateway.MaxRecordsBeforeChartDump+1)}},
		},
		{
			name: "every place at once",
			referral: gateway.Referral{
				ReasonText: "SSN 123-45-6789",
				Answer:     "DOB: 1980-03-05",
				Records:    append([]gateway.Record{textRec("a-note", "text/plain")}, manyRecords(gateway.MaxRecordsBeforeChartDump)...),
			},
			content: map[string][]byte{"a-note": []byte("born 1980-03-05, SSN 123 45 6789")},
			want: []gateway.Finding{
				{Kind: "ssn", Where: "reasonText"},
				{Kind: "date-of-birth", Where: "answer"},
				{Kind: "ssn", Where: "record:a-note"},
				{Kind: "date-of-birth", Where: "record:a-note"},
				{Kind: "whole-chart", Where: fmt.Sprintf("%d records", gateway.MaxRecordsBeforeChartDump+1)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := gateway.ScanReferral(&tt.referral, tt.content)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ScanReferral findings = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMinimumNecessaryErrorNamesFindingsOnly(t *testing.T) {
	text := "SSN 123-45-6789, DOB 03/05/1980"
	err := &gateway.MinimumNecessaryError{Findings: gateway.ScanText("reasonText", text)}
	msg := err.Error()
	for _, want := range []string{"ssn in reasonText", "date-of-birth in reasonText", "override"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() = %q, want it to contain %q", msg, want)
		}
	}
	if strings.ContainsAny(msg, "0123456789") {
		t.Errorf("Error() = %q carries digits from the scanned text", msg)
	}
}

// digitsRun matches any digit, in any script, that a finding must not echo.
var digitsRun = regexp.MustCompile(`\p{Nd}`)

func FuzzScanText(f *testing.F) {
	for _, seed := range []string{
		"",
		"SSN 123-45-6789",
		"ssn 123 45 6789 and 234-56-7890",
		"000-12-3456 666-12-3456 912-34-5678 123-00-4567 123-45-0000",
		"DOB: 03/05/1980",
		"D.O.B. 1980-03-05",
		"Date of birth: March 5, 1980",
		"born on 7/4/1976",
		"seen on 2026-01-05",
		"DOB\n2026-01-05",
		"dob dob dob 1-1-1111 born born",
		"\xff\xfe 123-45-6789 \u0663\u0664\u0665-\u0664\u0665-\u0666\u0667\u0668\u0669",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		const where = "reasonText"
		findings := gateway.ScanText(where, text)
		seen := map[string]bool{}
		for _, fd := range findings {
			if fd.Kind != "ssn" && fd.Kind != "date-of-birth" {
				t.Fatalf("unexpected finding kind %q", fd.Kind)
			}
			if fd.Where != where {
				t.Fatalf("finding Where = %q, want %q", fd.Where, where)
			}
			if digitsRun.MatchString(fd.Kind) || digitsRun.MatchString(fd.Where) || digitsRun.MatchString(fd.String()) {
				t.Fatalf("finding %#v carries digits", fd)
			}
			if seen[fd.Kind] {
				t.Fatalf("kind %q reported twice for one text", fd.Kind)
			}
			seen[fd.Kind] = true
		}
		// Both identifiers are made of ASCII digits: text without any cannot
		// produce a finding.
		if len(findings) > 0 && !strings.ContainsFunc(text, func(r rune) bool { return r < unicode.MaxASCII && unicode.IsDigit(r) }) {
			t.Fatalf("findings %v in text without digits", findings)
		}
	})
}

package mdn

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseDSNFile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "dsn_failed.eml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindDSN || r.OriginalMessageID != "ref-0001@direct.sender.example" || r.EnvelopeID != "env-0001" ||
		r.MessageID != "dsn-77@mx.receiver.example" || r.ReportingUA != "mx.receiver.example" {
		t.Errorf("report = %+v", r)
	}
	if !r.Failed() {
		t.Error("Failed() = false for a DSN with a failed recipient")
	}
	if len(r.Recipients) != 2 {
		t.Fatalf("got %d recipients, want 2", len(r.Recipients))
	}
	want := RecipientStatus{
		FinalRecipient:    "nobody@direct.receiver.example",
		OriginalRecipient: "nobody@direct.receiver.example",
		Action:            ActionFailed,
		Status:            "5.1.1",
		DiagnosticCode:    "smtp; 550 5.1.1 <nobody@direct.receiver.example>: Recipient address rejected",
	}
	if r.Recipients[1] != want {
		t.Errorf("recipient[1] = %+v, want %+v", r.Recipients[1], want)
	}
	if r.Reason != want.DiagnosticCode {
		t.Errorf("Reason = %q", r.Reason)
	}
}

const mdnHead = "From: b@y.example\r\nMessage-ID: <r1@y.example>\r\nIn-Reply-To: <orig-9@x.example>\r\n" +
	"Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\nhuman\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\n"

const dsnHead = "From: MAILER-DAEMON@y.example\r\n" +
	"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: message/delivery-status\r\n\r\n"

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    Report
		failed  bool
		wantErr error
	}{
		{
			name: "processed, mixed case, comments, id from In-Reply-To",
			raw: mdnHead + "reporting-ua: y.example\r\nfinal-recipient: rfc822; b@y.example\r\n" +
				"DISPOSITION: Automatic-Action/MDN-Sent-Automatically (auto); Processed\r\n\r\n--b--\r\n",
			want: Report{Kind: KindMDN, MessageID: "r1@y.example", OriginalMessageID: "orig-9@x.example",
				ReportingUA: "y.example", FinalRecipient: "b@y.example", Disposition: Processed},
		},
		{
			name: "processed with error modifier",
			raw: mdnHead + "Original-Message-ID: <orig-1@x.example>\r\n" +
				"Disposition: automatic-action/MDN-sent-automatically; processed/error\r\nError: decryption failed\r\n\r\n--b--\r\n",
			want: Report{Kind: KindMDN, MessageID: "r1@y.example", OriginalMessageID: "orig-1@x.example",
				Disposition: Processed, Modifiers: []string{"error"}, Reason: "decryption failed"},
			failed: true,
		},
		{
			name: "dispatched with final delivery extension, LF endings",
			raw: strings.ReplaceAll(mdnHead+"Original-Message-ID: <orig-2@x.example>\r\n"+
				"Disposition: automatic-action/MDN-sent-automatically; dispatched\r\nX-DIRECT-FINAL-DESTINATION-DELIVERY: \r\n\r\n--b--\r\n", "\r\n", "\n"),
			want: Report{Kind: KindMDN, MessageID: "r1@y.example", OriginalMessageID: "orig-2@x.example",
				Disposition: Dispatched, FinalDelivery: true},
		},
		{
			name: "failed",
			raw: mdnHead + "Original-Message-ID: <orig-3@x.example>\r\n" +
				"Disposition: automatic-action/MDN-sent-automatically; failed\r\nFailure: untrusted sender\r\n\r\n--b--\r\n",
			want: Report{Kind: KindMDN, MessageID: "r1@y.example", OriginalMessageID: "orig-3@x.example",
				Disposition: Failed, Reason: "untrusted sender"},
			failed: true,
		},
		{
			name: "delayed DSN falls back to envelope id",
			raw: dsnHead + "Reporting-MTA: dns; y.example\r\nOriginal-Envelope-Id: orig-4@x.example\r\n\r\n" +
				"Final-Recipient: rfc822;b@y.example\r\nAction: delayed\r\nStatus: 4.4.7\r\n\r\n--b--\r\n",
			want: Report{Kind: KindDSN, OriginalMessageID: "orig-4@x.example", ReportingUA: "y.example",
				EnvelopeID: "orig-4@x.example", Reason: "4.4.7",
				Recipients: []RecipientStatus{{FinalRecipient: "b@y.example", Action: ActionDelayed, Status: "4.4.7"}}},
		},
		{
			name: "DSN returned message/rfc822",
			raw: dsnHead + "Reporting-MTA: dns; y.example\r\n\r\nFinal-Recipient: rfc822;b@y.example\r\nAction: failed\r\nStatus: 5.7.1\r\n\r\n" +
				"--b\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <orig-5@x.example>\r\nSubject: s\r\n\r\nbody\r\n--b--\r\n",
			want: Report{Kind: KindDSN, OriginalMessageID: "orig-5@x.example", ReportingUA: "y.example", Reason: "5.7.1",
				Recipients: []RecipientStatus{{FinalRecipient: "b@y.example", Action: ActionFailed, Status: "5.7.1"}}},
			failed: true,
		},
		{
			name: "DSN threaded by In-Reply-To only",
			raw: strings.Replace(dsnHead, "\r\nContent-Type:", "\r\nIn-Reply-To: <orig-6@x.example>\r\nContent-Type:", 1) +
				"Reporting-MTA: dns; y.example\r\n\r\nFinal-Recipient: rfc822;b@y.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n",
			want: Report{Kind: KindDSN, OriginalMessageID: "orig-6@x.example", ReportingUA: "y.example", Reason: "5.1.1",
				Recipients: []RecipientStatus{{FinalRecipient: "b@y.example", Action: ActionFailed, Status: "5.1.1"}}},
			failed: true,
		},
		{name: "ordinary mail", raw: "From: a@x.example\r\n\r\nhello", wantErr: ErrNotReport},
		{name: "MDN without disposition", raw: mdnHead + "Reporting-UA: y\r\n\r\n--b--\r\n", wantErr: ErrMalformed},
		{name: "DSN without recipients", raw: dsnHead + "Reporting-MTA: dns; y\r\n\r\n--b--\r\n", wantErr: ErrMalformed},
		{name: "MDN with a disposition but no modes", raw: mdnHead + "Disposition: processed\r\n\r\n--b--\r\n", wantErr: ErrMalformed},
		{name: "multipart/report without a report part",
			raw:     "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
			wantErr: ErrMalformed},
		{name: "ordinary multipart mail", raw: "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
			wantErr: ErrNotReport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse([]byte(tt.raw))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Parse error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got, want := describe(r), describe(&tt.want); got != want {
				t.Errorf("Parse =\n%s\nwant\n%s", got, want)
			}
			if r.Failed() != tt.failed {
				t.Errorf("Failed() = %v, want %v", r.Failed(), tt.failed)
			}
		})
	}
}

func describe(r *Report) string {
	var b strings.Builder
	b.WriteString(string(r.Kind) + "|" + r.MessageID + "|" + r.OriginalMessageID + "|" + r.ReportingUA + "|" +
		r.OriginalRecipient + "|" + r.FinalRecipient + "|" + string(r.Disposition) + "|" +
		strings.Join(r.Modifiers, ",") + "|" + r.Reason + "|" + r.EnvelopeID)
	if r.FinalDelivery {
		b.WriteString("|final")
	}
	for _, rs := range r.Recipients {
		b.WriteString("\n  " + rs.FinalRecipient + " " + string(rs.Action) + " " + rs.Status + " " + rs.DiagnosticCode)
	}
	return b.String()
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"processed.eml", "dispatched.eml", "failed.eml", "dsn_failed.eml"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(mdnHead + "Disposition: ;\r\n"))
	f.Add([]byte(dsnHead + "\r\n\r\nAction: failed\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := Parse(raw)
		if err != nil {
			if errors.Is(err, ErrNotReport) && errors.Is(err, ErrMalformed) {
				t.Fatalf("both not a report and a malformed one: %v", err)
			}
			return
		}
		switch r.Kind {
		case KindMDN:
			if r.Disposition == "" {
				t.Fatal("MDN without disposition type")
			}
		case KindDSN:
			if len(r.Recipients) == 0 {
				t.Fatal("DSN without recipients")
			}
			// Narrowing keeps a subset, and what fails a recipient fails
			// the whole report.
			first := r.Recipients[0].FinalRecipient
			if n, ok := r.About(func(a string) bool { return a == first }); ok &&
				(len(n.Recipients) > len(r.Recipients) || n.Failed() && !r.Failed()) {
				t.Fatalf("narrowed %+v of %+v", n, r)
			}
		default:
			t.Fatalf("unknown kind %q", r.Kind)
		}
	})
}

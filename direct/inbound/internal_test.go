package inbound

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/mdn"
	"github.com/referralgw/gateway/gateway"
)

func TestCommand(t *testing.T) {
	cases := []struct {
		text, cmd, rest string
	}{
		{"Accepted", "accept", ""},
		{"\n\n  accept.\nWe will call.", "accept", ""},
		{"ACCEPTED!", "accept", ""},
		{"Decline: not taking new patients", "decline", "not taking new patients"},
		{"declined\nOut of network.\nPlease refer elsewhere.\n> original text", "decline", "Out of network.\nPlease refer elsewhere."},
		{"Reject - wrong specialty\n\nOn Mon, Nov 23 Clinic wrote:\n> Referral", "decline", "wrong specialty"},
		{"Rejected", "decline", ""},
		{"Question: which anticoagulant is the patient on?\n> Referral", "question", "which anticoagulant is the patient on?"},
		{"more-info\nPlease send the latest echo.\nOn Mon, Nov 23 Clinic wrote:", "question", "Please send the latest echo."},
		{"Thanks, we will look at it. Accept?", "", ""},
		{"acceptable", "", ""},
		{"", "", ""},
	}
	for _, tc := range cases {
		cmd, rest := command(tc.text)
		if cmd != tc.cmd || rest != tc.rest {
			t.Errorf("command(%q) = %q, %q; want %q, %q", tc.text, cmd, rest, tc.cmd, tc.rest)
		}
	}
}

func TestReceipt(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for _, final := range []bool{true, false} {
		p := &Processor{ch: channel.Config{NoFinalDelivery: !final, DispatchedWithin: 24 * time.Hour}, now: func() time.Time { return now }}
		cases := []struct {
			name   string
			rep    mdn.Report
			kind   gateway.ReceiptKind
			final  bool
			extend time.Duration
			detail string
		}{
			{"processed", mdn.Report{Kind: mdn.KindMDN, Disposition: mdn.Processed}, gateway.ReceiptProcessed, !final, map[bool]time.Duration{true: 24 * time.Hour}[final], "mdn processed"},
			{"dispatched", mdn.Report{Kind: mdn.KindMDN, Disposition: mdn.Dispatched, FinalDelivery: true}, gateway.ReceiptDispatched, true, 0, "mdn dispatched"},
			{"failed mdn", mdn.Report{Kind: mdn.KindMDN, Disposition: mdn.Failed, Reason: "mailbox\r\nfull"}, gateway.ReceiptFailed, true, 0, "mdn failed: mailbox  full"},
			{"processed with error", mdn.Report{Kind: mdn.KindMDN, Disposition: mdn.Processed, Modifiers: []string{"error"}, Reason: "bad"}, gateway.ReceiptFailed, true, 0, "mdn failed: bad"},
			{"failed dsn", mdn.Report{Kind: mdn.KindDSN, Recipients: []mdn.RecipientStatus{{Action: mdn.ActionFailed, Status: "5.1.1"}}, Reason: "smtp; 550 5.1.1 unknown"}, gateway.ReceiptFailed, true, 0, "dsn failed: smtp; 550 5.1.1 unknown"},
			{"relayed dsn", mdn.Report{Kind: mdn.KindDSN, Recipients: []mdn.RecipientStatus{{Action: mdn.ActionRelayed}}}, gateway.ReceiptProcessed, false, 0, "dsn relayed"},
			{"deleted", mdn.Report{Kind: mdn.KindMDN, Disposition: mdn.Deleted}, gateway.ReceiptFailed, true, 0, "mdn deleted"},
		}
		for _, tc := range cases {
			rc, ext := p.receipt(&tc.rep, nil)
			if rc.Kind != tc.kind || rc.Final != tc.final || ext != tc.extend || rc.Detail != tc.detail || !rc.At.Equal(now) {
				t.Errorf("final delivery %v, %s: got %+v extend %v; want %s final %v extend %v detail %q",
					final, tc.name, rc, ext, tc.kind, tc.final, tc.extend, tc.detail)
			}
		}
	}
}

func TestMailboxes(t *testing.T) {
	ca, err := certs.NewDevCA("mailboxes.example", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys := certs.NewKeyring()
	for _, issue := range []func() (*certs.Identity, error){
		func() (*certs.Identity, error) { return ca.IssueDomain("direct.a.example") },
		func() (*certs.Identity, error) { return ca.IssueAddress("dr.one@direct.b.example") },
	} {
		id, err := issue()
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.Add(id); err != nil {
			t.Fatal(err)
		}
	}
	m := NewMailboxes(keys, "direct.a.example", "Direct.B.example.")
	cases := map[string]bool{
		"anyone@direct.a.example": true,
		"ANYONE@DIRECT.A.EXAMPLE": true,
		"dr.one@direct.b.example": true,
		"dr.two@direct.b.example": false, // no key for it
		"x@direct.c.example":      false, // not our domain
		"no-at-sign":              false,
		"someone@sub.a.example":   false,
	}
	for addr, want := range cases {
		if got, err := m.Accepts(context.Background(), addr); got != want || err != nil {
			t.Errorf("Accepts(%q) = %v, %v, want %v", addr, got, err, want)
		}
	}
}

func TestHeaders(t *testing.T) {
	raw := []byte("From: \"Dr. Test\" <dr.test@direct.example>\r\nMessage-Id: <abc@direct.example>\r\n\r\nbody")
	if got := headerFrom(raw); got != "dr.test@direct.example" {
		t.Errorf("from: %q", got)
	}
	if got := headerMsgID(raw); got != "abc@direct.example" {
		t.Errorf("message id: %q", got)
	}
	for _, bad := range [][]byte{nil, []byte("no header"), []byte("From: a@x, b@y\r\n\r\n"), []byte("Message-Id: <a b@c>\r\n\r\n")} {
		if headerFrom(bad) != "" || headerMsgID(bad) != "" {
			t.Errorf("headers of %q not empty", bad)
		}
	}
}

// FuzzInboundText runs the processor's own parsers of remote input (the
// header fields it reads, the envelope check and the reply command) over
// arbitrary bytes.
func FuzzInboundText(f *testing.F) {
	f.Add([]byte("From: a@direct.example\r\nMessage-Id: <x@y>\r\n\r\nAccepted\r\n"))
	f.Add([]byte("From: <>\r\n\r\ndecline: reason\n> quoted"))
	f.Add([]byte("\x00\xff\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if id := headerMsgID(raw); strings.ContainsAny(id, " \t<>\r\n") {
			t.Fatalf("unsafe message id %q", id)
		}
		if from := headerFrom(raw); from != "" && !strings.Contains(from, "@") {
			t.Fatalf("from without domain %q", from)
		}
		cmd, rest := command(string(raw))
		if cmd != "decline" && rest != "" {
			t.Fatalf("rest %q without decline", rest)
		}
		if len(rest) > 1000+len("…") {
			t.Fatalf("rest of %d bytes", len(rest))
		}
		_ = cleanRemote(string(raw))
		if err := envelopeMatches(raw, "", nil); err != nil && header(raw) != nil {
			t.Fatalf("empty envelope refused for a parsed header: %v", err)
		}
		_ = envelopeMatches(raw, "a@direct.example", []string{"b@direct.example"})
	})
}

// TestReceiptPerParty: a receiver the directory marks processed-only is
// delivered by its processed MDN; its own dispatched deadline overrides
// the gateway's.
func TestReceiptPerParty(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	p := &Processor{ch: channel.Config{DispatchedWithin: 24 * time.Hour}, now: func() time.Time { return now }}
	processed := &mdn.Report{Kind: mdn.KindMDN, Disposition: mdn.Processed}
	only := &gateway.Entry{Direct: &gateway.DirectEndpoint{Address: "a@direct.example", ProcessedOnly: true}}
	if rc, ext := p.receipt(processed, only); !rc.Final || ext != 0 {
		t.Fatalf("processed-only party: %+v extend %v", rc, ext)
	}
	slow := &gateway.Entry{Direct: &gateway.DirectEndpoint{Address: "a@direct.example", DispatchedWithinMinutes: 90}}
	if rc, ext := p.receipt(processed, slow); rc.Final || ext != 90*time.Minute {
		t.Fatalf("party deadline: %+v extend %v", rc, ext)
	}
}

func TestRevocationBackoff(t *testing.T) {
	for _, tc := range []struct{ elapsed, left, want time.Duration }{
		{0, time.Hour, 30 * time.Second},
		{10 * time.Minute, time.Hour, 5 * time.Minute},
		{3 * time.Hour, time.Hour, 30 * time.Minute},
		{3 * time.Hour, 2 * time.Minute, 2 * time.Minute},
		{time.Hour, 0, time.Second},
	} {
		if got := revocationBackoff(tc.elapsed, tc.left); got != tc.want {
			t.Errorf("backoff(%v, %v) = %v, want %v", tc.elapsed, tc.left, got, tc.want)
		}
	}
}

func TestReplySubject(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "Re: Direct message",
		"Direct message":           "Re: Direct message",
		" RE: re:Referral [ref:x]": "Re: Referral [ref:x]",
		"Re:":                      "Re: Direct message",
	} {
		if got := replySubject(in); got != want {
			t.Errorf("replySubject(%q) = %q, want %q", in, got, want)
		}
	}
	if got := replySubject(strings.Repeat("x", 500)); len(got) > 210 {
		t.Errorf("a long subject kept %d bytes", len(got))
	}
	if got := replySubject("x" + strings.Repeat("é", 300)); !utf8.ValidString(got) {
		t.Errorf("a long non-ASCII subject cut mid-character: %q", got)
	}
}

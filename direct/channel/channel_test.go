package channel_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/message"
	"github.com/referralgw/gateway/direct/smime"
	"github.com/referralgw/gateway/direct/smtpout"
	"github.com/referralgw/gateway/gateway"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestReachable(t *testing.T) {
	f := getFixture(t)
	found := func(id *certs.Identity) channel.DiscoverFunc {
		return func(context.Context, string) ([]*x509.Certificate, error) { return []*x509.Certificate{id.Cert}, nil }
	}
	notFound := func(context.Context, string) ([]*x509.Certificate, error) {
		return nil, certs.ErrNotDiscovered
	}
	dnsDown := func(context.Context, string) ([]*x509.Certificate, error) {
		return nil, &net.DNSError{Err: "server misbehaving", IsTemporary: true}
	}
	cases := []struct {
		name     string
		entry    *gateway.Entry
		discover channel.DiscoverFunc
		want     string // substring of the reason; "" means reachable
	}{
		{"directory certificate", entry(theirAddr, f.theirs), nil, ""},
		{"no Direct endpoint", &gateway.Entry{ID: "x"}, nil, "no Direct address"},
		{"empty address", entry("", f.theirs), nil, "no Direct address"},
		{"expired", entry(theirAddr, f.expired), nil, "not valid at"},
		{"no key encipherment", entry(theirAddr, f.noEncipher), nil, "key encipherment"},
		{"other domain", entry(theirAddr, f.others), nil, "bound neither"},
		{"untrusted anchor", entry(theirAddr, f.untrusted), nil, "trust anchor"},
		{"garbage PEM", &gateway.Entry{Direct: &gateway.DirectEndpoint{Address: theirAddr, CertPEM: "not pem"}}, nil, "no usable recipient certificate"},
		{"no discovery configured", entry(theirAddr, nil), nil, "not configured"},
		{"discovered", entry(theirAddr, nil), found(f.theirs), ""},
		{"discovered but expired", entry(theirAddr, nil), found(f.expired), "not valid at"},
		{"nothing published", entry(theirAddr, nil), notFound, "no certificate published"},
		{"DNS failure", entry(theirAddr, nil), dnsDown, "discovery failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := newChannel(t, &recorder{}, tc.discover)
			if tc.discover != nil {
				// Reachable runs inside transactions and never waits on
				// DNS: before Resolve it says so, after it answers from the cache.
				if err := ch.Reachable(t.Context(), tc.entry); !errors.Is(err, gateway.ErrNotResolved) {
					t.Fatalf("before Resolve: got %v, want ErrNotResolved", err)
				}
				_ = ch.Resolve(t.Context(), tc.entry) // a failure is cached and answered below
			}
			err := ch.Reachable(t.Context(), tc.entry)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unreachable: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want a reason containing %q", err, tc.want)
			}
		})
	}
}

// TestSend checks the sealed message: it decrypts for the receiver, verifies
// against our anchor, carries the delivery's stable Message-ID, a
// content-free subject with the referral token, the records, and the Part 2
// notice only when the referral is Part 2.
func TestSend(t *testing.T) {
	f := getFixture(t)
	for _, part2 := range []bool{false, true} {
		tr := &recorder{res: smtpout.Result{Host: "mx.cardio-b.example", TLS: true, Code: 250, EnhancedCode: "2.0.0", Message: "OK queued as 42"}}
		ch := newChannel(t, tr, nil)
		out := outbound(part2)
		res, err := ch.Send(t.Context(), out)
		if err != nil {
			t.Fatal(err)
		}
		wantID := "del-0001@" + ourDomain
		if res.RemoteID != wantID || res.AwaitReceipt != channel.DefaultProcessedWithin || res.Delivered ||
			res.Detail != "250 2.0.0 OK queued as 42 (mx.cardio-b.example, TLS)" {
			t.Fatalf("result: %+v", res)
		}
		if len(tr.sent) != 1 || tr.from[0] != ourAddr || len(tr.to[0]) != 1 || tr.to[0][0] != theirAddr {
			t.Fatalf("envelope: from %v to %v", tr.from, tr.to)
		}
		wire := tr.sent[0]
		if bytes.Contains(wire, []byte("Testpatient")) || bytes.Contains(wire, []byte("Atrial")) {
			t.Fatal("PHI outside the encryption")
		}
		for _, h := range []string{"Subject: Referral [ref:ref-0001]\r\n", "Message-Id: <" + wantID + ">\r\n", "MIME-Version: 1.0\r\n"} {
			if !bytes.Contains(wire, []byte(h)) {
				t.Errorf("outer header lacks %q", h)
			}
		}
		inner, err := smime.Decrypt(wire, f.theirKeys)
		if err != nil {
			t.Fatal(err)
		}
		v, err := smime.Verify(t.Context(), inner, smime.VerifyOptions{Sender: ourAddr, TrustAnchors: f.trust.Pool(),
			Now: func() time.Time { return f.now }, SkipRevocation: true})
		if err != nil {
			t.Fatal(err)
		}
		msg, wrapped, err := smime.Unwrap(v.Entity)
		if err != nil || !wrapped {
			t.Fatalf("signed entity is not a message/rfc822 wrapped message: %v", err)
		}
		in, err := message.Parse(msg)
		if err != nil {
			t.Fatal(err)
		}
		if in.MessageID != wantID || in.Subject != "Referral [ref:ref-0001]" || in.DispositionNotificationTo != ourAddr || !in.FinalDelivery {
			t.Fatalf("inner header: %+v", in)
		}
		var names []string
		for _, a := range in.Attachments {
			names = append(names, a.Filename+" "+a.ContentType)
		}
		wantNames := []string{"ECG-report-12-lead.pdf application/pdf", "Visit-note.txt text/plain"}
		if part2 {
			wantNames = append([]string{"42CFR-Part2-Notice.txt text/plain; charset=utf-8"}, wantNames...)
		}
		if !slices.Equal(names, wantNames) {
			t.Fatalf("attachments %q, want %q", names, wantNames)
		}
		// The text record travels as its own attachment, byte for byte.
		if n := len(in.Attachments); n == 0 || string(in.Attachments[n-1].Content) != "Sinus rhythm with episodes of AF.\n" {
			t.Error("text record missing, or changed, among the attachments")
		}
		if strings.Contains(in.Text, "Sinus rhythm") {
			t.Error("text record content pasted into the summary")
		}
		if got := strings.Contains(in.Text, "\n42 CFR part 2 prohibits unauthorized use or disclosure of these records."); got != part2 {
			t.Errorf("Part 2 notice present %v, want %v", got, part2)
		}

		// A resend after a crash carries the same Message-ID.
		if _, err := ch.Send(t.Context(), out); err != nil {
			t.Fatal(err)
		}
		inner2, err := smime.Decrypt(tr.sent[1], f.theirKeys)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(inner2, []byte("Message-Id: <"+wantID+">")) {
			t.Error("resend changed the Message-ID")
		}
	}
}

func TestSendErrors(t *testing.T) {
	f := getFixture(t)
	cases := []struct {
		name      string
		err       error
		receiver  *gateway.Entry
		discover  channel.DiscoverFunc
		permanent bool
	}{
		{"4xx reply", &smtpout.ReplyError{Command: "RCPT", Code: 451, EnhancedCode: "4.3.0", Message: "try later"}, nil, nil, false},
		{"5xx reply", &smtpout.ReplyError{Command: "RCPT", Code: 550, EnhancedCode: "5.1.1", Message: "no such user"}, nil, nil, true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, nil, nil, false},
		{"no STARTTLS", smtpout.ErrTLSRequired, nil, nil, true},
		{"expired certificate", nil, entry(theirAddr, f.expired), nil, true},
		{"DNS failure", nil, entry(theirAddr, nil), func(context.Context, string) ([]*x509.Certificate, error) {
			return nil, &net.DNSError{Err: "timeout", IsTimeout: true}
		}, false},
		{"no signing identity", nil, entry("intake@direct.elsewhere.example", f.others), nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := &recorder{err: tc.err, res: smtpout.Result{Code: 250}}
			ch := newChannel(t, tr, tc.discover)
			out := outbound(false)
			if tc.receiver != nil {
				out.Receiver = tc.receiver
			}
			if tc.name == "no signing identity" {
				out.Sender.Direct = &gateway.DirectEndpoint{Address: "referrals@direct.unknown.example"}
			}
			_, err := ch.Send(t.Context(), out)
			if err == nil {
				t.Fatal("send succeeded")
			}
			if gateway.IsPermanent(err) != tc.permanent {
				t.Fatalf("permanent = %v, want %v: %v", gateway.IsPermanent(err), tc.permanent, err)
			}
		})
	}
}

func TestSenderAddress(t *testing.T) {
	ch := newChannel(t, &recorder{}, nil)
	cases := []struct {
		sender *gateway.Entry
		want   string
	}{
		{nil, ourAddr},
		{&gateway.Entry{ID: "clinic-a"}, ourAddr},
		{&gateway.Entry{ID: "clinic-a", Direct: &gateway.DirectEndpoint{Address: "dr.primary@" + ourDomain}}, "dr.primary@" + ourDomain},
	}
	for _, tc := range cases {
		if got := ch.SenderAddress(tc.sender); got != tc.want {
			t.Errorf("SenderAddress(%+v) = %q, want %q", tc.sender, got, tc.want)
		}
	}
}

func TestReferralToken(t *testing.T) {
	cases := []struct {
		subject, id string
		ok          bool
	}{
		{channel.Subject("01JD8X-abc"), "01JD8X-abc", true},
		{"Re: Referral [ref:01JD8X-abc]", "01JD8X-abc", true},
		{"RE: RE: Fwd: Referral [ref:a.b-c] accepted", "a.b-c", true},
		{"Referral", "", false},
		{"Referral [ref:]", "", false},
		{"Referral [ref:has space]", "", false},
		{"Referral [ref:../../etc]", "", false},
	}
	for _, tc := range cases {
		id, ok := channel.ReferralToken(tc.subject)
		if id != tc.id || ok != tc.ok {
			t.Errorf("ReferralToken(%q) = %q, %v; want %q, %v", tc.subject, id, ok, tc.id, tc.ok)
		}
	}
}

func TestConfigRequired(t *testing.T) {
	_, err := channel.New(channel.Config{})
	for _, want := range []string{"domain", "keyring", "trust store", "transport"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(empty) = %v, want it to name %s", err, want)
		}
	}
}

// TestSummaryGolden pins the rendered referral summary.
func TestSummaryGolden(t *testing.T) {
	getFixture(t)
	got := channel.Summary(outbound(false))
	path := filepath.Join("testdata", "summary.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Errorf("summary differs:\n--- got\n%s\n--- want\n%s", got, want)
	}
}

func FuzzReferralToken(f *testing.F) {
	for _, s := range []string{"Referral [ref:01JD8X]", "Re: [ref:a] [ref:b]", "[ref:", "]ref:x[", "Referral [ref:\x00]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subject string) {
		id, ok := channel.ReferralToken(subject)
		if !ok {
			if id != "" {
				t.Fatalf("no token but id %q", id)
			}
			return
		}
		if id == "" || strings.ContainsAny(id, " /\\[]\r\n") {
			t.Fatalf("unsafe id %q from %q", id, subject)
		}
		if again, ok := channel.ReferralToken(channel.Subject(id)); !ok || again != id {
			t.Fatalf("round trip of %q gave %q", id, again)
		}
	})
}

func TestOurs(t *testing.T) {
	f := getFixture(t)
	ch, err := channel.New(channel.Config{Domain: "Direct.Clinic-A.example.", Domains: []string{"direct.clinic-a-peds.example", ""},
		Keys: f.keys, Trust: f.trust, Transport: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ch.Config()
	for addr, want := range map[string]bool{
		"referrals@direct.clinic-a.example":     true,
		"dr@DIRECT.CLINIC-A-PEDS.EXAMPLE":       true,
		"intake@direct.cardio-b.example":        false,
		"referrals@sub.direct.clinic-a.example": false,
		"no-domain":                             false,
	} {
		if got := cfg.Ours(addr); got != want {
			t.Errorf("Ours(%q) = %v, want %v", addr, got, want)
		}
	}
	if cfg.DefaultSender != "referrals@direct.clinic-a.example" {
		t.Errorf("default sender %q", cfg.DefaultSender)
	}
}

func TestSendWithoutFinalDelivery(t *testing.T) {
	f := getFixture(t)
	tr := &recorder{res: smtpout.Result{Code: 250}}
	ch, err := channel.New(channel.Config{Domain: ourDomain, Keys: f.keys, Trust: f.trust, Transport: tr,
		NoFinalDelivery: true, ProcessedWithin: 30 * time.Minute, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ch.Send(t.Context(), outbound(false))
	if err != nil {
		t.Fatal(err)
	}
	if res.AwaitReceipt != 30*time.Minute {
		t.Errorf("await %v", res.AwaitReceipt)
	}
	inner, err := smime.Decrypt(tr.sent[0], f.theirKeys)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(inner, []byte("Disposition-Notification-To: <"+ourAddr+">")) ||
		bytes.Contains(inner, []byte("X-DIRECT-FINAL-DESTINATION-DELIVERY")) {
		t.Error("message should ask for MDNs but not for final delivery")
	}
}

package message

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// fixedBoundaries returns a boundary generator that yields b1, b2, ...
func fixedBoundaries() func() string {
	n := 0
	return func() string {
		n++
		return fmt.Sprintf("golden-boundary-%d", n)
	}
}

func sampleOutbound() Outbound {
	return Outbound{
		From:        "Dr. Alice Testdoc <alice.testdoc@direct.sender.example>",
		To:          []string{"intake@direct.receiver.example"},
		Subject:     "Referral: cardiology consult",
		MessageID:   "ref-0001@direct.sender.example",
		Date:        time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC),
		SummaryText: "Synthetic patient Zed Example (NPI of referrer 0000000000) is referred\nfor a cardiology consult.",
		Attachments: []Attachment{{
			Filename:    "ccd.xml",
			ContentType: "application/xml",
			Content:     []byte(`<?xml version="1.0"?><ClinicalDocument xmlns="urn:hl7-org:v3"/>`),
		}},
		DispositionNotificationTo: "alice.testdoc@direct.sender.example",
	}
}

func TestComposeGolden(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Outbound)
	}{
		{"plain", func(*Outbound) {}},
		{"final_delivery_part2", func(m *Outbound) {
			m.FinalDelivery = true
			m.Part2Notice = true
			m.InReplyTo = "prior-7@direct.receiver.example"
			m.References = []string{"prior-6@direct.receiver.example", "prior-7@direct.receiver.example"}
			m.Subject = "Überweisung: Kardiologie"
			m.Attachments = append(m.Attachments, Attachment{
				Filename: "letter.pdf", ContentType: "application/pdf", Content: []byte("%PDF-1.4 synthetic"),
			})
		}},
		{"no_mdn", func(m *Outbound) {
			m.DispositionNotificationTo = ""
			m.Attachments = nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sampleOutbound()
			tt.modify(&m)
			c := Composer{Boundary: fixedBoundaries()}
			got, err := c.Compose(m)
			if err != nil {
				t.Fatalf("Compose: %v", err)
			}
			assertCRLF(t, got)
			golden := filepath.Join("testdata", tt.name+".eml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Compose output differs from %s (run with -update after review)\n--- got ---\n%s", golden, got)
			}
		})
	}
}

func assertCRLF(t *testing.T, b []byte) {
	t.Helper()
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			t.Fatalf("bare LF at offset %d", i)
		}
	}
}

func TestComposeRoundTrip(t *testing.T) {
	m := sampleOutbound()
	m.FinalDelivery = true
	m.Part2Notice = true
	m.InReplyTo = "prior-7@direct.receiver.example"
	m.References = []string{"prior-6@direct.receiver.example"}
	img := bytes.Repeat([]byte{0x89, 'P', 'N', 'G', 0, 0xff}, 100)
	m.Attachments = append(m.Attachments, Attachment{Filename: "scan.png", ContentType: "image/png", Content: img})
	raw, err := Compose(m)
	if err != nil {
		t.Fatal(err)
	}
	in, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"From", in.From, "alice.testdoc@direct.sender.example"},
		{"To", strings.Join(in.To, ","), "intake@direct.receiver.example"},
		{"Subject", in.Subject, m.Subject},
		{"MessageID", in.MessageID, m.MessageID},
		{"InReplyTo", in.InReplyTo, m.InReplyTo},
		{"References", strings.Join(in.References, ","), "prior-6@direct.receiver.example"},
		{"Date", in.Date.Equal(m.Date), true},
		{"MDNRequested", in.MDNRequested(), true},
		{"FinalDelivery", in.FinalDelivery, true},
		{"Text has summary", strings.HasPrefix(in.Text, m.SummaryText), true},
		{"Text has Part 2 notice", strings.HasSuffix(strings.TrimSpace(in.Text), "42 CFR part 2 prohibits unauthorized use or disclosure of these records."), true},
		{"attachments", len(in.Attachments), 3},
		{"notice part", in.Attachments[0].Filename, part2Filename},
		{"ccd", string(in.Attachments[1].Content), string(m.Attachments[0].Content)},
		{"ccd type", in.Attachments[1].ContentType, "application/xml"},
		{"png bytes", bytes.Equal(in.Attachments[2].Content, img), true},
		{"png name", in.Attachments[2].Filename, "scan.png"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
}

func TestComposeRejects(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Outbound)
		want   string
	}{
		{"no from", func(m *Outbound) { m.From = "" }, "From"},
		{"no recipient", func(m *Outbound) { m.To = nil }, "no recipient"},
		{"bad recipient", func(m *Outbound) { m.To = []string{"not an address"} }, "To"},
		{"no message id", func(m *Outbound) { m.MessageID = "" }, "message id is required"},
		{"bracketed id", func(m *Outbound) { m.MessageID = "<x@y>" }, "invalid message id"},
		{"bad in-reply-to", func(m *Outbound) { m.InReplyTo = "no-at-sign" }, "invalid message id"},
		{"no date", func(m *Outbound) { m.Date = time.Time{} }, "date"},
		{"subject injection", func(m *Outbound) { m.Subject = "x\r\nBcc: evil@example.org" }, "line break"},
		{"final without dnt", func(m *Outbound) { m.DispositionNotificationTo = ""; m.FinalDelivery = true }, "final delivery"},
		{"exe attachment", func(m *Outbound) { m.Attachments[0].ContentType = "application/x-msdownload" }, "not allowed"},
		{"path filename", func(m *Outbound) { m.Attachments[0].Filename = "../etc/passwd" }, "filename"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sampleOutbound()
			tt.modify(&m)
			_, err := Compose(m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compose error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestComposeBoundaryRandom(t *testing.T) {
	a, err := Compose(sampleOutbound())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Compose(sampleOutbound())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two compositions with random boundaries are identical")
	}
}

func TestNewMessageID(t *testing.T) {
	a, b := NewMessageID("Direct.Sender.Example"), NewMessageID("direct.sender.example")
	if a == b {
		t.Fatal("NewMessageID returned the same id twice")
	}
	if !strings.HasSuffix(a, "@direct.sender.example") || !validMsgID(a) {
		t.Fatalf("NewMessageID = %q, not a valid id for the domain", a)
	}
}

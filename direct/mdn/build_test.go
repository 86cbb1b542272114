package mdn

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

func sampleNotification() Notification {
	return Notification{
		From:              "intake@direct.receiver.example",
		To:                "alice.testdoc@direct.sender.example",
		MessageID:         "mdn-0001@direct.receiver.example",
		Date:              time.Date(2026, 11, 23, 9, 31, 0, 0, time.UTC),
		ReportingUA:       "direct.receiver.example; referralgw",
		OriginalRecipient: "intake@direct.receiver.example",
		FinalRecipient:    "intake@direct.receiver.example",
		OriginalMessageID: "ref-0001@direct.sender.example",
		Disposition:       Processed,
	}
}

func TestBuildGolden(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Notification)
	}{
		{"processed", func(*Notification) {}},
		{"dispatched", func(n *Notification) { n.Disposition = Dispatched; n.FinalDelivery = true }},
		{"failed", func(n *Notification) {
			n.Disposition = Failed
			n.FinalDelivery = true
			n.Failure = "recipient mailbox unavailable"
			n.Subject = "Delivery failed"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := sampleNotification()
			tt.modify(&n)
			b := Builder{Boundary: func() string { return "golden-mdn-boundary" }}
			got, err := b.Build(n)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			for i, c := range got {
				if c == '\n' && (i == 0 || got[i-1] != '\r') {
					t.Fatalf("bare LF at offset %d", i)
				}
			}
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
				t.Errorf("Build output differs from %s (run with -update after review)\n--- got ---\n%s", golden, got)
			}
		})
	}
}

func TestBuildParseRoundTrip(t *testing.T) {
	for _, d := range []Disposition{Processed, Dispatched, Displayed, Deleted, Failed} {
		t.Run(string(d), func(t *testing.T) {
			n := sampleNotification()
			n.Disposition = d
			n.FinalDelivery = d == Dispatched || d == Failed
			if d == Failed {
				n.Failure = "no such recipient"
			}
			raw, err := Build(n)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			want := Report{
				Kind: KindMDN, MessageID: n.MessageID, OriginalMessageID: n.OriginalMessageID,
				ReportingUA: n.ReportingUA, OriginalRecipient: n.OriginalRecipient, FinalRecipient: n.FinalRecipient,
				Disposition: d, FinalDelivery: n.FinalDelivery, Reason: n.Failure,
			}
			if got := fmt.Sprintf("%+v", *r); got != fmt.Sprintf("%+v", want) {
				t.Errorf("Parse(Build()) =\n%s\nwant\n%s", got, fmt.Sprintf("%+v", want))
			}
			if r.Failed() != (d == Failed) {
				t.Errorf("Failed() = %v", r.Failed())
			}
		})
	}
}

func TestBuildRejects(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Notification)
		want   string
	}{
		{"unknown disposition", func(n *Notification) { n.Disposition = "read" }, "unknown disposition"},
		{"failed without reason", func(n *Notification) { n.Disposition = Failed }, "Failure"},
		{"no date", func(n *Notification) { n.Date = time.Time{} }, "date"},
		{"no reporting ua", func(n *Notification) { n.ReportingUA = "" }, "Reporting-UA"},
		{"bad to", func(n *Notification) { n.To = "nobody" }, "To address"},
		{"bad original id", func(n *Notification) { n.OriginalMessageID = "<x@y>" }, "message id"},
		{"failure injection", func(n *Notification) {
			n.Disposition = Failed
			n.Failure = "x\r\nDisposition: automatic-action/MDN-sent-automatically; processed"
		}, "line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := sampleNotification()
			tt.modify(&n)
			if _, err := Build(n); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

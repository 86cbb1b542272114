package channel_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/referralgw/gateway/fax/channel"
	"github.com/referralgw/gateway/fax/packet"
	"github.com/referralgw/gateway/gateway"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestPacketMapping(t *testing.T) {
	out := outbound(t, "del-1", true, true)
	p := channel.Packet(out, faxNumber, coverAt)
	checks := []struct {
		field, got, want string
	}{
		{"practice", p.Sender.Practice, "Synthetic Family Clinic"},
		{"provider", p.Sender.Provider, "Dr. Synthetic Primary"},
		{"npi", p.Sender.NPI, "1234567893"},
		{"callback phone", p.Sender.CallbackPhone, "+1 555 555 0100"},
		{"return fax", p.Sender.Fax, "+15555550199"},
		{"recipient", p.Recipient.Name, "Synthetic Cardiology"},
		{"recipient fax", p.Recipient.Fax, faxNumber},
		{"reason", p.Reason, "Atrial fibrillation (49436004)"},
		{"priority", string(p.Priority), string(packet.PriorityUrgent)},
		{"referral id", p.ReferralID, "CLINIC-A-77"},
		{"first record", p.Records[0].Title + " " + p.Records[0].MediaType, "ECG report application/pdf"},
		{"second record", p.Records[1].Title + " " + p.Records[1].MediaType, "Visit note text/plain; charset=utf-8"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if !p.Part2 || !p.Date.Equal(coverAt) || len(p.Records) != 2 {
		t.Errorf("part2 %v, date %s, %d records", p.Part2, p.Date, len(p.Records))
	}

	// Fallbacks: no sender entry, no priority, a reason without display.
	out.Sender = nil
	out.Referral.Priority = ""
	out.Referral.Reason = gateway.Coding{Code: "R00.2"}
	p = channel.Packet(out, faxNumber, coverAt)
	if p.Sender.Practice != "clinic-a" || p.Priority != packet.PriorityRoutine || p.Reason != "R00.2" {
		t.Errorf("fallbacks: practice %q, priority %q, reason %q", p.Sender.Practice, p.Priority, p.Reason)
	}
}

// TestCoverGolden compares the cover sheet's text, as pdftotext reads it,
// with testdata/cover-*.golden; run with -update to rewrite them.
func TestCoverGolden(t *testing.T) {
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext not installed")
	}
	for _, c := range []struct {
		name  string
		part2 bool
	}{{"cover-part2.golden", true}, {"cover.golden", false}} {
		t.Run(c.name, func(t *testing.T) {
			pdf, pages, err := channel.Render(outbound(t, "del-1", c.part2, false), faxNumber, coverAt)
			if err != nil {
				t.Fatal(err)
			}
			if pages < 2 {
				t.Errorf("%d pages, want the cover and the note", pages)
			}
			cmd := exec.CommandContext(t.Context(), bin, "-f", "1", "-l", "1", "-layout", "-", "-")
			cmd.Stdin = bytes.NewReader(pdf)
			got, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", c.name)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("cover text differs from %s (run with -update after checking):\n%s", path, got)
			}
		})
	}
}

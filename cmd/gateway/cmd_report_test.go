package main

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestReceiptReverseAndReport runs the auditor's and leadership's commands
// on a referral made from the README's fixtures: its compliance receipt in
// every format, a referral back from the receiver, and the practice report.
func TestReceiptReverseAndReport(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := gw(t, dir, "directory", "import", repoFile("directory.json")); code != 0 {
		t.Fatalf("import: %d %s", code, errs)
	}
	out, errs, code := gw(t, dir, "referral", "create", "--file", repoFile("referral.json"), "--submit")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errs)
	}
	id := strings.TrimSuffix(strings.Fields(out)[1], ":")

	out, errs, code = gw(t, dir, "referral", "receipt", id)
	if code != 0 || !strings.Contains(out, "45 CFR 164.506(c)") || !strings.Contains(out, "Verification: intact") {
		t.Fatalf("text receipt: %d %s %s", code, out, errs)
	}
	out, _, code = gw(t, dir, "referral", "receipt", id, "--format", "json")
	var rc struct {
		ReferralID string `json:"referralId"`
		Lines      []struct {
			Section string `json:"section"`
			Cites   []struct {
				Practice string `json:"practice"`
				Seq      int64  `json:"seq"`
			} `json:"cites"`
		} `json:"lines"`
		Verification struct{ OK bool } `json:"verification"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rc) != nil || rc.ReferralID != id || !rc.Verification.OK || len(rc.Lines) == 0 ||
		len(rc.Lines[0].Cites) == 0 {
		t.Fatalf("json receipt: %d %s", code, out)
	}
	out, _, code = gw(t, dir, "referral", "receipt", id, "--format", "fhir")
	var bundle struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &bundle) != nil || bundle.ResourceType != "Bundle" ||
		bundle.Entry[0].Resource.ResourceType != "Provenance" || bundle.Entry[1].Resource.ResourceType != "AuditEvent" {
		t.Fatalf("fhir receipt: %d %.400s", code, out)
	}
	out, _, code = gw(t, dir, "referral", "receipt", id, "--format", "html")
	if code != 0 || !strings.Contains(out, "<table>") || !strings.Contains(out, "Verified") {
		t.Fatalf("html receipt: %d %.300s", code, out)
	}
	out, _, code = gw(t, dir, "referral", "receipt", id, "--format", "pdf")
	if code != 0 || !strings.HasPrefix(out, "%PDF-") {
		t.Fatalf("pdf receipt: %d %.40q", code, out)
	}
	if _, errs, code := gw(t, dir, "referral", "receipt", id, "--format", "docx"); code != 2 || !strings.Contains(errs, "docx") {
		t.Fatalf("unknown format: %d %s", code, errs)
	}
	if _, errs, code := gw(t, dir, "referral", "receipt", "no-such-referral"); code != 1 || !strings.Contains(errs, "not found") {
		t.Fatalf("unknown referral: %d %s", code, errs)
	}

	// The referral is still requested (nothing delivers in a one-shot CLI):
	// the receiver cannot refer it back yet, and says why.
	if _, errs, code := gw(t, dir, "referral", "reverse", id); code != 3 || !strings.Contains(errs, "only a referral the receiver has received") {
		t.Fatalf("reverse before receipt: %d %s", code, errs)
	}

	today := time.Now().UTC().Format(time.DateOnly)
	out, errs, code = gw(t, dir, "report", "referrals", "--practice", "clinic-a", "--to", today, "--format", "csv")
	if code != 0 {
		t.Fatalf("report: %d %s", code, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || rows[0][0] != "figure" {
		t.Fatalf("csv: %v %q", err, out)
	}
	figures := map[string]string{}
	for _, r := range rows[1:] {
		figures[r[0]+"/"+r[1]] = r[2]
	}
	if figures["referrals sent/"] != "1" || figures["cross-practice (sent)/"] != "1" || figures["sent by channel/none"] != "1" {
		t.Fatalf("report figures: %v", figures)
	}
	if _, errs, code := gw(t, dir, "report", "referrals"); code != 2 || !strings.Contains(errs, "--practice") {
		t.Fatalf("report without practice: %d %s", code, errs)
	}
	if _, errs, code := gw(t, dir, "report", "referrals", "--practice", "nowhere"); code != 1 || !strings.Contains(errs, "nowhere") {
		t.Fatalf("report for unknown practice: %d %s", code, errs)
	}
}

package packet

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestRenderDocument renders a plain-text document with the packet's
// layout and reads it back with pdftotext; the same input renders the same
// bytes.
func TestRenderDocument(t *testing.T) {
	doc := Document{Title: "Compliance receipt for referral ref-0001", Date: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC),
		Text: "TIME  SECTION  STATEMENT\n2026-03-02T09:30:00Z  consent  Consent basis treatment rests on 45 CFR 164.506(c).\n\nVerification: intact"}
	pdf, err := RenderDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	text := pdftotext(t, pdf, 1, 0)
	for _, want := range []string{"Compliance receipt for referral ref-0001", "45 CFR 164.506(c)", "Verification: intact", "CONFIDENTIAL HEALTH INFORMATION"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q:\n%s", want, text)
		}
	}
	again, _ := RenderDocument(doc)
	if !bytes.Equal(pdf, again) {
		t.Error("the same document rendered to different bytes")
	}
	if _, err := RenderDocument(Document{Title: "x"}); err == nil {
		t.Error("a document without a date rendered")
	}
}

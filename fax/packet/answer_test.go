package packet

import (
	"strings"
	"testing"
)

// TestRenderAnswer checks the cover of the referrer's answer to a request
// for more information: its own title, the question and the answer, read
// back with pdftotext.
func TestRenderAnswer(t *testing.T) {
	p := basePacket()
	p.Answer = &Answer{Question: "Please send the latest echo report.", Text: "Echo report attached; no changes since."}
	p.Records = []Record{{Title: "Echo report", MediaType: "text/plain", Data: []byte("LVEF 55 percent.")}}
	out, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	cover := pdftotext(t, out, 1, 1)
	for _, want := range []string{"FAX: MORE INFORMATION FOR A REFERRAL", "ANSWER TO YOUR REQUEST FOR MORE INFORMATION",
		"You asked: Please send the latest echo report.", "Answer: Echo report attached; no changes since.", "1. Echo report"} {
		if !strings.Contains(cover, want) {
			t.Errorf("cover lacks %q:\n%s", want, cover)
		}
	}
	plain, err := Render(basePacket())
	if err != nil {
		t.Fatal(err)
	}
	if c := pdftotext(t, plain, 1, 1); strings.Contains(c, "MORE INFORMATION") {
		t.Errorf("a referral's cover talks of an answer:\n%s", c)
	}
}

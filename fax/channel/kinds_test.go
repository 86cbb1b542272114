package channel_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"

	"github.com/referralgw/gateway/fax/channel"
	"github.com/referralgw/gateway/fax/faxsim"
	"github.com/referralgw/gateway/fax/packet"
	"github.com/referralgw/gateway/gateway"
)

const syntheticCCDA = `<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <title>Synthetic Continuity of Care Document</title>
  <component><structuredBody><component><section>
    <title>Problems</title>
    <text><list><item>Atrial fibrillation (synthetic)</item></list></text>
  </section></component></structuredBody></component>
</ClinicalDocument>`

func syntheticImage(tb testing.TB, encode func(*bytes.Buffer, image.Image) error) []byte {
	tb.Helper()
	img := image.NewGray(image.Rect(0, 0, 64, 32))
	for x := range 64 {
		img.SetGray(x, x/2, color.Gray{Y: 200})
	}
	var buf bytes.Buffer
	if err := encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestSendEveryRecordKind faxes one record of each kind the packet
// accepts; every one adds pages after the cover.
func TestSendEveryRecordKind(t *testing.T) {
	sim, ch := emulator(t, faxsim.Config{})
	out := outbound(t, "del-kinds", false, true)
	out.Records = append(out.Records,
		gateway.RecordContent{Record: gateway.Record{Title: "Wound photo", ContentType: "image/png"},
			Content: syntheticImage(t, func(b *bytes.Buffer, i image.Image) error { return png.Encode(b, i) })},
		gateway.RecordContent{Record: gateway.Record{Title: "Referral letter scan", ContentType: "image/jpeg"},
			Content: syntheticImage(t, func(b *bytes.Buffer, i image.Image) error { return jpeg.Encode(b, i, nil) })},
		gateway.RecordContent{Record: gateway.Record{Title: "CCD", ContentType: "application/hl7-v3+xml"}, Content: []byte(syntheticCCDA)},
	)
	res, err := ch.Send(t.Context(), out)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := sim.Fax(mustID(t, res.RemoteID))
	pages, err := packet.PageCount(f.Files[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	// Cover, two PDF pages, the note, the two images and the C-CDA.
	if pages < 7 || !strings.HasPrefix(res.Detail, "queued, ") {
		t.Errorf("%d pages (%s), want at least 7", pages, res.Detail)
	}
	p := channel.Packet(out, faxNumber, coverAt)
	if len(p.Records) != 5 {
		t.Errorf("%d records in the packet, want 5", len(p.Records))
	}
}

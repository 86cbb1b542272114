package channel_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/referralgw/gateway/fax/channel"
	"github.com/referralgw/gateway/fax/faxsim"
)

// BenchmarkSend is one full send: render the packet (cover, a two-page
// PDF record, a text record) and submit it to the emulator over HTTP.
func BenchmarkSend(b *testing.B) {
	_, ch := emulator(b, faxsim.Config{CallbackDelay: time.Hour})
	out := outbound(b, "", true, true)
	ctx := b.Context()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		out.Delivery.ID = "del-" + strconv.Itoa(n)
		if _, err := ch.Send(ctx, out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRender is the rendering part of BenchmarkSend alone.
func BenchmarkRender(b *testing.B) {
	out := outbound(b, "del-1", true, true)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := channel.Render(out, faxNumber, coverAt); err != nil {
			b.Fatal(err)
		}
	}
}

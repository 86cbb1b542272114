package packet_test

import (
	"fmt"
	"time"

	"github.com/referralgw/gateway/fax/packet"
)

func ExampleRender() {
	pdf, err := packet.Render(packet.Packet{
		Date:      time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC),
		Sender:    packet.Sender{Practice: "Example Family Practice", Provider: "Dr. Pat Example", CallbackPhone: "(555) 234-0100"},
		Recipient: packet.Recipient{Name: "Example Cardiology", Fax: "+15553450199"},
		Reason:    "Evaluation of a new heart murmur.",
		Priority:  packet.PriorityRoutine,
		Part2:     false,
		Records: []packet.Record{
			{Title: "Referral letter", MediaType: packet.MediaPlain, Data: []byte("Dear colleague,\nPlease evaluate.\n")},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	n, err := packet.PageCount(pdf)
	fmt.Println(n, err)
	// Output: 2 <nil>
}

package channel

import (
	"cmp"
	"strings"
	"time"

	"github.com/referralgw/gateway/fax/packet"
	"github.com/referralgw/gateway/gateway"
)

// Packet turns an outbound referral into the packet fax/packet renders: the
// sending practice and provider with the callback phone, the recipient, the
// reason code and display, the priority, the Part 2 notice when the
// referral carries Part 2 records, and the records in order.
func Packet(out *gateway.Outbound, to string, now time.Time) packet.Packet {
	r := out.Referral
	p := packet.Packet{
		Date:       now,
		ReferralID: cmp.Or(r.Identifier, r.ID),
		Sender: packet.Sender{
			Practice:      r.Requester.OrgID,
			Provider:      r.Requester.Name,
			NPI:           r.Requester.NPI,
			CallbackPhone: r.Requester.Phone,
		},
		Recipient: packet.Recipient{Name: out.Receiver.Name, Fax: to},
		Reason:    reason(r.Reason),
		Priority:  packet.Priority(cmp.Or(r.Priority, gateway.PriorityRoutine)),
		Part2:     r.Sensitive.Part2,
	}
	if out.Sender != nil {
		p.Sender.Practice = cmp.Or(out.Sender.Name, p.Sender.Practice)
		if out.Sender.Fax != nil {
			p.Sender.Fax = out.Sender.Fax.Number
		}
	}
	if out.Delivery != nil && out.Delivery.Purpose == gateway.PurposeAnswer {
		p.Answer = &packet.Answer{Question: r.Question, Text: r.Answer}
	}
	for _, rc := range out.Records {
		p.Records = append(p.Records, packet.Record{Title: rc.Title, MediaType: rc.ContentType, Data: rc.Content})
	}
	return p
}

// reason prints a coded reason as "display (code)".
func reason(c gateway.Coding) string {
	d, code := strings.TrimSpace(c.Display), strings.TrimSpace(c.Code)
	switch {
	case d != "" && code != "":
		return d + " (" + code + ")"
	case d != "":
		return d
	}
	return code
}

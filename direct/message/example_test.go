package message_test

import (
	"fmt"
	"time"

	"github.com/referralgw/gateway/direct/message"
)

func ExampleCompose() {
	raw, err := message.Compose(message.Outbound{
		From:                      "referrals@direct.sender.example",
		To:                        []string{"intake@direct.receiver.example"},
		Subject:                   "Referral",
		MessageID:                 "ref-42@direct.sender.example",
		Date:                      time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC),
		SummaryText:               "Synthetic referral summary.",
		DispositionNotificationTo: "referrals@direct.sender.example",
		FinalDelivery:             true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	in, err := message.Parse(raw)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(in.MessageID, in.MDNRequested(), in.FinalDelivery)
	fmt.Println(in.Text)
	// Output:
	// ref-42@direct.sender.example true true
	// Synthetic referral summary.
}

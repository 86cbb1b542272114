package mdn_test

import (
	"fmt"
	"time"

	"github.com/referralgw/gateway/direct/mdn"
)

func ExampleBuild() {
	raw, err := mdn.Build(mdn.Notification{
		From:              "intake@direct.receiver.example",
		To:                "referrals@direct.sender.example",
		MessageID:         "mdn-1@direct.receiver.example",
		Date:              time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC),
		ReportingUA:       "direct.receiver.example; referralgw",
		FinalRecipient:    "intake@direct.receiver.example",
		OriginalMessageID: "ref-42@direct.sender.example",
		Disposition:       mdn.Dispatched,
		FinalDelivery:     true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := mdn.Parse(raw)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Kind, r.OriginalMessageID, r.Disposition, r.FinalDelivery, r.Failed())
	// Output: mdn ref-42@direct.sender.example dispatched true false
}

package smtpout_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/referralgw/gateway/direct/smtpout"
)

func ExampleSender_Send() {
	s, err := smtpout.New(smtpout.Config{HELO: "gw.sender.example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	msg := []byte("...signed and encrypted Direct message...")
	res, err := s.Send(context.Background(), "referrals@direct.sender.example", []string{"intake@direct.receiver.example"}, msg)
	if err != nil {
		fmt.Println("retry later:", smtpout.IsTemporary(err))
		return
	}
	fmt.Println(res.Code, res.EnhancedCode, res.TLS)
}

func ExampleIsTemporary() {
	err := fmt.Errorf("deliver: %w", &smtpout.ReplyError{Command: "RCPT", Code: 451, EnhancedCode: "4.3.0", Message: "try later"})
	var re *smtpout.ReplyError
	if errors.As(err, &re) {
		fmt.Println(re.Code, smtpout.IsTemporary(err), smtpout.Backoff(3))
	}
	// Output: 451 true 4m0s
}

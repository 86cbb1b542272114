package channel_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/referralgw/gateway/fax/channel"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
)

func TestPhaxioResult(t *testing.T) {
	cases := []struct {
		name      string
		status    phaxio.Status
		errType   string
		code      int
		msg       string
		state     channel.State
		retryable bool
	}{
		{"success", phaxio.StatusSuccess, "", 0, "", channel.StateSuccess, false},
		{"queued", phaxio.StatusQueued, "", 0, "", channel.StatePending, false},
		{"in progress", phaxio.StatusInProgress, "", 0, "", channel.StatePending, false},
		{"pending batch", phaxio.StatusPendingBatch, "", 0, "", channel.StatePending, false},
		{"unknown word", phaxio.Status("rescheduled"), "", 0, "", channel.StatePending, false},
		{"busy", phaxio.StatusFailure, "lineError", 34, "Busy", channel.StateFailure, true},
		{"no answer", phaxio.StatusFailure, "lineError", 35, "No answer", channel.StateFailure, true},
		{"did not answer", phaxio.StatusFailure, "lineError", 35, "The remote fax did not answer", channel.StateFailure, true},
		{"busy, odd case", phaxio.StatusFailure, "LINEERROR", 34, "LINE BUSY", channel.StateFailure, true},
		{"not a fax machine", phaxio.StatusFailure, "lineError", 36, "Voice answered", channel.StateFailure, false},
		{"negotiation", phaxio.StatusFailure, "faxError", 40, "Fax negotiation failed", channel.StateFailure, false},
		{"busy word in another class", phaxio.StatusFailure, "generalError", 1, "Servers busy", channel.StateFailure, false},
		{"partial", phaxio.StatusPartialSuccess, "lineError", 34, "Busy", channel.StateFailure, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := channel.PhaxioResult(c.status, 3, c.errType, c.code, c.msg)
			if r.State != c.state || r.Retry != c.retryable {
				t.Errorf("state %s retry %v, want %s %v", r.State, r.Retry, c.state, c.retryable)
			}
			rc := r.Receipt()
			switch c.state {
			case channel.StatePending:
				if rc != nil {
					t.Errorf("pending fax gave receipt %+v", rc)
				}
			case channel.StateSuccess:
				if rc == nil || rc.Kind != gateway.ReceiptFaxSuccess || !rc.Final || rc.Detail != "3 pages" {
					t.Errorf("receipt %+v", rc)
				}
			case channel.StateFailure:
				if rc == nil || rc.Kind != gateway.ReceiptFailed || rc.Retryable != c.retryable ||
					!strings.Contains(rc.Detail, string(c.status)) || !strings.Contains(rc.Detail, c.errType) {
					t.Errorf("receipt %+v", rc)
				}
			}
		})
	}
}

func TestFailureDetailIsBounded(t *testing.T) {
	r := channel.Result{State: channel.StateFailure, Status: "failure", ErrorType: "faxError", ErrorCode: 7,
		ErrorMessage: strings.Repeat("é", 300) + "\r\nInjected: header"}
	d := r.Receipt().Detail
	if len(d) > 300 || strings.ContainsAny(d, "\r\n") || !strings.HasPrefix(d, "fax failure faxError/7: ") {
		t.Errorf("detail %q (%d bytes)", d, len(d))
	}
	if !utf8.ValidString(d) {
		t.Errorf("detail is not valid UTF-8: %q", d)
	}
}

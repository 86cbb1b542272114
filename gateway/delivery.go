package gateway

import (
	"fmt"
	"time"
)

// ChannelKind names a delivery channel.
type ChannelKind string

// The channels the gateway delivers on, in default preference order.
const (
	ChannelFHIR   ChannelKind = "fhir"
	ChannelDirect ChannelKind = "direct"
	ChannelFax    ChannelKind = "fax"
)

// DefaultChannelOrder is the routing preference when a directory entry does
// not set its own: on-platform FHIR, then Direct, then fax as the last resort.
var DefaultChannelOrder = []ChannelKind{ChannelFHIR, ChannelDirect, ChannelFax}

// ValidChannel reports whether k names a known channel.
func ValidChannel(k ChannelKind) bool {
	return k == ChannelFHIR || k == ChannelDirect || k == ChannelFax
}

// DeliveryState is the state of one send of a referral on one channel.
type DeliveryState string

// The delivery states of DOMAIN.md.
const (
	DeliveryQueued    DeliveryState = "queued"
	DeliverySending   DeliveryState = "sending"
	DeliverySent      DeliveryState = "sent"
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryFailed    DeliveryState = "failed"
)

// deliveryMoves is the delivery state machine: queued → sending → sent →
// delivered | failed. A send that fails temporarily goes back to queued for
// a retry; any open state may fail. A receipt for a queued delivery moves
// it on: the receiver took a send whose answer never reached us (a
// receiver killed between committing the message and its SMTP 250), and
// its receipt is the proof. A final receipt delivers it, a progress
// receipt (a processed MDN) makes it sent; the pending retry then finds it
// so and sends nothing.
var deliveryMoves = map[DeliveryState][]DeliveryState{
	DeliveryQueued:  {DeliverySending, DeliverySent, DeliveryFailed, DeliveryDelivered},
	DeliverySending: {DeliverySent, DeliveryQueued, DeliveryFailed, DeliveryDelivered},
	DeliverySent:    {DeliveryDelivered, DeliveryFailed},
}

// CheckDeliveryTransition returns nil when a delivery may move from → to.
// sending → delivered is allowed for channels whose send is itself the
// receipt (a FHIR push answered with the receiver's Task), queued →
// sent or delivered for a receipt that arrives after a send whose answer
// was lost.
func CheckDeliveryTransition(from, to DeliveryState) error {
	for _, s := range deliveryMoves[from] {
		if s == to {
			return nil
		}
	}
	return &TransitionError{Machine: "delivery", From: string(from), To: string(to),
		Rule: fmt.Sprintf("a %s delivery cannot become %s", from, to)}
}

// Delivery is one attempt to carry a referral to its receiver on one channel.
type Delivery struct {
	ID         string        `json:"id"` // also the idempotency key the channel sends with
	ReferralID string        `json:"referralId"`
	Channel    ChannelKind   `json:"channel"`
	State      DeliveryState `json:"state"`
	Attempts   int           `json:"attempts"`
	// RemoteID is the channel's handle for the send: the Direct Message-ID,
	// the receiver's Task id, the fax vendor's fax id.
	RemoteID  string    `json:"remoteId,omitempty"`
	LastError string    `json:"lastError,omitempty"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	SentAt    time.Time `json:"sentAt,omitzero"`
	// Deadline is when a receipt must have arrived; zero when none is due.
	Deadline time.Time `json:"deadline,omitzero"`
	Receipts []Receipt `json:"receipts,omitempty"`
	// Purpose says what the send carries: the referral itself (empty) or
	// the referrer's answer to a request for more information.
	Purpose DeliveryPurpose `json:"purpose,omitempty"`
	// RecordIDs limits the records an answer carries to those added with
	// it; empty means every record of the referral.
	RecordIDs []string `json:"recordIds,omitempty"`
	// AnswersRemoteID is, for an answer, the channel's handle of the
	// delivery that carried the referral (the Direct Message-ID the answer
	// replies to, the receiver's Task id), so the receiver can thread it.
	AnswersRemoteID string `json:"answersRemoteId,omitempty"`
}

// DeliveryPurpose names what a delivery carries.
type DeliveryPurpose string

// PurposeAnswer is a delivery of the referrer's answer to the receiver's
// request for more information (Referral.Question and Referral.Answer),
// with the records added with it, on the channel the referral went on.
const PurposeAnswer DeliveryPurpose = "answer"

// ReceiptKind says what a receipt reports.
type ReceiptKind string

// Receipt kinds across channels.
const (
	ReceiptProcessed  ReceiptKind = "processed"  // Direct MDN processed: the receiving HISP has it
	ReceiptDispatched ReceiptKind = "dispatched" // Direct MDN dispatched: delivered to the final destination
	ReceiptFailed     ReceiptKind = "failed"     // MDN failed, DSN, fax failure, FHIR push refused
	ReceiptTaskStatus ReceiptKind = "task-status"
	ReceiptFaxSuccess ReceiptKind = "fax-success"
)

// Receipt is one delivery notification from the far side.
type Receipt struct {
	Kind ReceiptKind `json:"kind"`
	At   time.Time   `json:"at"`
	// Final marks the receipt that completes the delivery; a non-final
	// receipt (processed, when dispatched was requested) only records progress.
	Final  bool   `json:"final,omitempty"`
	Detail string `json:"detail,omitempty"` // metadata only: codes, page counts, status words
	// Retryable marks a failure worth another try on the same channel (a
	// busy fax line, no answer): the core queues a new delivery on that
	// channel with backoff, up to Config.ChannelRetries, before falling back.
	Retryable bool `json:"retryable,omitempty"`
	// RemoteID is the channel's handle of the send the receipt reports on,
	// when the receipt names it (the Message-ID an MDN answers, a fax id).
	// It is recorded on a delivery that has none yet: the receipt overtook
	// the recording of its send, which a crash may keep from ever
	// happening. It is not kept with the receipt.
	RemoteID string `json:"-"`
}

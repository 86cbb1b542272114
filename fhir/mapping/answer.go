package mapping

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// Communication is the FHIR R4 Communication the gateway pushes when the
// referrer answers a receiver's request for more information: the answer
// as text and each added record as an inline attachment, about the
// receiver's Task. It is written by hand rather than with the model
// library, whose payload type emits every content[x] choice at once.
type Communication struct {
	ResourceType string           `json:"resourceType"`
	Identifier   []identifierJSON `json:"identifier"`
	Status       string           `json:"status"`
	About        []referenceJSON  `json:"about,omitempty"`
	Sent         string           `json:"sent"`
	Sender       *referenceJSON   `json:"sender,omitempty"`
	Recipient    []referenceJSON  `json:"recipient,omitempty"`
	Payload      []payloadJSON    `json:"payload"`
}

type identifierJSON struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type referenceJSON struct {
	Reference  string          `json:"reference,omitempty"`
	Type       string          `json:"type,omitempty"`
	Identifier *identifierJSON `json:"identifier,omitempty"`
}

type attachmentJSON struct {
	ContentType string `json:"contentType"`
	Data        string `json:"data"`
	Title       string `json:"title,omitempty"`
	Size        int    `json:"size"`
}

type payloadJSON struct {
	ContentString     string          `json:"contentString,omitempty"`
	ContentAttachment *attachmentJSON `json:"contentAttachment,omitempty"`
}

// AnswerIfNoneExist is the conditional-create search that makes a resent
// answer a duplicate the receiver recognises.
func AnswerIfNoneExist(deliveryID string) string {
	return "identifier=" + SystemDelivery + "|" + deliveryID
}

// NewAnswerCommunication renders the referrer's answer (r.Answer, with
// the question it answers) and the records added with it as a
// Communication about the receiver's Task taskID (the id the receiver
// gave the pushed Task), identified by the answer's delivery id.
func NewAnswerCommunication(r *gateway.Referral, deliveryID, taskID string, records []gateway.RecordContent, sent time.Time) ([]byte, error) {
	if deliveryID == "" || strings.TrimSpace(r.Answer) == "" {
		return nil, fmt.Errorf("mapping: answer for %s: a delivery id and an answer are required", r.ID)
	}
	text := "Answer: " + strings.TrimSpace(r.Answer)
	if q := strings.TrimSpace(r.Question); q != "" {
		text = "You asked: " + q + "\n" + text
	}
	c := Communication{
		ResourceType: "Communication",
		Identifier:   []identifierJSON{{System: SystemDelivery, Value: deliveryID}},
		Status:       "completed",
		Sent:         sent.UTC().Format(time.RFC3339),
		Sender: &referenceJSON{Type: "Organization",
			Identifier: &identifierJSON{System: SystemDirectory, Value: r.Requester.OrgID}},
		Payload: []payloadJSON{{ContentString: text}},
	}
	if taskID != "" {
		c.About = []referenceJSON{{Reference: "Task/" + taskID}}
	}
	if r.ReceiverID != "" {
		c.Recipient = []referenceJSON{{Type: receiverType(r),
			Identifier: &identifierJSON{System: SystemDirectory, Value: r.ReceiverID}}}
	}
	for _, rc := range records {
		c.Payload = append(c.Payload, payloadJSON{ContentAttachment: &attachmentJSON{ContentType: rc.ContentType,
			Data: base64.StdEncoding.EncodeToString(rc.Content), Title: rc.Title, Size: len(rc.Content)}})
	}
	return json.Marshal(c)
}

// receiverType is the resource type the receiver is referenced as.
func receiverType(r *gateway.Referral) string {
	ref := ReceiverRef(r)
	if ref != nil && ref.Type != nil {
		return *ref.Type
	}
	return "Organization"
}

// NewAnswerTransaction wraps the answer's Communication in a transaction
// Bundle whose one entry is a conditional create on the answer's delivery
// id, so a resend is recognised.
func NewAnswerTransaction(r *gateway.Referral, deliveryID, taskID string, records []gateway.RecordContent, sent time.Time) ([]byte, error) {
	comm, err := NewAnswerCommunication(r, deliveryID, taskID, records, sent)
	if err != nil {
		return nil, err
	}
	type request struct {
		Method      string `json:"method"`
		URL         string `json:"url"`
		IfNoneExist string `json:"ifNoneExist"`
	}
	type entry struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
		Request  request         `json:"request"`
	}
	bundle := struct {
		ResourceType string  `json:"resourceType"`
		Type         string  `json:"type"`
		Entry        []entry `json:"entry"`
	}{"Bundle", "transaction", []entry{{
		FullURL:  "urn:uuid:" + derivedUUID("Communication", deliveryID),
		Resource: comm,
		Request:  request{Method: "POST", URL: "Communication", IfNoneExist: AnswerIfNoneExist(deliveryID)},
	}}}
	return json.Marshal(bundle)
}

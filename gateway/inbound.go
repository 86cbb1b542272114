package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
)

// InboundState is where a received message stands. The quarantine is a
// state, not a place: every received message stays in one table.
type InboundState string

// Inbound message states.
const (
	// InboundReceived: stored with its processing job, not processed yet.
	InboundReceived InboundState = "received"
	// InboundNew: verified mail that answers nothing of ours (a new
	// referral from an off-platform provider), waiting in the inbox.
	InboundNew InboundState = "new"
	// InboundMatched: applied to one of our referrals or deliveries.
	InboundMatched InboundState = "matched"
	// InboundUnmatched: a reply or receipt about nothing we sent.
	InboundUnmatched InboundState = "unmatched"
	// InboundQuarantined: refused by a check; kept for an operator.
	InboundQuarantined InboundState = "quarantined"
	// InboundRejected: an operator confirmed a quarantined message's refusal.
	InboundRejected InboundState = "rejected"
)

// ValidInboundState reports whether s is one of the inbound states.
func ValidInboundState(s InboundState) bool {
	switch s {
	case InboundReceived, InboundNew, InboundMatched, InboundUnmatched, InboundQuarantined, InboundRejected:
		return true
	}
	return false
}

// InboundMessage is one message a channel received (Direct mail). The raw
// message and its summary are sealed at rest; this is the metadata.
type InboundMessage struct {
	ID       string      `json:"id"`
	Channel  ChannelKind `json:"channel"`
	Received time.Time   `json:"received"`
	RemoteIP string      `json:"remoteIp,omitempty"`
	MailFrom string      `json:"mailFrom,omitempty"` // SMTP reverse path, "" for the null sender
	RcptTo   []string    `json:"rcptTo,omitempty"`
	TLS      bool        `json:"tls,omitempty"`
	// MessageID is the outer Message-ID without angle brackets.
	MessageID   string `json:"messageId,omitempty"`
	ContentHash string `json:"contentHash"` // hex SHA-256 of the raw message
	Size        int    `json:"size"`

	State InboundState `json:"state"`
	// Kind is "message", "reply" or "report" once processed.
	Kind       string   `json:"kind,omitempty"`
	From       string   `json:"from,omitempty"`   // verified header From
	Signer     string   `json:"signer,omitempty"` // common name of the signing certificate
	ReferralID string   `json:"referralId,omitempty"`
	DeliveryID string   `json:"deliveryId,omitempty"`
	Tenants    []string `json:"tenants,omitempty"`
	// Applied says what processing did ("accepted", "receipt processed",
	// "stored"); Reason and Error say why a message was quarantined.
	Applied string `json:"applied,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
	// Duplicates counts the copies received again after this one.
	Duplicates int `json:"duplicates,omitempty"`
	// Released is set when an operator released the message from
	// quarantine; processing then applies the documented release policy.
	Released   bool   `json:"released,omitempty"`
	Decision   string `json:"decision,omitempty"` // the operator's reason
	DecisionBy string `json:"decisionBy,omitempty"`
	// Summary is what the inbox shows of the content: sealed at rest.
	Summary *InboundSummary `json:"summary,omitempty"`
	Version int             `json:"version"`
	Updated time.Time       `json:"updated"`
}

// InboundSummary is the content an inbox entry shows (PHI: sealed at rest).
type InboundSummary struct {
	Subject     string              `json:"subject,omitempty"`
	Attachments []InboundAttachment `json:"attachments,omitempty"`
}

// InboundAttachment describes one attachment of a received message.
type InboundAttachment struct {
	Name        string `json:"name,omitempty"`
	ContentType string `json:"contentType"`
	Size        int    `json:"size"`
}

// InboundQuery filters ListInbound. Zero fields do not filter; results are
// newest first, paged with BeforeID.
type InboundQuery struct {
	Tenant   string
	State    InboundState
	BeforeID string
	Limit    int
}

// Notice is a delivery notification we send about a received message (a
// Direct MDN). Wire is the message as it goes out, already signed and
// encrypted for its recipient.
type Notice struct {
	ID          string   `json:"id"` // the notification's Message-ID
	InboundID   string   `json:"inboundId"`
	Disposition string   `json:"disposition"` // "processed", "dispatched", "failed"
	From        string   `json:"from"`
	To          string   `json:"to"`
	Tenants     []string `json:"tenants,omitempty"`
	ReferralID  string   `json:"referralId,omitempty"`
	State       string   `json:"state"` // NoticeQueued, NoticeSent or NoticeFailed
	// After names a notice about the same message that must go out first
	// (a Direct processed MDN before the dispatched or failed one). This
	// notice's job is queued in the transaction that finishes that one,
	// and NoticeAfterWait after it was asked for at the latest.
	After string `json:"after,omitempty"`
	// Wanted counts the times the notice was asked for (once, plus once
	// per duplicate of its message); Sends the times it went out.
	Wanted  int       `json:"wanted"`
	Sends   int       `json:"sends,omitempty"`
	Reply   string    `json:"reply,omitempty"`
	Error   string    `json:"error,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Wire    []byte    `json:"-"`
}

// NoticeAfterWait bounds how long a notice waits for the one it comes
// After: one stuck in retries holds the other back no longer.
const NoticeAfterWait = 10 * time.Minute

// Notice states.
const (
	NoticeQueued = "queued"
	NoticeSent   = "sent"
	NoticeFailed = "failed"
)

// NewInbound is what a listener hands the core for one received message.
type NewInbound struct {
	Channel  ChannelKind
	Received time.Time
	RemoteIP string
	MailFrom string
	RcptTo   []string
	TLS      bool
	// MessageID is the outer Message-ID (without brackets), "" if none.
	MessageID string
	Raw       []byte
}

// InboundHandler processes the received messages of one channel and sends
// its notices; the core runs both as queued jobs.
type InboundHandler interface {
	// ProcessInbound opens and applies one received message, ending with
	// Service.ApplyInbound. An error retries the job.
	ProcessInbound(ctx context.Context, m *InboundMessage, raw []byte, meta JobMeta) error
	// SendNotice sends one queued notice, ending with Service.NoticeSent
	// or Service.NoticeFailed. An error retries the job.
	SendNotice(ctx context.Context, n *Notice, meta JobMeta) error
}

// SetInboundHandler registers the handler of a channel's received messages.
func (s *Service) SetInboundHandler(kind ChannelKind, h InboundHandler) {
	s.inboundMu.Lock()
	defer s.inboundMu.Unlock()
	if s.inbound == nil {
		s.inbound = map[ChannelKind]InboundHandler{}
	}
	s.inbound[kind] = h
}

func (s *Service) inboundHandler(kind ChannelKind) (InboundHandler, error) {
	s.inboundMu.Lock()
	defer s.inboundMu.Unlock()
	h := s.inbound[kind]
	if h == nil {
		// Not wired yet (a process that only sends): retry later.
		return nil, fmt.Errorf("no inbound handler for %s", kind)
	}
	return h, nil
}

// inboundSealID binds sealed inbound content to its message and part.
func inboundSealID(id string) string { return "inbound:" + id }

// ReceiveInbound stores a received message (sealed) with its processing
// job in one transaction: a listener acknowledges the message only after
// this returns nil. A copy of a message already stored (the same bytes, or
// the same sender and Message-ID) is not stored again:
// the original is returned with dup set, and the notices the original was
// answered with are queued again. The same sender and Message-ID with
// other content is a resend too (re-encryption changes every byte).
func (s *Service) ReceiveInbound(ctx context.Context, in NewInbound) (m *InboundMessage, dup bool, err error) {
	ctx = readScope(ctx, PathInbound)
	if len(in.Raw) == 0 {
		return nil, false, &ValidationError{"raw", "empty message"}
	}
	if in.Received.IsZero() {
		in.Received = s.clock.Now()
	}
	hash := ContentHash(in.Raw)
	sender := strings.ToLower(in.MailFrom)
	err = s.store.Update(ctx, func(tx Tx) error {
		m, dup = nil, false
		prev, err := tx.InboundByHash(ctx, in.Channel, hash)
		if err == nil {
			m, dup = prev, true
			return s.answerDuplicate(ctx, tx, prev, "same content")
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		if in.MessageID != "" {
			prev, err := tx.InboundByMessageID(ctx, in.Channel, sender, in.MessageID)
			if err == nil && prev.State != InboundQuarantined && prev.State != InboundRejected {
				// A resend re-encrypts: other bytes, the same message. (A
				// copy of a refused message is processed on its own: it may
				// be the genuine one.)
				m, dup = prev, true
				return s.answerDuplicate(ctx, tx, prev, "same sender and message id, content "+hash[:16])
			}
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		m = &InboundMessage{ID: NewID(), Channel: in.Channel, Received: in.Received, RemoteIP: in.RemoteIP,
			MailFrom: sender, RcptTo: in.RcptTo, TLS: in.TLS, MessageID: in.MessageID, ContentHash: hash,
			Size: len(in.Raw), State: InboundReceived, Version: 1, Updated: s.clock.Now()}
		if m.Tenants, err = s.tenantsForAddresses(ctx, tx, in.RcptTo); err != nil {
			return err
		}
		sealed, err := s.sealContent(tx, inboundSealID(m.ID), "raw", in.Raw)
		if err != nil {
			return err
		}
		if err := tx.InsertInbound(ctx, m, sealed, nil); err != nil {
			return err
		}
		return tx.Enqueue(ctx, Job{Kind: JobInbound, Ref: m.ID})
	})
	if err != nil {
		return nil, false, fmt.Errorf("receive %s message: %w", in.Channel, err)
	}
	return m, dup, nil
}

// answerDuplicate counts a copy of m, audits it and queues again the
// notices m was answered with (the sender asked again, so it is answered
// again, with the same notification ids).
func (s *Service) answerDuplicate(ctx context.Context, tx Tx, m *InboundMessage, why string) error {
	locked, err := tx.Inbound(ctx, m.ID, true)
	if err != nil {
		return err
	}
	locked.Duplicates++
	locked.Version++
	locked.Updated = s.clock.Now()
	if err := tx.UpdateInbound(ctx, locked, nil); err != nil {
		return err
	}
	*m = *locked
	notices, err := tx.Notices(ctx, m.ID)
	if err != nil {
		return err
	}
	var again []*Notice
	queued := map[string]bool{}
	for _, listed := range notices {
		n, err := tx.Notice(ctx, listed.ID, true) // its latest state, held until commit
		if err != nil {
			return err
		}
		if n.State != NoticeFailed {
			again, queued[n.ID] = append(again, n), true
		}
	}
	now := s.clock.Now()
	for _, n := range again {
		n.State = NoticeQueued
		n.Wanted++
		n.Updated = now
		if err := tx.PutNotice(ctx, n); err != nil {
			return err
		}
		if err := tx.Enqueue(ctx, noticeJob(n, queued, now)); err != nil { // in order, as the first time
			return err
		}
	}
	resent := len(again)
	return tx.Audit(ctx, audit.Event{Time: s.clock.Now(), Actor: System.ID, Tenants: m.Tenants, ReferralID: m.ReferralID,
		Action: "inbound.duplicate", Outcome: audit.OutcomeSuccess,
		Detail: map[string]string{"inbound": m.ID, "messageId": m.MessageID, "match": why, "noticesAgain": fmt.Sprint(resent)}})
}

// tenantsForAddresses names the practices (root directory entries) whose
// entries own the addresses; SystemTenant when none does.
func (s *Service) tenantsForAddresses(ctx context.Context, tx Tx, addrs []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, addr := range addrs {
		entries, err := entriesWithDirectAddress(ctx, tx, addr)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if root := rootOf(ctx, tx, e); !seen[root] {
				seen[root] = true
				out = append(out, root)
			}
		}
	}
	if len(out) == 0 {
		out = []string{UnknownInboundTenant}
	}
	return out, nil
}

// UnknownInboundTenant is the trail and inbox of received messages no
// practice can be named for.
const UnknownInboundTenant = "direct-inbox"

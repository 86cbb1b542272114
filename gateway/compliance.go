package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/referralgw/gateway/audit"
)

// ComplianceReceipt is what an auditor is shown for one referral: the
// consent basis and the rule it rests on, the BAA states that gated each
// send, the minimum-necessary verdict, what went out on which channel and
// when, every receipt, the receiver's answer and the documented outcome,
// and who did each step. It is assembled from the audit trail alone, and
// every line cites the trail entries it rests on, so it can be checked
// against the trail (VerifyComplianceReceipt) without trusting the
// referral's current state.
type ComplianceReceipt struct {
	ReferralID string           `json:"referralId"`
	Generated  time.Time        `json:"generated"`
	Practices  []string         `json:"practices"` // the trails read: the referrer's, and the receiver's when it differs
	Lines      []ComplianceLine `json:"lines"`
	// Checkpoints are, per practice, the signed checkpoint (C2SP signed
	// note, witness cosignatures included) that the citations' inclusion
	// proofs lead to; absent when no witnessed checkpoint is configured.
	Checkpoints map[string]string `json:"checkpoints,omitempty"`
	// Verification is the state of the cited trails when the receipt was built.
	Verification ReceiptVerification `json:"verification"`
}

// ComplianceLine is one statement of a receipt.
type ComplianceLine struct {
	Section   string     `json:"section"` // one of the Section* constants
	At        time.Time  `json:"at"`
	Actor     string     `json:"actor"`
	Action    string     `json:"action"`  // the trail action the line restates
	Outcome   string     `json:"outcome"` // success, failure or refused
	Statement string     `json:"statement"`
	Cites     []Citation `json:"cites"`
}

// Citation points at one audit entry: a practice's chain and a sequence
// number, with the entry's hash so a copy of the trail can be matched.
type Citation struct {
	Practice string `json:"practice"`
	Seq      int64  `json:"seq"`
	Hash     string `json:"hash"`
	// Proof is the entry's inclusion proof in the practice's witnessed
	// checkpoint (Checkpoints[Practice]); nil when the entry was sequenced
	// after the latest witnessed checkpoint, or none is configured.
	Proof *InclusionProof `json:"proof,omitempty"`
}

// InclusionProof is an RFC 6962/9162 inclusion proof of one trail entry:
// leaf LeafIndex (seq-1, the RFC 6962 leaf hash of the entry's hash) in
// the tree of TreeSize leaves whose signed root is the checkpoint's.
type InclusionProof struct {
	LeafIndex uint64   `json:"leafIndex"`
	TreeSize  uint64   `json:"treeSize"`
	Hashes    []string `json:"hashes"` // base64, as in a checkpoint
}

// ReceiptVerification says whether every cited entry is still in an intact
// chain with the hash the receipt recorded.
type ReceiptVerification struct {
	OK      bool `json:"ok"`
	Checked int  `json:"checked"` // cited entries checked
	// Proven counts the citations whose inclusion proof verified against
	// their practice's signed, witnessed checkpoint.
	Proven   int      `json:"proven"`
	Problems []string `json:"problems,omitempty"` // what failed, naming practice and sequence number
}

// The sections a receipt groups its lines into.
const (
	SectionCreated   = "created"
	SectionConsent   = "consent"
	SectionMinimum   = "minimum-necessary"
	SectionBAA       = "baa"
	SectionRouting   = "routing"
	SectionSend      = "send"
	SectionReceipt   = "receipt"
	SectionAnswer    = "answer"
	SectionRecords   = "records"
	SectionOutcome   = "outcome"
	SectionRefusal   = "refusal"
	SectionLifecycle = "lifecycle"
)

// ComplianceReceipt assembles the receipt of referral id from the audit
// trails of the practices it involves, and verifies the cited entries.
func (s *Service) ComplianceReceipt(ctx context.Context, id string) (*ComplianceReceipt, error) {
	r, _, err := s.Referral(ctx, id)
	if err != nil {
		return nil, err
	}
	practices := []string{r.Requester.OrgID}
	if r.ReceiverOrgID != "" && r.ReceiverOrgID != r.Requester.OrgID {
		practices = append(practices, r.ReceiverOrgID)
	}
	rc := &ComplianceReceipt{ReferralID: id, Generated: s.clock.Now().UTC(), Practices: practices}
	// A cross-practice event is written to both trails; the referrer's copy
	// makes the line and the receiver's copy is cited beside it.
	type key struct {
		at             time.Time
		actor, action  string
		detail, result string
	}
	byKey := map[key]int{}
	for e, err := range s.store.AuditEntries(ctx, AuditQuery{ReferralID: id}) {
		if err != nil {
			return nil, fmt.Errorf("compliance receipt %s: %w", id, err)
		}
		if !slices.Contains(practices, e.Tenant) {
			continue
		}
		k := key{e.Time, e.Actor, e.Action, detailString(e.Detail), e.Outcome}
		cite := Citation{Practice: e.Tenant, Seq: e.Seq, Hash: e.Hash}
		if i, ok := byKey[k]; ok && !citesPractice(rc.Lines[i].Cites, e.Tenant) {
			rc.Lines[i].Cites = append(rc.Lines[i].Cites, cite)
			continue
		}
		byKey[k] = len(rc.Lines)
		section, statement := restate(e)
		rc.Lines = append(rc.Lines, ComplianceLine{Section: section, At: e.Time, Actor: e.Actor, Action: e.Action,
			Outcome: e.Outcome, Statement: statement, Cites: []Citation{cite}})
	}
	slices.SortStableFunc(rc.Lines, func(a, b ComplianceLine) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return 0
	})
	if len(rc.Lines) == 0 {
		return nil, fmt.Errorf("compliance receipt %s: the trail holds no entry for it: %w", id, ErrNotFound)
	}
	if err := s.proveCitations(ctx, rc); err != nil {
		return nil, err
	}
	rc.Verification, err = s.VerifyComplianceReceipt(ctx, rc)
	if err != nil {
		return nil, err
	}
	return rc, nil
}

// VerifyComplianceReceipt checks a receipt against the trail as it stands:
// every cited practice's chain must verify intact, and every cited entry
// must be in it with the hash the receipt recorded.
func (s *Service) VerifyComplianceReceipt(ctx context.Context, rc *ComplianceReceipt) (ReceiptVerification, error) {
	cited := map[string]map[int64]string{}
	for _, l := range rc.Lines {
		for _, c := range l.Cites {
			if cited[c.Practice] == nil {
				cited[c.Practice] = map[int64]string{}
			}
			cited[c.Practice][c.Seq] = c.Hash
		}
	}
	var v ReceiptVerification
	for _, practice := range slices.Sorted(maps.Keys(cited)) {
		want := cited[practice]
		found := map[int64]string{}
		stream := func(yield func(audit.Entry, error) bool) {
			for e, err := range s.store.AuditEntries(ctx, AuditQuery{Tenant: practice}) {
				if err == nil {
					if _, ok := want[e.Seq]; ok {
						found[e.Seq] = e.Hash
					}
				}
				if !yield(e, err) {
					return
				}
			}
		}
		rep, err := audit.Verify(stream)
		if err != nil {
			return v, fmt.Errorf("verify trail of %s: %w", practice, err)
		}
		for _, b := range rep.Breaks {
			v.Problems = append(v.Problems, fmt.Sprintf("%s: chain broken at seq %d: %s", b.Tenant, b.Seq, b.Reason))
		}
		for _, seq := range slices.Sorted(maps.Keys(want)) {
			v.Checked++
			switch got, ok := found[seq]; {
			case !ok:
				v.Problems = append(v.Problems, fmt.Sprintf("%s: cited entry seq %d is missing from the trail", practice, seq))
			case got != want[seq]:
				v.Problems = append(v.Problems, fmt.Sprintf("%s: cited entry seq %d has hash %s, the receipt recorded %s", practice, seq, short(got), short(want[seq])))
			}
		}
	}
	s.verifyProofs(rc, &v)
	v.OK = len(v.Problems) == 0
	return v, nil
}

func citesPractice(cs []Citation, practice string) bool {
	for _, c := range cs {
		if c.Practice == practice {
			return true
		}
	}
	return false
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// detailString renders detail in key order, for matching and fallbacks.
func detailString(d map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(d)) {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s=%s", k, d[k])
	}
	return b.String()
}

// ReferralTrail returns the audit entries about one referral, from every
// practice's trail, ordered by practice and sequence number.
func (s *Service) ReferralTrail(ctx context.Context, id string) ([]audit.Entry, error) {
	var out []audit.Entry
	for e, err := range s.store.AuditEntries(ctx, AuditQuery{ReferralID: id}) {
		if err != nil {
			return nil, fmt.Errorf("trail of referral %s: %w", id, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// proveCitations attaches to every citation its inclusion proof in the
// latest witnessed checkpoint of its practice, and the checkpoints to the
// receipt. Without a configured witness there is nothing to prove against;
// an entry sequenced after the latest checkpoint is left without a proof.
func (s *Service) proveCitations(ctx context.Context, rc *ComplianceReceipt) error {
	v := s.auditVerifier
	if v.Key == nil || len(v.Witnesses) == 0 {
		return nil
	}
	heads := map[string]audit.TreeHead{}
	for _, practice := range rc.Practices {
		head, err := v.LatestWitnessed(ctx, practice)
		if errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return fmt.Errorf("compliance receipt %s: %w", rc.ReferralID, err)
		}
		heads[practice] = head
		if rc.Checkpoints == nil {
			rc.Checkpoints = map[string]string{}
		}
		rc.Checkpoints[practice] = string(head.Note)
	}
	for i := range rc.Lines {
		for j := range rc.Lines[i].Cites {
			c := &rc.Lines[i].Cites[j]
			head, ok := heads[c.Practice]
			if !ok || c.Seq < 1 || uint64(c.Seq) > head.Size {
				continue
			}
			_, hashes, err := s.store.AuditInclusion(ctx, c.Practice, c.Seq, head.Size)
			if err != nil {
				return fmt.Errorf("compliance receipt %s: prove %s seq %d: %w", rc.ReferralID, c.Practice, c.Seq, err)
			}
			p := &InclusionProof{LeafIndex: uint64(c.Seq - 1), TreeSize: head.Size}
			for _, h := range hashes {
				p.Hashes = append(p.Hashes, base64.StdEncoding.EncodeToString(h))
			}
			c.Proof = p
		}
	}
	return nil
}

// verifyProofs checks every citation's inclusion proof against the
// receipt's checkpoint of its practice, whose signature must verify with
// the log's public key.
func (s *Service) verifyProofs(rc *ComplianceReceipt, v *ReceiptVerification) {
	roots := map[string]audit.TreeHead{}
	for practice, msg := range rc.Checkpoints {
		if s.auditVerifier.Key == nil {
			v.Problems = append(v.Problems, practice+": the receipt carries a checkpoint but no log key is configured to check it")
			continue
		}
		head, err := audit.OpenTreeHead([]byte(msg), s.auditVerifier.Key)
		if err != nil || head.Tenant != practice {
			v.Problems = append(v.Problems, fmt.Sprintf("%s: the receipt's checkpoint does not verify: %v", practice, err))
			continue
		}
		roots[practice] = head
	}
	for _, l := range rc.Lines {
		for _, c := range l.Cites {
			if c.Proof == nil {
				continue
			}
			head, ok := roots[c.Practice]
			if !ok {
				v.Problems = append(v.Problems, fmt.Sprintf("%s: seq %d has a proof but the receipt has no valid checkpoint for it", c.Practice, c.Seq))
				continue
			}
			if err := checkProof(c, head); err != nil {
				v.Problems = append(v.Problems, fmt.Sprintf("%s: seq %d: %v", c.Practice, c.Seq, err))
				continue
			}
			v.Proven++
		}
	}
}

// checkProof verifies one citation's inclusion proof against head.
func checkProof(c Citation, head audit.TreeHead) error {
	if c.Proof.TreeSize != head.Size || c.Proof.LeafIndex != uint64(c.Seq-1) {
		return fmt.Errorf("proof for leaf %d of %d does not match the checkpoint of size %d", c.Proof.LeafIndex, c.Proof.TreeSize, head.Size)
	}
	leaf, err := audit.LeafHash(audit.Entry{Tenant: c.Practice, Seq: c.Seq, Hash: c.Hash})
	if err != nil {
		return err
	}
	hashes := make([][]byte, len(c.Proof.Hashes))
	for i, h := range c.Proof.Hashes {
		if hashes[i], err = base64.StdEncoding.DecodeString(h); err != nil {
			return fmt.Errorf("proof hash %d: %w", i, err)
		}
	}
	return audit.VerifyInclusion(leaf, c.Proof.LeafIndex, head.Size, hashes, head.Root)
}

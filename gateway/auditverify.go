package gateway

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/referralgw/gateway/audit"
)

// AuditVerifier is the one verification of the audit trail: the CLI, the
// admin API and the console all call it and show its verdict. It checks
// every chain, rebuilds every tenant's Merkle tree, and compares it with
// each checkpoint the witnesses keep (signatures checked with the log's
// public key), so a changed, deleted or truncated row, a re-chained trail
// and a deleted practice are all named with their first broken seq.
type AuditVerifier struct {
	// Key checks the log's signature on witnessed checkpoints; KeyText is
	// its text form ("name+hash+key"), shown to auditors.
	Key     note.Verifier
	KeyText string
	// Witnesses are read for checkpoints; none means the chains alone are
	// checked (and Report.Checkpoints is 0).
	Witnesses []audit.Witness
}

// SetAuditVerifier configures the verification VerifyAudit runs.
func (s *Service) SetAuditVerifier(v AuditVerifier) { s.auditVerifier = v }

// AuditPublicKey is the verifier key of the audit log in its text form
// ("" when none is configured), for display.
func (s *Service) AuditPublicKey() string { return s.auditVerifier.KeyText }

// VerifyAudit verifies the whole trail against the witnessed checkpoints
// and reports the events not yet sequenced.
func (s *Service) VerifyAudit(ctx context.Context) (audit.Report, error) {
	heads, err := s.auditVerifier.WitnessedHeads(ctx)
	if err != nil {
		return audit.Report{}, err
	}
	rep, err := audit.VerifyTrail(s.store.AuditEntries(ctx, AuditQuery{}), heads)
	if err != nil {
		return rep, fmt.Errorf("verify audit trail: %w", err)
	}
	rep.Unsequenced, rep.OldestUnsequenced, err = s.store.AuditUnsequenced(ctx)
	return rep, err
}

// WitnessedHeads reads every witness's checkpoints and opens them with the
// log key. A checkpoint whose signature does not verify is an error: a
// witness holding a forgery is a finding, not something to skip.
func (v AuditVerifier) WitnessedHeads(ctx context.Context) ([]audit.TreeHead, error) {
	if len(v.Witnesses) > 0 && v.Key == nil {
		return nil, errors.New("verify audit trail: witnesses configured without the log's public key")
	}
	var heads []audit.TreeHead
	for _, w := range v.Witnesses {
		notes, err := w.Checkpoints(ctx)
		if err != nil {
			return nil, fmt.Errorf("verify audit trail: witness %s: %w", w, err)
		}
		for i, msg := range notes {
			h, err := audit.OpenTreeHead(msg, v.Key)
			if err != nil {
				return nil, fmt.Errorf("verify audit trail: witness %s, checkpoint %d: %w", w, i+1, err)
			}
			heads = append(heads, h)
		}
	}
	return heads, nil
}

// LatestWitnessed returns the largest witnessed checkpoint of tenant.
func (v AuditVerifier) LatestWitnessed(ctx context.Context, tenant string) (audit.TreeHead, error) {
	heads, err := v.WitnessedHeads(ctx)
	if err != nil {
		return audit.TreeHead{}, err
	}
	var best audit.TreeHead
	for _, h := range heads {
		if h.Tenant == tenant && h.Size >= best.Size {
			best = h
		}
	}
	if best.Size == 0 {
		return best, fmt.Errorf("no witnessed checkpoint of %s: %w", tenant, ErrNotFound)
	}
	return best, nil
}

// ProveAudit returns entry (tenant, seq), the latest witnessed checkpoint
// of the tenant and the inclusion proof of the entry in it, already
// checked.
func (s *Service) ProveAudit(ctx context.Context, tenant string, seq int64) (audit.Entry, audit.TreeHead, [][]byte, error) {
	head, err := s.auditVerifier.LatestWitnessed(ctx, tenant)
	if err != nil {
		return audit.Entry{}, head, nil, err
	}
	e, proof, err := s.store.AuditInclusion(ctx, tenant, seq, head.Size)
	if err != nil {
		return e, head, nil, err
	}
	leaf, err := audit.LeafHash(e)
	if err != nil {
		return e, head, nil, err
	}
	if err := audit.VerifyInclusion(leaf, uint64(seq-1), head.Size, proof, head.Root); err != nil {
		return e, head, nil, fmt.Errorf("prove %s seq %d: the database disagrees with the witnessed checkpoint: %w", tenant, seq, err)
	}
	return e, head, proof, nil
}

// LatestCheckpoints returns the largest witnessed checkpoint of every
// tenant, for the FHIR export (each entry carries the one it is in).
func (s *Service) LatestCheckpoints(ctx context.Context) (map[string]audit.TreeHead, error) {
	heads, err := s.auditVerifier.WitnessedHeads(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]audit.TreeHead{}
	for _, h := range heads {
		if h.Size >= out[h.Tenant].Size {
			out[h.Tenant] = h
		}
	}
	return out, nil
}

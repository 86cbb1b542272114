package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// TreeHead is a tenant's tree at one size, as a signed checkpoint vouches
// for it.
type TreeHead struct {
	Tenant string
	Size   uint64
	Root   []byte
	// Note is the whole signed checkpoint (C2SP tlog-checkpoint in a C2SP
	// signed note), cosignatures included when a witness added them.
	Note []byte
}

// originInfix separates the gateway's log name from the tenant in a
// checkpoint's origin line.
const originInfix = "/audit/"

// Origin is the origin line of a tenant's log: "<logName>/audit/<tenant>".
// logName is also the signing key's name.
func Origin(logName, tenant string) string { return logName + originInfix + tenant }

// GenerateSigningKey returns a new Ed25519 signing key and its verifier key
// in the signed-note text forms ("PRIVATE+KEY+name+..." and "name+hash+...").
func GenerateSigningKey(logName string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, logName)
	if err != nil {
		return "", "", fmt.Errorf("audit: generate signing key %q: %w", logName, err)
	}
	return skey, vkey, nil
}

// SignTreeHead signs the checkpoint of a tenant's tree with s; the log
// name is s.Name().
func SignTreeHead(s note.Signer, tenant string, size uint64, root []byte) ([]byte, error) {
	body := log.Checkpoint{Origin: Origin(s.Name(), tenant), Size: size, Hash: root}.Marshal()
	msg, err := note.Sign(&note.Note{Text: string(body)}, s)
	if err != nil {
		return nil, fmt.Errorf("audit: sign checkpoint of %s at %d: %w", tenant, size, err)
	}
	return msg, nil
}

// OpenTreeHead parses a signed checkpoint and checks the log's signature
// with v (cosignatures by other keys are kept but not required). The
// origin must be one of v's log's ("<v.Name()>/audit/<tenant>").
func OpenTreeHead(msg []byte, v note.Verifier) (TreeHead, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return TreeHead{}, fmt.Errorf("audit: checkpoint: %w", err)
	}
	var cp log.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return TreeHead{}, fmt.Errorf("audit: checkpoint: %w", err)
	}
	tenant, ok := strings.CutPrefix(cp.Origin, v.Name()+originInfix)
	if !ok || tenant == "" {
		return TreeHead{}, fmt.Errorf("audit: checkpoint origin %q is not a tenant log of %q", cp.Origin, v.Name())
	}
	if len(cp.Hash) != 32 {
		return TreeHead{}, fmt.Errorf("audit: checkpoint of %s: root is %d bytes, want 32", tenant, len(cp.Hash))
	}
	return TreeHead{Tenant: tenant, Size: cp.Size, Root: cp.Hash, Note: bytes.Clone(msg)}, nil
}

// NewVerifier parses a verifier key ("name+hash+base64").
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("audit: verifier key: %w", err)
	}
	return v, nil
}

// NewSigner parses a signing key ("PRIVATE+KEY+name+hash+base64").
func NewSigner(skey string) (note.Signer, error) {
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, errors.New("audit: signing key: not a signed-note private key") // never echo the key
	}
	return s, nil
}

// Witness keeps checkpoints outside the database. AddCheckpoint hands it
// the next checkpoint of a log with a consistency proof from oldSize, the
// size of the witness's latest checkpoint of that log as the caller
// believes it (0 for a log it has not seen); it returns the witness's
// cosignature lines, if it cosigns. A witness whose latest is at another
// size answers with a *SizeMismatchError naming it.
type Witness interface {
	AddCheckpoint(ctx context.Context, oldSize uint64, proof [][]byte, checkpoint []byte) (cosignatures []byte, err error)
	// Checkpoints returns the checkpoints the witness keeps, in the order
	// it received them (the latest per log last).
	Checkpoints(ctx context.Context) ([][]byte, error)
	// String names the witness in logs and reports.
	String() string
}

// SizeMismatchError is a witness's answer to a checkpoint whose old size
// is not the size of the latest checkpoint it holds for the log.
type SizeMismatchError struct{ Size uint64 }

func (e *SizeMismatchError) Error() string {
	return fmt.Sprintf("witness holds the log at size %d", e.Size)
}

// ErrInconsistent is a witness refusing a checkpoint that does not extend
// the one it holds (a rollback, a fork, or a bad proof).
var ErrInconsistent = errors.New("checkpoint inconsistent with the witnessed one")

// VerifierKeyOf returns the verifier key ("name+hash+base64") matching a
// signing key ("PRIVATE+KEY+name+hash+base64").
func VerifierKeyOf(skey string) (string, error) {
	parts := strings.SplitN(strings.TrimSpace(skey), "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("audit: signing key: not a signed-note private key")
	}
	seed, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(seed) != 1+ed25519.SeedSize || seed[0] != algEd25519 {
		return "", errors.New("audit: signing key: not an Ed25519 signed-note private key")
	}
	pub := ed25519.NewKeyFromSeed(seed[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(parts[2], pub)
	if err != nil {
		return "", fmt.Errorf("audit: verifier key: %w", err)
	}
	return vkey, nil
}

// algEd25519 is the signed-note algorithm byte of Ed25519 keys.
const algEd25519 = 1

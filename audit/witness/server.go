package witness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/referralgw/gateway/audit"
)

// Server is a C2SP tlog-witness: POST /add-checkpoint takes a log's next
// checkpoint with a consistency proof from the latest one it holds,
// verifies the log's signature and the proof, refuses a rollback or a fork,
// keeps the checkpoint (in a Dir, so the latest per log survives restarts)
// and answers with its cosignature (cosignature/v1, Ed25519).
//
// GET /checkpoints (an extension for auditors) returns every checkpoint it
// kept, as witness-file records.
type Server struct {
	store  *Dir
	logs   note.Verifiers // the log keys it witnesses
	signer note.Signer    // its cosigning key
	log    *slog.Logger
}

// NewServer returns a witness keeping its checkpoints in store, accepting
// logs signed by any of logKeys and cosigning with cosigner (a note
// signing key; cosignatures use the cosignature/v1 algorithm).
func NewServer(store *Dir, logKeys []note.Verifier, cosignerKey string, log *slog.Logger) (*Server, error) {
	signer, err := fnote.NewSignerForCosignatureV1(cosignerKey)
	if err != nil {
		return nil, errors.New("witness: cosigning key: not an Ed25519 signed-note private key")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{store: store, logs: note.VerifierList(logKeys...), signer: signer, log: log}, nil
}

// maxBody bounds an add-checkpoint request (a checkpoint and at most 64
// proof hashes are a few kilobytes).
const maxBody = 64 << 10

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/add-checkpoint" && r.Method == http.MethodPost:
		s.add(w, r)
	case r.URL.Path == "/checkpoints" && r.Method == http.MethodGet:
		s.list(w, r)
	case r.URL.Path == "/add-checkpoint" || r.URL.Path == "/checkpoints":
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) add(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	req, err := ParseAddCheckpoint(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n, err := note.Open(req.Checkpoint, s.logs)
	if err != nil {
		// An unknown key or a bad signature: not a log we witness.
		http.Error(w, "checkpoint not signed by a known log", http.StatusForbidden)
		return
	}
	_, err = s.store.AddCheckpoint(r.Context(), req.OldSize, req.Proof, req.Checkpoint)
	var mismatch *audit.SizeMismatchError
	switch {
	case errors.As(err, &mismatch):
		w.Header().Set("Content-Type", "text/x.tlog.size")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, "%d\n", mismatch.Size)
		return
	case errors.Is(err, audit.ErrInconsistent):
		s.log.Warn("witness refused an inconsistent checkpoint", "origin", firstLine(n.Text), "err", err)
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	case err != nil:
		s.log.Error("witness store", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, s.signer)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	_, sigs, _ := bytes.Cut(signed, []byte("\n\n"))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(sigs)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	cps, err := s.store.Checkpoints(r.Context())
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, c := range cps {
		fmt.Fprintf(w, "%s%d\n", recordPrefix, len(c))
		w.Write(c)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// AddCheckpointRequest is the body of a tlog-witness add-checkpoint call.
type AddCheckpointRequest struct {
	OldSize    uint64
	Proof      [][]byte
	Checkpoint []byte
}

// maxProof is the longest consistency proof of a tree of 2^63 leaves.
const maxProof = 63

// ParseAddCheckpoint parses "old <size>\n", up to 63 base64 proof hashes
// one per line, an empty line, then the signed checkpoint.
func ParseAddCheckpoint(body []byte) (AddCheckpointRequest, error) {
	var req AddCheckpointRequest
	head, cp, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return req, errors.New("add-checkpoint: no empty line before the checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	size, ok := strings.CutPrefix(lines[0], "old ")
	if !ok {
		return req, errors.New(`add-checkpoint: first line must be "old <size>"`)
	}
	n, err := strconv.ParseUint(size, 10, 64)
	if err != nil || (len(size) > 1 && size[0] == '0') {
		return req, fmt.Errorf("add-checkpoint: old size %q is not a decimal number", size)
	}
	req.OldSize = n
	if len(lines)-1 > maxProof {
		return req, fmt.Errorf("add-checkpoint: %d proof lines, at most %d", len(lines)-1, maxProof)
	}
	for i, l := range lines[1:] {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != 32 {
			return req, fmt.Errorf("add-checkpoint: proof line %d is not a base64 SHA-256 hash", i+1)
		}
		req.Proof = append(req.Proof, h)
	}
	if len(cp) == 0 {
		return req, errors.New("add-checkpoint: empty checkpoint")
	}
	req.Checkpoint = cp
	return req, nil
}

// Marshal renders the request body.
func (r AddCheckpointRequest) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", r.OldSize)
	for _, h := range r.Proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(r.Checkpoint)
	return b.Bytes()
}

// Client is a tlog-witness reached over HTTP.
type Client struct {
	URL  string // base URL, e.g. https://witness.example/
	HTTP *http.Client
}

func (c *Client) String() string { return c.URL }

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// AddCheckpoint implements audit.Witness.
func (c *Client) AddCheckpoint(ctx context.Context, oldSize uint64, proof [][]byte, checkpoint []byte) ([]byte, error) {
	body := AddCheckpointRequest{OldSize: oldSize, Proof: proof, Checkpoint: checkpoint}.Marshal()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/add-checkpoint", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", c.URL, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return answer, nil
	case http.StatusConflict:
		n, err := strconv.ParseUint(strings.TrimSpace(string(answer)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("witness %s: 409 without a size", c.URL)
		}
		return nil, &audit.SizeMismatchError{Size: n}
	case http.StatusUnprocessableEntity:
		return nil, fmt.Errorf("witness %s: %s: %w", c.URL, strings.TrimSpace(string(answer)), audit.ErrInconsistent)
	default:
		return nil, fmt.Errorf("witness %s: %s: %s", c.URL, resp.Status, strings.TrimSpace(string(answer)))
	}
}

// Checkpoints implements audit.Witness.
func (c *Client) Checkpoints(ctx context.Context) ([][]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.URL, "/")+"/checkpoints", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("witness %s: %s", c.URL, resp.Status)
	}
	return ParseRecords(bufio.NewReader(resp.Body))
}

package smtpin

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
)

// copyBufSize is the most of a message body a session holds in memory.
const copyBufSize = 32 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// body is a message received by DATA, held in an unlinked temporary file:
// nothing of it is left on disk once it is closed or the process dies.
type body struct {
	f    *os.File
	size int64
}

// receive streams r into a new body through a bounded buffer.
func (s *Server) receive(r io.Reader) (*body, error) {
	f, err := os.CreateTemp(s.cfg.TempDir, "smtpin-*.eml")
	if err != nil {
		return nil, fmt.Errorf("smtpin: receive: %w", err)
	}
	// Unlink at once; the open descriptor keeps the data until Close.
	if err := os.Remove(f.Name()); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("smtpin: receive: %w", err)
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, r, *buf)
	if err != nil {
		_ = f.Close()
		return nil, err // keeps go-smtp's *SMTPError for the size limit
	}
	return &body{f: f, size: n}, nil
}

// Reader reads the body from its start.
func (b *body) Reader() *io.SectionReader { return io.NewSectionReader(b.f, 0, b.size) }

// Close releases the file and with it the data.
func (b *body) Close() error { return b.f.Close() }

// store hands a body to the spool once a store slot and its share of the
// store budget are free.
func (s *Server) store(ctx context.Context, env Envelope, msg *io.SectionReader) (string, error) {
	select {
	case s.stores <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("smtpin: wait for a store slot: %w", ctx.Err())
	}
	defer func() { <-s.stores }()
	weight := min(max(msg.Size(), 1), s.cfg.StoreBudget)
	if err := s.budget.Acquire(ctx, weight); err != nil {
		return "", fmt.Errorf("smtpin: wait for store budget: %w", err)
	}
	defer s.budget.Release(weight)
	return s.cfg.Spool.Store(ctx, env, msg)
}

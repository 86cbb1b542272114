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
	s       *Server
	f       *os.File
	size    int64
	charged int64 // of the receive budget, given back by Close
}

// receive streams r into a new body through a bounded buffer. The body
// takes its share of the receive budget as it arrives, and fails with
// errNoStorage once the budget has no more.
func (s *Server) receive(r io.Reader) (*body, error) {
	b := &body{s: s}
	f, err := os.CreateTemp(s.cfg.TempDir, "smtpin-*.eml")
	if err != nil {
		return nil, fmt.Errorf("smtpin: receive: %w", err)
	}
	b.f = f
	// Unlink at once; the open descriptor keeps the data until Close.
	if err := os.Remove(f.Name()); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("smtpin: receive: %w", err)
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	n, err := io.CopyBuffer(b, r, *buf)
	if err != nil {
		_ = b.Close()
		return nil, err // keeps go-smtp's *SMTPError for the size limit, and errNoStorage
	}
	b.size = n
	return b, nil
}

// Write appends to the file once the receive budget covers it.
func (b *body) Write(p []byte) (int, error) {
	if need := b.size + int64(len(p)) - b.charged; need > 0 {
		if !b.s.receiveTake(need) {
			return 0, errNoStorage
		}
		b.charged += need
	}
	n, err := b.f.Write(p)
	b.size += int64(n)
	return n, err
}

// Reader reads the body from its start.
func (b *body) Reader() *io.SectionReader { return io.NewSectionReader(b.f, 0, b.size) }

// Close releases the file, and with it the data and its share of the
// receive budget.
func (b *body) Close() error {
	b.s.receiveGive(b.charged)
	b.charged = 0
	return b.f.Close()
}

// receiveFits reports whether n more bytes of message bodies would fit in
// the receive budget now.
func (s *Server) receiveFits(n int64) bool {
	if !s.receiveTake(n) {
		return false
	}
	s.receiveGive(n)
	return true
}

// receiveTake takes n bytes of the receive budget if they are free.
func (s *Server) receiveTake(n int64) bool {
	if n <= 0 {
		return true
	}
	if !s.receiving.TryAcquire(n) {
		return false
	}
	s.received.Add(n)
	return true
}

// receiveGive gives n bytes back to the receive budget.
func (s *Server) receiveGive(n int64) {
	if n > 0 {
		s.received.Add(-n)
		s.receiving.Release(n)
	}
}

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

package smtpout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

func TestIsTemporary(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"4xx", &ReplyError{Code: 421}, true},
		{"5xx wrapped", fmt.Errorf("x: %w", &ReplyError{Code: 554}), false},
		{"tls required", fmt.Errorf("x: %w", ErrTLSRequired), false},
		{"not public, inside a dial error", fmt.Errorf("x: %w", &net.OpError{Op: "dial", Err: fmt.Errorf("y: %w", ErrNotPublic)}), false},
		{"dns not found", &net.DNSError{IsNotFound: true}, false},
		{"dns timeout", &net.DNSError{IsTimeout: true}, true},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"eof", io.ErrUnexpectedEOF, true},
		{"op error", &net.OpError{Op: "dial", Err: errors.New("refused")}, true},
		{"other", errors.New("bad input"), false},
	}
	for _, tt := range tests {
		if got := IsTemporary(tt.err); got != tt.want {
			t.Errorf("%s: IsTemporary = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{0, time.Minute}, {1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute},
		{8, 128 * time.Minute}, {9, 4 * time.Hour}, {1000, 4 * time.Hour},
	}
	for _, tt := range tests {
		if got := Backoff(tt.attempt); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
}

func TestSplitEnhanced(t *testing.T) {
	tests := []struct{ in, code, rest string }{
		{"2.0.0 OK queued", "2.0.0", "OK queued"},
		{"OK queued", "", "OK queued"},
		{"5.1.10 bad", "5.1.10", "bad"},
		{"1.2.3 not a class", "", "1.2.3 not a class"},
	}
	for _, tt := range tests {
		if c, r := splitEnhanced(tt.in); c != tt.code || r != tt.rest {
			t.Errorf("splitEnhanced(%q) = %q, %q", tt.in, c, r)
		}
	}
}

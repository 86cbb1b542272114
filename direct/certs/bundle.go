package certs

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/smallstep/pkcs7"
)

// ParseP7B reads a trust bundle published as a degenerate PKCS #7
// SignedData (a .p7b/.p7c file, as DirectTrust publishes its bundles), in
// DER or PEM ("PKCS7" block), and returns its certificates.
func ParseP7B(data []byte) ([]*x509.Certificate, error) {
	if block, _ := pem.Decode(data); block != nil {
		data = block.Bytes
	}
	p7, err := parseP7(data)
	if err != nil {
		return nil, fmt.Errorf("certs: trust bundle: %w", err)
	}
	if len(p7.Certificates) == 0 {
		return nil, errors.New("certs: trust bundle: no certificates")
	}
	return p7.Certificates, nil
}

func parseP7(data []byte) (p7 *pkcs7.PKCS7, err error) {
	defer func() {
		if r := recover(); r != nil {
			p7, err = nil, errors.New("malformed PKCS #7")
		}
	}()
	return pkcs7.Parse(data)
}

// The bounds of one trust bundle fetch: DirectTrust's bundles are a few
// hundred KiB.
const (
	BundleTimeout = 30 * time.Second
	BundleMaxSize = 8 << 20
)

// BundleSource keeps a TrustStore's bundle anchors current from a P7B
// file or an http(s) URL.
type BundleSource struct {
	// Location is a file path or an http:// or https:// URL.
	Location string
	// Store receives the bundle's anchors (beside its own).
	Store *TrustStore
	// Client fetches URLs: give it the outbound address guard, as for
	// AIA. Nil means a plain client, which reaches any address. Either
	// way a fetch is bounded by BundleTimeout and BundleMaxSize.
	Client *http.Client
	// Logger receives the outcome of each refresh (nil: discarded).
	Logger *slog.Logger
}

// Refresh loads the bundle once and replaces the store's bundle anchors.
// A bundle that cannot be loaded leaves the store as it was.
func (b *BundleSource) Refresh(ctx context.Context) (int, error) {
	data, err := b.read(ctx)
	if err != nil {
		return 0, fmt.Errorf("certs: trust bundle %s: %w", b.Location, err)
	}
	list, err := ParseP7B(data)
	if err != nil {
		return 0, err
	}
	var anchors []*x509.Certificate
	for _, c := range list {
		if c.IsCA {
			anchors = append(anchors, c)
		}
	}
	if len(anchors) == 0 {
		return 0, fmt.Errorf("certs: trust bundle %s: no CA certificate", b.Location)
	}
	if err := b.Store.Replace(anchors); err != nil {
		return 0, err
	}
	return len(anchors), nil
}

// Run refreshes every interval until ctx ends; failures are logged and
// the last good bundle stays in force.
func (b *BundleSource) Run(ctx context.Context, every time.Duration) {
	log := b.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := b.Refresh(ctx); err != nil {
			log.WarnContext(ctx, "trust bundle refresh failed; keeping the last one", "source", b.Location, "err", err)
		} else {
			log.InfoContext(ctx, "trust bundle refreshed", "source", b.Location, "anchors", n)
		}
	}
}

func (b *BundleSource) read(ctx context.Context) ([]byte, error) {
	if !strings.HasPrefix(b.Location, "http://") && !strings.HasPrefix(b.Location, "https://") {
		return os.ReadFile(b.Location)
	}
	return FetchBounded(ctx, b.Client, b.Location, BundleTimeout, BundleMaxSize)
}

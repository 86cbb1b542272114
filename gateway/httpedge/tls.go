package httpedge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Certificate serves a TLS certificate from a PEM certificate chain file
// and key file and loads them again when either changes or on SIGHUP, so
// that a renewed certificate is picked up without a restart. A reload that
// fails keeps the certificate in use and is logged.
type Certificate struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.RWMutex
	cert    *tls.Certificate
	modTime time.Time // newest modification time of the two files when loaded
}

// LoadCertificate loads the pair once; it fails if the pair is unusable.
func LoadCertificate(certFile, keyFile string, log *slog.Logger) (*Certificate, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Certificate{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again and, if they hold a valid pair, serves it.
func (c *Certificate) Reload() error {
	mt, err := c.newest()
	if err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("httpedge: load TLS certificate %s: %w", c.certFile, err)
	}
	c.mu.Lock()
	c.cert, c.modTime = &pair, mt
	c.mu.Unlock()
	if pair.Leaf != nil {
		c.log.Info("TLS certificate loaded", "file", c.certFile, "subject", pair.Leaf.Subject.CommonName,
			"not_after", pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func (c *Certificate) newest() (time.Time, error) {
	var mt time.Time
	for _, f := range []string{c.certFile, c.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return time.Time{}, fmt.Errorf("httpedge: TLS certificate: %w", err)
		}
		if st.ModTime().After(mt) {
			mt = st.ModTime()
		}
	}
	return mt, nil
}

// changed reports whether a file is newer than the served pair.
func (c *Certificate) changed() bool {
	mt, err := c.newest()
	if err != nil {
		return false // mid-rename; look again next time
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return !mt.Equal(c.modTime)
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.cert == nil {
		return nil, errors.New("httpedge: no TLS certificate")
	}
	return c.cert, nil
}

// TLSConfig returns a server configuration serving c, TLS 1.2 and later.
func (c *Certificate) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}

// Watch reloads the pair on SIGHUP and when a file changes (checked every
// poll) until ctx ends.
func (c *Certificate) Watch(ctx context.Context, poll time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			c.reloadLogged("SIGHUP")
		case <-t.C:
			if c.changed() {
				c.reloadLogged("file changed")
			}
		}
	}
}

func (c *Certificate) reloadLogged(why string) {
	if err := c.Reload(); err != nil {
		c.log.Error("TLS certificate reload failed; the previous certificate stays in use", "reason", why, "err", err)
	}
}

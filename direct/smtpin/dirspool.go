package smtpin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DirSpool is a file-system Spool for tests and small installs. Each
// message is a directory holding envelope.json and message.eml; it is
// written under tmp/, synced, and renamed into new/ in one step, so a
// message in new/ is always complete.
type DirSpool struct {
	dir string
}

const (
	envelopeFile = "envelope.json"
	messageFile  = "message.eml"
)

// NewDirSpool returns a spool rooted at dir, creating tmp/ and new/ in it
// with owner-only permissions.
func NewDirSpool(dir string) (*DirSpool, error) {
	for _, sub := range []string{"tmp", "new"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("smtpin: spool: create %s: %w", sub, err)
		}
	}
	return &DirSpool{dir: dir}, nil
}

// Store writes the message and its envelope and returns its spool id.
func (d *DirSpool) Store(ctx context.Context, env Envelope, msg *io.SectionReader) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("smtpin: spool: store: %w", err)
	}
	id := newID()
	tmp := filepath.Join(d.dir, "tmp", id)
	if err := d.write(tmp, env, msg); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("smtpin: spool: store %s: %w", id, err)
	}
	if err := ctx.Err(); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("smtpin: spool: store %s: %w", id, err)
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, "new", id)); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("smtpin: spool: store %s: publish: %w", id, err)
	}
	if err := syncDir(filepath.Join(d.dir, "new")); err != nil {
		return "", fmt.Errorf("smtpin: spool: store %s: sync: %w", id, err)
	}
	return id, nil
}

func (d *DirSpool) write(dir string, env Envelope, msg io.Reader) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	meta, err := json.Marshal(env)
	if err != nil {
		return err
	}
	if err := writeSynced(filepath.Join(dir, envelopeFile), bytes.NewReader(meta)); err != nil {
		return err
	}
	if err := writeSynced(filepath.Join(dir, messageFile), msg); err != nil {
		return err
	}
	return syncDir(dir)
}

// Load returns a stored message and its envelope.
func (d *DirSpool) Load(id string) (Envelope, []byte, error) {
	if !validID(id) {
		return Envelope{}, nil, fmt.Errorf("smtpin: spool: load: invalid id %q", id)
	}
	dir := filepath.Join(d.dir, "new", id)
	meta, err := os.ReadFile(filepath.Join(dir, envelopeFile))
	if err != nil {
		return Envelope{}, nil, fmt.Errorf("smtpin: spool: load %s: %w", id, err)
	}
	var env Envelope
	if err := json.Unmarshal(meta, &env); err != nil {
		return Envelope{}, nil, fmt.Errorf("smtpin: spool: load %s: envelope: %w", id, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, messageFile))
	if err != nil {
		return Envelope{}, nil, fmt.Errorf("smtpin: spool: load %s: %w", id, err)
	}
	return env, raw, nil
}

// List returns the ids of complete messages, sorted.
func (d *DirSpool) List() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(d.dir, "new"))
	if err != nil {
		return nil, fmt.Errorf("smtpin: spool: list: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && validID(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Remove deletes a message once a later stage has taken it over.
func (d *DirSpool) Remove(id string) error {
	if !validID(id) {
		return fmt.Errorf("smtpin: spool: remove: invalid id %q", id)
	}
	if err := os.RemoveAll(filepath.Join(d.dir, "new", id)); err != nil {
		return fmt.Errorf("smtpin: spool: remove %s: %w", id, err)
	}
	return nil
}

func writeSynced(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := io.Copy(f, r)
	serr := f.Sync()
	cerr := f.Close()
	return errors.Join(werr, serr, cerr)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := f.Sync()
	return errors.Join(serr, f.Close())
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validID accepts only ids this spool generates, keeping paths inside dir.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	return strings.Trim(id, "0123456789abcdef") == ""
}

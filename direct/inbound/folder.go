package inbound

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Item is the envelope metadata of one message kept in the inbox or the
// quarantine. It holds ids, addresses of the parties, counts and reasons;
// never the subject, the text or the documents.
type Item struct {
	ID           string    `json:"id"`   // the spool id
	Kind         string    `json:"kind"` // "message", "reply", "report" or "refused"
	Received     time.Time `json:"received"`
	RemoteIP     string    `json:"remoteIp,omitempty"`
	MailFrom     string    `json:"mailFrom,omitempty"`
	RcptTo       []string  `json:"rcptTo,omitempty"`
	From         string    `json:"from,omitempty"`      // the verified header From
	Signer       string    `json:"signer,omitempty"`    // common name of the signing certificate
	MessageID    string    `json:"messageId,omitempty"` // without angle brackets
	InReplyTo    string    `json:"inReplyTo,omitempty"`
	ReferralID   string    `json:"referralId,omitempty"`
	Tenants      []string  `json:"tenants,omitempty"`
	ContentTypes []string  `json:"contentTypes,omitempty"` // of the attachments
	// Applied says what the gateway did with it, e.g. "accepted",
	// "stored", "unmatched mdn"; "quarantined" for a refusal.
	Applied string `json:"applied,omitempty"`
	Reason  Reason `json:"reason,omitempty"` // refusals only
	Error   string `json:"error,omitempty"`  // refusals only: the refusing check's words
}

// Folder is a directory of kept messages, one subdirectory per spool id
// holding meta.json and message.eml (the message as received, still
// encrypted for our key). The console lists it; files are owner-only.
type Folder struct {
	dir string
}

// OpenFolder returns the folder at dir, creating it if needed.
func OpenFolder(dir string) (*Folder, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("direct inbound: folder %s: %w", dir, err)
	}
	return &Folder{dir: dir}, nil
}

// Put stores raw with its metadata under it.ID, replacing an earlier copy
// (a rerun after a crash stores the same message again).
func (f *Folder) Put(it Item, raw []byte) error {
	if !validID(it.ID) {
		return fmt.Errorf("direct inbound: folder put: invalid id %q", it.ID)
	}
	dir := filepath.Join(f.dir, it.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("direct inbound: folder put %s: %w", it.ID, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "message.eml"), raw); err != nil {
		return fmt.Errorf("direct inbound: folder put %s: %w", it.ID, err)
	}
	meta, err := json.MarshalIndent(it, "", "  ")
	if err != nil {
		return fmt.Errorf("direct inbound: folder put %s: %w", it.ID, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "meta.json"), meta); err != nil {
		return fmt.Errorf("direct inbound: folder put %s: %w", it.ID, err)
	}
	return nil
}

// List returns the metadata of every kept message, oldest id first.
func (f *Folder) List() ([]Item, error) {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("direct inbound: folder list: %w", err)
	}
	var out []Item
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(f.dir, e.Name(), "meta.json"))
		if errors.Is(err, os.ErrNotExist) {
			continue // being written
		}
		if err != nil {
			return nil, fmt.Errorf("direct inbound: folder list: %w", err)
		}
		var it Item
		if err := json.Unmarshal(data, &it); err != nil {
			return nil, fmt.Errorf("direct inbound: folder list %s: %w", e.Name(), err)
		}
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Message returns a kept message as received.
func (f *Folder) Message(id string) ([]byte, error) {
	if !validID(id) {
		return nil, fmt.Errorf("direct inbound: folder message: invalid id %q", id)
	}
	b, err := os.ReadFile(filepath.Join(f.dir, id, "message.eml"))
	if err != nil {
		return nil, fmt.Errorf("direct inbound: folder message %s: %w", id, err)
	}
	return b, nil
}

// validID accepts the spool's ids and nothing that could leave the folder.
func validID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, `/\`+"\x00")
}

// writeFileAtomic writes data beside path, syncs it and renames it into
// place, so a reader never sees a partial file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

package smtpin

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDirSpoolRoundTrip(t *testing.T) {
	dir := t.TempDir()
	sp, err := NewDirSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	env := Envelope{RemoteIP: "192.0.2.7", HELO: "mx.sender.example", MailFrom: "", RcptTo: []string{"intake@direct.receiver.example"}, Received: fixedNow}
	raw := []byte("Subject: x\r\n\r\nbody\r\n")
	id, err := sp.Store(context.Background(), env, sectionOf(raw))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := sp.List()
	if err != nil || len(ids) != 1 || ids[0] != id {
		t.Fatalf("List = %v, %v; want [%s]", ids, err, id)
	}
	gotEnv, gotRaw, err := sp.Load(id)
	if err != nil {
		t.Fatal(err)
	}
	if string(gotRaw) != string(raw) || gotEnv.RemoteIP != env.RemoteIP || !gotEnv.Received.Equal(fixedNow) || gotEnv.RcptTo[0] != env.RcptTo[0] {
		t.Errorf("Load = %+v %q", gotEnv, gotRaw)
	}
	info, err := os.Stat(filepath.Join(dir, "new", id, messageFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("message file mode %v, want 0600", perm)
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Errorf("tmp/ not empty after store: %d entries", len(tmp))
	}
	if err := sp.Remove(id); err != nil {
		t.Fatal(err)
	}
	if ids, _ := sp.List(); len(ids) != 0 {
		t.Fatalf("List after Remove = %v", ids)
	}
}

func TestDirSpoolRejects(t *testing.T) {
	sp, err := NewDirSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sp.Store(ctx, Envelope{}, sectionOf([]byte("x"))); err == nil {
		t.Error("Store with a cancelled context succeeded")
	}
	if ids, _ := sp.List(); len(ids) != 0 {
		t.Errorf("cancelled store left %d messages", len(ids))
	}
	for _, id := range []string{"../../etc/passwd", "", strings.Repeat("g", 32)} {
		if _, _, err := sp.Load(id); err == nil {
			t.Errorf("Load(%q) succeeded", id)
		}
		if err := sp.Remove(id); err == nil {
			t.Errorf("Remove(%q) succeeded", id)
		}
	}
}

// sectionOf presents b as the server presents a received message.
func sectionOf(b []byte) *io.SectionReader {
	return io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b)))
}

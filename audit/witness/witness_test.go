package witness_test

import (
	"bufio"
	"bytes"
	"errors"
	"net/http/httptest"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/audit/witness"
)

// growingLog is a tenant log whose tree grows leaf by leaf, with every
// node kept for proofs.
type growingLog struct {
	t      *testing.T
	signer note.Signer
	tree   *audit.Tree
	nodes  map[audit.NodeID][]byte
}

func newLog(t *testing.T) (*growingLog, note.Verifier) {
	skey, vkey, err := audit.GenerateSigningKey("gw.test")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := audit.NewSigner(skey)
	v, _ := audit.NewVerifier(vkey)
	return &growingLog{t: t, signer: s, tree: audit.NewTree(), nodes: map[audit.NodeID][]byte{}}, v
}

func (l *growingLog) grow(n int) {
	for i := 0; i < n; i++ {
		leaf := bytes.Repeat([]byte{byte(l.tree.Size())}, 32)
		_ = l.tree.Append(leaf, func(id audit.NodeID, h []byte) { l.nodes[id] = h })
	}
}

func (l *growingLog) checkpoint() []byte {
	msg, err := audit.SignTreeHead(l.signer, "clinic-a", l.tree.Size(), l.tree.Root())
	if err != nil {
		l.t.Fatal(err)
	}
	return msg
}

func (l *growingLog) proof(from uint64) [][]byte {
	p, err := audit.ConsistencyProof(from, l.tree.Size(), audit.MapSource(l.nodes))
	if err != nil {
		l.t.Fatal(err)
	}
	return p
}

func TestServerCosignsConsistentAndRefusesTheRest(t *testing.T) {
	ctx := t.Context()
	lg, logKey := newLog(t)
	wskey, wvkey, _ := note.GenerateKey(nil, "witness.test")
	dir, err := witness.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := witness.NewServer(dir, []note.Verifier{logKey}, wskey, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c := &witness.Client{URL: hs.URL}

	lg.grow(5)
	first := lg.checkpoint()
	cosig, err := c.AddCheckpoint(ctx, 0, nil, first)
	if err != nil {
		t.Fatal(err)
	}
	// The cosignature verifies under the witness's cosignature/v1 key.
	cv, _ := fnote.VKeyToCosignatureV1(wvkey)
	wv, err := fnote.NewVerifierForCosignatureV1(cv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(append(bytes.Clone(first), cosig...), note.VerifierList(wv)); err != nil {
		t.Fatalf("cosignature %q: %v", cosig, err)
	}

	lg.grow(6)
	if _, err := c.AddCheckpoint(ctx, 5, lg.proof(5), lg.checkpoint()); err != nil {
		t.Fatalf("consistent checkpoint refused: %v", err)
	}
	// A wrong old size is answered with the size the witness holds.
	var mismatch *audit.SizeMismatchError
	if _, err := c.AddCheckpoint(ctx, 5, lg.proof(5), lg.checkpoint()); !errors.As(err, &mismatch) || mismatch.Size != 11 {
		t.Fatalf("stale old size: %v, want a size mismatch naming 11", err)
	}
	// A fork: another tree of 13 leaves, with a proof from its own 11.
	fork, _ := newLog(t)
	fork.signer = lg.signer
	fork.grow(11)
	fork.nodes[audit.NodeID{Level: 0, Index: 3}] = nil
	fork.tree = audit.NewTree()
	fork.nodes = map[audit.NodeID][]byte{}
	for i := 0; i < 13; i++ {
		_ = fork.tree.Append(bytes.Repeat([]byte{byte(100 + i)}, 32), func(id audit.NodeID, h []byte) { fork.nodes[id] = h })
	}
	if _, err := c.AddCheckpoint(ctx, 11, fork.proof(11), fork.checkpoint()); !errors.Is(err, audit.ErrInconsistent) {
		t.Fatalf("fork: %v, want refused as inconsistent", err)
	}
	// A rollback to a smaller tree.
	small, _ := newLog(t)
	small.signer = lg.signer
	small.grow(3)
	if _, err := c.AddCheckpoint(ctx, 11, nil, small.checkpoint()); !errors.Is(err, audit.ErrInconsistent) {
		t.Fatalf("rollback: %v, want refused as inconsistent", err)
	}
	// A checkpoint signed by a log it does not witness.
	stranger, _ := newLog(t)
	stranger.grow(12)
	if _, err := c.AddCheckpoint(ctx, 11, nil, stranger.checkpoint()); err == nil || errors.Is(err, audit.ErrInconsistent) {
		t.Fatalf("unknown log: %v, want forbidden", err)
	}
	// The latest stays at 11 and survives a restart of the witness.
	cps, err := c.Checkpoints(ctx)
	if err != nil || len(cps) != 2 {
		t.Fatalf("kept %d checkpoints, %v; want 2", len(cps), err)
	}
	h, err := audit.OpenTreeHead(cps[1], logKey)
	if err != nil || h.Size != 11 {
		t.Fatalf("latest %+v, %v", h, err)
	}
	again, _ := witness.NewDir(dirPath(t, dir))
	if _, err := again.AddCheckpoint(ctx, 0, nil, lg.checkpoint()); !errors.As(err, &mismatch) || mismatch.Size != 11 {
		t.Fatalf("restarted witness forgot its latest: %v", err)
	}
}

func dirPath(t *testing.T, d *witness.Dir) string {
	t.Helper()
	return d.String()[len("dir:"):]
}

func TestParseAddCheckpointRoundTrip(t *testing.T) {
	lg, _ := newLog(t)
	lg.grow(7)
	req := witness.AddCheckpointRequest{OldSize: 3, Checkpoint: lg.checkpoint()}
	lg.grow(0)
	p, _ := audit.ConsistencyProof(3, 7, audit.MapSource(lg.nodes))
	req.Proof = p
	got, err := witness.ParseAddCheckpoint(req.Marshal())
	if err != nil || got.OldSize != 3 || len(got.Proof) != len(p) || !bytes.Equal(got.Checkpoint, req.Checkpoint) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "old x\n\ncp", "old 01\n\ncp", "new 1\n\ncp", "old 1\nnot-base64\n\ncp", "old 1\n\n"} {
		if _, err := witness.ParseAddCheckpoint([]byte(bad)); err == nil {
			t.Errorf("ParseAddCheckpoint(%q) accepted", bad)
		}
	}
}

func FuzzParseAddCheckpoint(f *testing.F) {
	f.Add([]byte("old 0\n\nlog/audit/a\n1\nAAAA\n\n— log sig\n"))
	f.Add([]byte("old 5\n" + "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\ncp"))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := witness.ParseAddCheckpoint(body)
		if err != nil {
			return
		}
		again, err := witness.ParseAddCheckpoint(req.Marshal())
		if err != nil || again.OldSize != req.OldSize || len(again.Proof) != len(req.Proof) || !bytes.Equal(again.Checkpoint, req.Checkpoint) {
			t.Fatalf("re-parse of %q: %+v, %v", req.Marshal(), again, err)
		}
	})
}

func FuzzParseRecords(f *testing.F) {
	f.Add([]byte("checkpoint 3\nabc"))
	f.Add([]byte("checkpoint 99999999\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := witness.ParseRecords(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		for _, r := range recs {
			if len(r) == 0 {
				t.Fatal("empty record accepted")
			}
		}
	})
}

package audit

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
)

// vectorTree builds a Tree from the transparency-dev test vectors' leaf
// inputs, remembering every node it completes.
func vectorTree(t *testing.T, n int) (*Tree, NodeSource) {
	t.Helper()
	nodes := map[NodeID][]byte{}
	tree := NewTree()
	for _, in := range testonly.LeafInputs()[:n] {
		if err := tree.Append(hasher.HashLeaf(in), func(id NodeID, h []byte) { nodes[id] = h }); err != nil {
			t.Fatal(err)
		}
	}
	return tree, MapSource(nodes)
}

func TestTreeMatchesTestVectors(t *testing.T) {
	roots := testonly.RootHashes()
	for size := range len(testonly.LeafInputs()) + 1 {
		tree, node := vectorTree(t, size)
		if !bytes.Equal(tree.Root(), roots[size]) {
			t.Errorf("size %d: root %x, want %x", size, tree.Root(), roots[size])
		}
		for level, hashes := range testonly.NodeHashes() {
			for index, want := range hashes {
				if uint64(index+1)<<level > uint64(size) {
					continue
				}
				got, err := node([]NodeID{{Level: uint(level), Index: uint64(index)}})
				if err != nil || len(got) != 1 || !bytes.Equal(got[0], want) {
					t.Errorf("size %d: node (%d, %d) = %x, %v; want %x", size, level, index, got, err, want)
				}
			}
		}
		// The compact range rebuilt from its nodes is the same tree.
		hs, err := node(TreeNodes(uint64(size)))
		if err != nil {
			t.Fatal(err)
		}
		again, err := TreeFromNodes(uint64(size), hs)
		if err != nil || !bytes.Equal(again.Root(), roots[size]) {
			t.Errorf("size %d: rebuilt root %x, %v", size, again.Root(), err)
		}
	}
}

func TestInclusionAndConsistencyProofsAgainstTestVectors(t *testing.T) {
	leaves := testonly.LeafInputs()
	roots := testonly.RootHashes()
	ref := testonly.New(hasher)
	ref.AppendData(leaves...)
	_, node := vectorTree(t, len(leaves))
	for size := uint64(1); size <= uint64(len(leaves)); size++ {
		for index := range size {
			p, err := InclusionProof(index, size, node)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ref.InclusionProof(index, size)
			if !equalProofs(p, want) {
				t.Errorf("inclusion (%d, %d): proof differs from the reference tree's", index, size)
			}
			leaf := hasher.HashLeaf(leaves[index])
			if err := VerifyInclusion(leaf, index, size, p, roots[size]); err != nil {
				t.Errorf("inclusion (%d, %d): %v", index, size, err)
			}
			if err := VerifyInclusion(hasher.HashLeaf([]byte("forged")), index, size, p, roots[size]); err == nil {
				t.Errorf("inclusion (%d, %d): a forged leaf verified", index, size)
			}
		}
		for size1 := uint64(1); size1 <= size; size1++ {
			p, err := ConsistencyProof(size1, size, node)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ref.ConsistencyProof(size1, size)
			if !equalProofs(p, want) {
				t.Errorf("consistency (%d, %d): proof differs from the reference tree's", size1, size)
			}
			if err := VerifyConsistency(size1, size, p, roots[size1], roots[size]); err != nil {
				t.Errorf("consistency (%d, %d): %v", size1, size, err)
			}
			if size1 < size {
				if err := VerifyConsistency(size1, size, p, roots[size1], roots[size-1]); err == nil {
					t.Errorf("consistency (%d, %d): verified against the wrong root", size1, size)
				}
			}
		}
	}
}

func equalProofs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

var (
	testKeyOnce  sync.Once
	testSigner   note.Signer
	testVerifier note.Verifier
)

// testKey is the tests' log key, made once.
func testKey(t *testing.T) (note.Signer, note.Verifier) {
	t.Helper()
	testKeyOnce.Do(func() {
		skey, vkey, err := GenerateSigningKey("gw.test")
		if err != nil {
			panic(err)
		}
		testSigner, _ = NewSigner(skey)
		testVerifier, _ = NewVerifier(vkey)
	})
	return testSigner, testVerifier
}

// signedHeads signs the trees of chain at the given sizes.
func signedHeads(t *testing.T, chain []Entry, sizes ...int) []TreeHead {
	t.Helper()
	s, v := testKey(t)
	var out []TreeHead
	for _, n := range sizes {
		tree := NewTree()
		for _, e := range chain[:n] {
			leaf, err := LeafHash(e)
			if err != nil {
				t.Fatal(err)
			}
			_ = tree.Append(leaf, nil)
		}
		msg, err := SignTreeHead(s, chain[0].Tenant, tree.Size(), tree.Root())
		if err != nil {
			t.Fatal(err)
		}
		h, err := OpenTreeHead(msg, v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

func TestVerifyTrailTamperCases(t *testing.T) {
	chain := buildChain(t, "practice-a", 10)
	other := buildChain(t, "practice-b", 3)
	heads := append(signedHeads(t, chain, 4, 10), signedHeads(t, other, 3)...)

	// rechain rewrites entry i and recomputes every later hash: a chain
	// that verifies on its own.
	rechain := func(i int) []Entry {
		out := append([]Entry(nil), chain[:i]...)
		seq, prev := chain[i-1].Seq, chain[i-1].Hash
		for j := i; j < len(chain); j++ {
			ev := testEvent(j)
			if j == i {
				ev.Actor = "user:mallory"
			}
			e := NewEntry("practice-a", seq, prev, ev)
			out = append(out, e)
			seq, prev = e.Seq, e.Hash
		}
		return out
	}
	changed := append([]Entry(nil), chain...)
	changed[6].Actor = "user:mallory"
	cases := []struct {
		name    string
		rows    []Entry
		tenant  string
		seq     int64
		because string
	}{
		{"changed row", append(changed, other...), "practice-a", 7, "hash mismatch"},
		{"deleted row", append(append(append([]Entry(nil), chain[:5]...), chain[6:]...), other...), "practice-a", 7, "sequence gap"},
		{"truncated tail", append(append([]Entry(nil), chain[:8]...), other...), "practice-a", 9, "truncated"},
		{"rewritten and re-chained", append(rechain(6), other...), "practice-a", 5, "rewritten"},
		{"rewritten early", append(rechain(2), other...), "practice-a", 1, "rewritten"},
		{"deleted practice", chain, "practice-b", 1, "practice deleted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if plain, _ := Verify(rows(c.rows)); plain.OK() != (c.because != "hash mismatch" && c.because != "sequence gap") {
				t.Fatalf("the chain alone says ok=%v", plain.OK())
			}
			rep, err := VerifyTrail(rows(c.rows), heads)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Breaks) != 1 {
				t.Fatalf("breaks %+v, want one", rep.Breaks)
			}
			b := rep.Breaks[0]
			if b.Tenant != c.tenant || b.Seq != c.seq || !strings.Contains(b.Reason, c.because) {
				t.Errorf("break %+v, want %s seq %d (%s)", b, c.tenant, c.seq, c.because)
			}
		})
	}
	rep, err := VerifyTrail(rows(append(append([]Entry(nil), chain...), other...)), heads)
	if err != nil || !rep.OK() || rep.Checkpoints != 3 {
		t.Errorf("intact trail: %+v, %v", rep, err)
	}
	// Entries appended after the last checkpoint are fine.
	more := buildChain(t, "practice-a", 12)
	if rep, _ := VerifyTrail(rows(append(more, other...)), heads); !rep.OK() {
		t.Errorf("a longer trail than witnessed: %+v", rep.Breaks)
	}
	if _, err := VerifyTrail(rowsThenError(chain[:2], errors.New("connection reset")), heads); err == nil {
		t.Error("a read error was not reported")
	}
}

func TestOpenTreeHeadRefusesForeignAndForged(t *testing.T) {
	chain := buildChain(t, "practice-a", 2)
	h := signedHeads(t, chain, 2)[0]
	_, otherKey, _ := GenerateSigningKey("gw.test")
	v, _ := NewVerifier(otherKey)
	if _, err := OpenTreeHead(h.Note, v); err == nil {
		t.Error("a checkpoint verified under another key")
	}
	_, right := testKey(t)
	if _, err := OpenTreeHead(h.Note, right); err != nil {
		t.Fatalf("the genuine checkpoint: %v", err)
	}
	forged := bytes.Replace(h.Note, []byte("\n2\n"), []byte("\n3\n"), 1)
	if bytes.Equal(forged, h.Note) {
		t.Fatal("the size line was not found")
	}
	if _, err := OpenTreeHead(forged, right); err == nil {
		t.Error("an altered checkpoint verified")
	}
}

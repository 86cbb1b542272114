package audit

import (
	"encoding/hex"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// hasher is the RFC 6962 (Certificate Transparency) tree hasher: leaves are
// SHA-256(0x00 || data), interior nodes SHA-256(0x01 || left || right).
var hasher = rfc6962.DefaultHasher

var rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}

// NodeID names a perfect subtree of a tenant's tree: Level 0 is a leaf (the
// entry with Seq = Index+1); level L, index I covers leaves
// [I<<L, (I+1)<<L).
type NodeID = compact.NodeID

// LeafHash is the tree leaf of e: the RFC 6962 leaf hash of the 32 bytes of
// e.Hash. Leaf i of a tenant's tree is the entry with Seq i+1, so the tree
// and the chain commit to the same rows.
func LeafHash(e Entry) ([]byte, error) {
	b, err := hex.DecodeString(e.Hash)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("audit: leaf of %s seq %d: hash %q is not 32 hex bytes", e.Tenant, e.Seq, e.Hash)
	}
	return hasher.HashLeaf(b), nil
}

// Tree is the right edge of a tenant's Merkle tree (a compact range from
// leaf 0): enough to append leaves and compute the root, in O(log n) space.
type Tree struct{ r *compact.Range }

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{r: rangeFactory.NewEmptyRange(0)} }

// TreeNodes lists the perfect subtrees whose hashes make up the compact
// range of a tree of size leaves, left to right (see TreeFromNodes).
func TreeNodes(size uint64) []NodeID { return compact.RangeNodes(0, size, nil) }

// TreeFromNodes rebuilds a tree of size leaves from the hashes of the nodes
// TreeNodes(size) names, in that order.
func TreeFromNodes(size uint64, hashes [][]byte) (*Tree, error) {
	r, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("audit: tree of size %d: %w", size, err)
	}
	return &Tree{r: r}, nil
}

// Append adds a leaf hash. visit, when not nil, sees every node the append
// completes, the leaf included (level 0).
func (t *Tree) Append(leaf []byte, visit func(id NodeID, hash []byte)) error {
	if err := t.r.Append(leaf, visit); err != nil {
		return fmt.Errorf("audit: append leaf %d: %w", t.r.End(), err)
	}
	return nil
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return t.r.End() }

// Root is the tree's root hash (the RFC 6962 empty-tree hash when empty).
func (t *Tree) Root() []byte {
	if t.r.End() == 0 {
		return hasher.EmptyRoot()
	}
	root, err := t.r.GetRootHash(nil)
	if err != nil {
		panic(fmt.Sprintf("audit: root of a range from 0: %v", err)) // cannot happen: every Tree starts at leaf 0
	}
	return root
}

// NodeSource returns the hashes of perfect subtrees of a tenant's tree, in
// the order of ids. A proof asks for all the nodes it needs in one call, so
// a source backed by a database reads them in one query.
type NodeSource func(ids []NodeID) ([][]byte, error)

// MapSource is a NodeSource over hashes held in memory; a node it lacks is
// an error.
func MapSource(nodes map[NodeID][]byte) NodeSource {
	return func(ids []NodeID) ([][]byte, error) {
		out := make([][]byte, len(ids))
		for i, id := range ids {
			h, ok := nodes[id]
			if !ok {
				return nil, fmt.Errorf("no node (%d, %d)", id.Level, id.Index)
			}
			out[i] = h
		}
		return out, nil
	}
}

// InclusionProof proves that leaf index is in the tree of size leaves,
// reading the perfect subtrees it needs from node.
func InclusionProof(index, size uint64, node NodeSource) ([][]byte, error) {
	n, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("audit: inclusion proof: %w", err)
	}
	return rehash(n, node)
}

// ConsistencyProof proves that the tree of size1 leaves is a prefix of the
// tree of size2 leaves, reading the perfect subtrees it needs from node.
func ConsistencyProof(size1, size2 uint64, node NodeSource) ([][]byte, error) {
	n, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("audit: consistency proof: %w", err)
	}
	return rehash(n, node)
}

func rehash(n proof.Nodes, node NodeSource) ([][]byte, error) {
	hashes, err := node(n.IDs)
	if err != nil {
		return nil, fmt.Errorf("audit: proof nodes: %w", err)
	}
	if len(hashes) != len(n.IDs) {
		return nil, fmt.Errorf("audit: proof: %d node hashes for %d nodes", len(hashes), len(n.IDs))
	}
	out, err := n.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("audit: proof: %w", err)
	}
	return out, nil
}

// VerifyInclusion checks that leaf sits at index in the tree of size
// leaves whose root is root.
func VerifyInclusion(leaf []byte, index, size uint64, p [][]byte, root []byte) error {
	if err := proof.VerifyInclusion(hasher, index, size, leaf, p, root); err != nil {
		return fmt.Errorf("audit: inclusion of leaf %d in tree of size %d: %w", index, size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree (size1, root1) is a prefix of the
// tree (size2, root2).
func VerifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 []byte) error {
	if err := proof.VerifyConsistency(hasher, size1, size2, p, root1, root2); err != nil {
		return fmt.Errorf("audit: consistency of tree size %d with size %d: %w", size1, size2, err)
	}
	return nil
}

package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// AuditConfig tells the sequencer how to publish the tenants' trees.
type AuditConfig struct {
	// Signer signs each tenant's checkpoint (C2SP tlog-checkpoint in a
	// signed note); its name is the log name. Nil: trees are built and
	// proofs served, but no checkpoint is signed or witnessed.
	Signer note.Signer
	// Witnesses receive every signed checkpoint with a consistency proof.
	Witnesses []audit.Witness
	// Batch is how many events one sequencing transaction takes (default 500).
	Batch int
	// Logger receives witness failures; nil discards them.
	Logger *slog.Logger
	// Follower leaves sequencing to the database's sequencer (a running
	// serve, or the next one to start): reads return what it has
	// sequenced, and Close neither sequences nor publishes. Events this
	// process appends wait, unsequenced, for it. For one-shot commands;
	// an explicit SequenceAudit or PublishAudit still sequences when the
	// lock is free, and Close then releases the lock.
	Follower bool
}

// PathAuditSequencer is the named gateway-wide path (row-level security's
// gateway.scope) the sequencer runs on: it reads every practice's
// unsequenced events and appends to every practice's chain and tree.
const PathAuditSequencer = "audit-sequencer"

// sequencer gives committed audit events their places in the tenants'
// chains and trees. One process per database holds the sequencer lock (a
// PostgreSQL advisory lock keyed by the schema, a file lock beside the
// SQLite file); it takes it when it first needs it and keeps it until the
// store closes, so its in-memory chain heads and tree edges stay true.
// Another process's store reads what the holder has sequenced.
//
// This is the one path that reads and writes every practice's audit rows:
// it runs on the store's own connections, as the application role.
type sequencer struct {
	s   *Store
	mu  sync.Mutex
	cfg AuditConfig

	unlock  func()    // set while this process holds the lock
	retryAt time.Time // when another process held it: try again after this
	logs    map[string]*tenantLog
	floor   string // PostgreSQL: xid8 below which every event is sequenced; SQLite: last event id sequenced
	dirty   map[string]bool
	// witnessed is the size each witness holds of each tenant's log, as
	// far as we know (absent: ask).
	witnessed map[witnessKey]uint64
}

type tenantLog struct {
	seq  int64
	hash string
	tree *audit.Tree
}

type witnessKey struct {
	witness int
	tenant  string
}

func newSequencer(s *Store) *sequencer {
	return &sequencer{s: s, cfg: AuditConfig{Batch: 500}, dirty: map[string]bool{}, witnessed: map[witnessKey]uint64{}}
}

// ConfigureAudit sets how the tenants' trees are signed and witnessed.
func (s *Store) ConfigureAudit(cfg AuditConfig) {
	q := s.seq
	q.mu.Lock()
	defer q.mu.Unlock()
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	q.cfg = cfg
	for t := range q.logs {
		q.dirty[t] = true // publish what exists under the new key and witnesses
	}
}

// SequenceAudit sequences every committed audit event, if this process
// holds (or can take) the sequencer lock, and returns how many events it
// sequenced. held is false when another process is the sequencer.
func (s *Store) SequenceAudit(ctx context.Context) (n int, held bool, err error) {
	q := s.seq
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.sequenceLocked(ctx)
}

// PublishAudit signs the checkpoint of every tree that grew since the last
// publication, stores it and hands it to the witnesses. It returns how
// many checkpoints it signed.
func (s *Store) PublishAudit(ctx context.Context) (int, error) {
	q := s.seq
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, _, err := q.sequenceLocked(ctx); err != nil {
		return 0, err
	}
	return q.publishLocked(ctx)
}

// sequenceForRead sequences every committed event before a read, so a
// reader sees its own writes, unless the store follows another process's
// sequencer.
func (s *Store) sequenceForRead(ctx context.Context) error {
	q := s.seq
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cfg.Follower {
		return nil
	}
	_, _, err := q.sequenceLocked(ctx)
	return err
}

// RunSequencer sequences and publishes every interval until ctx ends.
// The last round is Close's: it runs after the process's last writes
// (the workers stopped), so shutdown publishes once and leaves nothing
// unsequenced or unpublished. every <= 0 means once a second.
func (s *Store) RunSequencer(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.PublishAudit(ctx); err != nil && ctx.Err() == nil {
				s.seq.log().Error("audit sequencer", "err", err)
			}
		}
	}
}

func (q *sequencer) log() *slog.Logger {
	if q.cfg.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return q.cfg.Logger
}

// close sequences and publishes what is left, when this process is (or
// can become) the sequencer, and releases the lock. A follower only
// releases the lock, if an explicit call took it.
func (q *sequencer) close(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cfg.Follower {
		if q.unlock != nil {
			q.unlock()
			q.unlock = nil
		}
		return nil
	}
	q.retryAt = time.Time{}
	_, held, err := q.sequenceLocked(ctx)
	if !held {
		return err
	}
	if err == nil {
		_, err = q.publishLocked(ctx)
	}
	q.unlock()
	q.unlock = nil
	return err
}

func (q *sequencer) sequenceLocked(ctx context.Context) (int, bool, error) {
	ctx = gateway.GatewayWide(ctx, PathAuditSequencer)
	if q.unlock == nil {
		if time.Now().Before(q.retryAt) {
			return 0, false, nil
		}
		unlock, ok, err := q.s.b.LockSequencer(ctx)
		if err != nil {
			return 0, false, fmt.Errorf("audit sequencer: lock: %w", err)
		}
		if !ok {
			q.retryAt = time.Now().Add(time.Second)
			return 0, false, nil
		}
		q.unlock, q.logs, q.floor = unlock, map[string]*tenantLog{}, ""
		if err := q.markUnpublished(ctx); err != nil {
			q.logs = map[string]*tenantLog{} // reload from the database next time
			return 0, true, err
		}
	}
	total := 0
	for {
		n, err := q.round(ctx)
		total += n
		if err != nil {
			q.logs, q.floor = map[string]*tenantLog{}, "" // reload from the database next time
			return total, true, err
		}
		if n < q.cfg.Batch {
			return total, true, nil
		}
	}
}

// markUnpublished makes due, on taking the sequencer lock, what an
// earlier holder sequenced but did not get signed or witnessed: the list
// of due trees lives in memory, so a holder that died or whose
// publication failed would otherwise leave a quiet practice's newest
// entries unsigned until it logs again. Without witnesses the due trees
// are those grown past their newest stored checkpoint; with witnesses,
// whose sizes a new holder does not know, every tree is due once.
func (q *sequencer) markUnpublished(ctx context.Context) error {
	if q.cfg.Signer == nil {
		return nil
	}
	query := `SELECT l.tenant FROM (SELECT tenant, max(seq) AS size FROM audit_log GROUP BY tenant) l
		LEFT JOIN (SELECT tenant, max(size) AS size FROM audit_signed_heads GROUP BY tenant) h ON h.tenant = l.tenant
		WHERE h.size IS NULL OR h.size < l.size`
	if len(q.cfg.Witnesses) > 0 {
		query = `SELECT DISTINCT tenant FROM audit_log`
	}
	return q.s.Update(ctx, func(t0 gateway.Tx) error {
		t := unwrap(t0)
		rows, err := t.query(ctx, query)
		if err != nil {
			return fmt.Errorf("audit sequencer: unpublished trees: %w", err)
		}
		var tenants []string
		for rows.Next() {
			var tenant string
			if err := rows.Scan(&tenant); err != nil {
				rows.Close()
				return err
			}
			tenants = append(tenants, tenant)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, tenant := range tenants {
			if _, err := q.tenant(ctx, t, tenant); err != nil {
				return err
			}
			q.dirty[tenant] = true
		}
		return nil
	})
}

// pendingEvent is one row of audit_events.
type pendingEvent struct {
	id      int64
	tenants []string
	ev      audit.Event
}

// round sequences up to one batch of events in one transaction.
func (q *sequencer) round(ctx context.Context) (int, error) {
	btx, err := q.s.b.Begin(ctx, false)
	if err != nil {
		return 0, err
	}
	defer btx.Rollback(context.WithoutCancel(ctx))
	t := &tx{c: btx, d: q.s.d, btx: btx, binds: &q.s.binds}
	pg := q.s.d.Name == "postgres"
	var (
		rows Rows
		xmin string
	)
	if q.floor == "" {
		q.floor = "0"
		if !pg {
			if err := t.queryRow(ctx, `SELECT CAST(coalesce(max(event_id), 0) AS TEXT) FROM audit_log`).Scan(&q.floor); err != nil {
				return 0, fmt.Errorf("audit sequencer: floor: %w", err)
			}
		}
	}
	const cols = `SELECT e.id, e.at, e.actor, e.tenants, e.referral_id, e.action, e.outcome, e.detail FROM audit_events e`
	if pg {
		// The xmin of this statement's snapshot, taken before the events
		// are read: every transaction older than it is over, so every event
		// it appended is visible to the next statement's snapshot.
		if err := t.queryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&xmin); err != nil {
			return 0, fmt.Errorf("audit sequencer: snapshot: %w", err)
		}
		rows, err = t.query(ctx, cols+` WHERE e.xid >= $1::xid8
			AND NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.event_id = e.id) ORDER BY e.id LIMIT $2`, q.floor, q.cfg.Batch)
	} else {
		floor, _ := strconv.ParseInt(q.floor, 10, 64)
		rows, err = t.query(ctx, cols+` WHERE e.id > $1 ORDER BY e.id LIMIT $2`, floor, q.cfg.Batch)
	}
	if err != nil {
		return 0, fmt.Errorf("audit sequencer: read events: %w", err)
	}
	events, err := scanPending(rows)
	if err != nil {
		return 0, err
	}
	if len(events) == 0 {
		if pg {
			q.floor = xmin
		}
		return 0, nil
	}
	grown := map[string]bool{}
	var entries []sequenced
	var nodes []treeNode
	for _, pe := range events {
		for _, tenant := range pe.tenants {
			lg, err := q.tenant(ctx, t, tenant)
			if err != nil {
				return 0, err
			}
			e := audit.NewEntry(tenant, lg.seq, lg.hash, pe.ev)
			leaf, err := audit.LeafHash(e)
			if err != nil {
				return 0, err
			}
			if err := lg.tree.Append(leaf, func(id audit.NodeID, h []byte) {
				if id.Level > 0 {
					nodes = append(nodes, treeNode{tenant, id, h})
				}
			}); err != nil {
				return 0, err
			}
			lg.seq, lg.hash = e.Seq, e.Hash
			entries = append(entries, sequenced{e, pe.id})
			grown[tenant] = true
		}
	}
	if err := insertEntries(ctx, t, entries); err != nil {
		return 0, err
	}
	if err := insertNodes(ctx, t, nodes); err != nil {
		return 0, err
	}
	if err := btx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("audit sequencer: commit: %w", err)
	}
	for tenant := range grown {
		q.dirty[tenant] = true
	}
	switch {
	case !pg:
		// SQLite commits ids in order: every event up to the last one
		// taken is sequenced.
		q.floor = strconv.FormatInt(events[len(events)-1].id, 10)
	case len(events) < q.cfg.Batch:
		// Everything visible was taken, so every event of a transaction
		// older than the snapshot's xmin is sequenced.
		q.floor = xmin
	}
	return len(events), nil
}

func scanPending(rows Rows) ([]pendingEvent, error) {
	defer rows.Close()
	var out []pendingEvent
	for rows.Next() {
		var pe pendingEvent
		var tenants, detail string
		if err := rows.Scan(&pe.id, dbTime{&pe.ev.Time}, &pe.ev.Actor, &tenants, nullString{&pe.ev.ReferralID},
			&pe.ev.Action, &pe.ev.Outcome, &detail); err != nil {
			return nil, fmt.Errorf("audit sequencer: scan event: %w", err)
		}
		if err := json.Unmarshal([]byte(tenants), &pe.tenants); err != nil {
			return nil, fmt.Errorf("audit sequencer: event %d tenants: %w", pe.id, err)
		}
		if detail != "" && detail != "null" {
			if err := json.Unmarshal([]byte(detail), &pe.ev.Detail); err != nil {
				return nil, fmt.Errorf("audit sequencer: event %d detail: %w", pe.id, err)
			}
		}
		pe.tenants = dedupe(pe.tenants)
		out = append(out, pe)
	}
	return out, rows.Err()
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// tenant returns the tenant's chain head and tree, loading them from the
// database the first time.
func (q *sequencer) tenant(ctx context.Context, t *tx, tenant string) (*tenantLog, error) {
	if lg := q.logs[tenant]; lg != nil {
		return lg, nil
	}
	lg := &tenantLog{hash: audit.GenesisHash(tenant)}
	err := t.queryRow(ctx, `SELECT seq, hash FROM audit_log WHERE tenant = $1 ORDER BY seq DESC LIMIT 1`, tenant).Scan(&lg.seq, &lg.hash)
	if err != nil && !errors.Is(err, gateway.ErrNotFound) {
		return nil, fmt.Errorf("audit sequencer: head of %s: %w", tenant, err)
	}
	size := uint64(lg.seq)
	hashes, err := nodeHashes(ctx, t, tenant, audit.TreeNodes(size))
	if errors.Is(err, gateway.ErrNotFound) {
		// Rows written before the trees: build the tree once from them.
		if lg.tree, err = rebuildTree(ctx, t, tenant, size); err != nil {
			return nil, err
		}
		q.logs[tenant] = lg
		return lg, nil
	} else if err != nil {
		return nil, err
	}
	tree, err := audit.TreeFromNodes(size, hashes)
	if err != nil {
		return nil, err
	}
	lg.tree = tree
	q.logs[tenant] = lg
	return lg, nil
}

// rebuildTree builds a tenant's tree from its first size rows and stores
// its interior nodes.
func rebuildTree(ctx context.Context, t *tx, tenant string, size uint64) (*audit.Tree, error) {
	rows, err := t.query(ctx, `SELECT seq, hash FROM audit_log WHERE tenant = $1 AND seq <= $2 ORDER BY seq`, tenant, int64(size))
	if err != nil {
		return nil, fmt.Errorf("audit sequencer: rebuild tree of %s: %w", tenant, err)
	}
	tree := audit.NewTree()
	var nodes []treeNode
	for rows.Next() {
		var e audit.Entry
		e.Tenant = tenant
		if err := rows.Scan(&e.Seq, &e.Hash); err != nil {
			rows.Close()
			return nil, err
		}
		leaf, err := audit.LeafHash(e)
		if err != nil {
			rows.Close()
			return nil, err
		}
		_ = tree.Append(leaf, func(id audit.NodeID, h []byte) {
			if id.Level > 0 {
				nodes = append(nodes, treeNode{tenant, id, h})
			}
		})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return tree, insertNodes(ctx, t, nodes)
}

// nodeHashes reads perfect subtrees' hashes, in the order of ids: leaves
// from their chain rows, interior nodes from audit_tree_nodes, one query
// each. A node not stored is gateway.ErrNotFound.
func nodeHashes(ctx context.Context, t *tx, tenant string, ids []audit.NodeID) ([][]byte, error) {
	var seqs []int64
	var levels []int32
	var idxs []int64
	for _, id := range ids {
		if id.Level == 0 {
			seqs = append(seqs, int64(id.Index)+1)
		} else {
			levels, idxs = append(levels, int32(id.Level)), append(idxs, int64(id.Index))
		}
	}
	found := make(map[audit.NodeID][]byte, len(ids))
	if len(seqs) > 0 {
		q, args := `SELECT seq, hash FROM audit_log WHERE tenant = $1 AND seq = ANY($2::bigint[])`, []any{tenant, seqs}
		if t.d.Name != "postgres" {
			q, args = inList[int64, int64](`SELECT seq, hash FROM audit_log WHERE tenant = $1 AND seq IN `, 1, tenant, seqs, nil)
		}
		if err := scanNodes(ctx, t, q, args, func(scan func(...any) error) error {
			e := audit.Entry{Tenant: tenant}
			if err := scan(&e.Seq, &e.Hash); err != nil {
				return err
			}
			leaf, err := audit.LeafHash(e)
			found[audit.NodeID{Level: 0, Index: uint64(e.Seq - 1)}] = leaf
			return err
		}); err != nil {
			return nil, fmt.Errorf("audit leaves of %s: %w", tenant, err)
		}
	}
	if len(levels) > 0 {
		q, args := `SELECT n.level, n.idx, n.hash FROM audit_tree_nodes n
			JOIN unnest($2::integer[], $3::bigint[]) AS want(level, idx) ON n.level = want.level AND n.idx = want.idx
			WHERE n.tenant = $1`, []any{tenant, levels, idxs}
		if t.d.Name != "postgres" {
			q, args = inList(`SELECT level, idx, hash FROM audit_tree_nodes WHERE tenant = $1 AND (level, idx) IN `, 2, tenant, levels, idxs)
		}
		if err := scanNodes(ctx, t, q, args, func(scan func(...any) error) error {
			var (
				level int64
				idx   int64
				h     []byte
			)
			if err := scan(&level, &idx, &h); err != nil {
				return err
			}
			found[audit.NodeID{Level: uint(level), Index: uint64(idx)}] = h
			return nil
		}); err != nil {
			return nil, fmt.Errorf("audit tree nodes of %s: %w", tenant, err)
		}
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := found[id]
		if !ok {
			return nil, fmt.Errorf("audit tree node %s (%d, %d): %w", tenant, id.Level, id.Index, gateway.ErrNotFound)
		}
		out[i] = h
	}
	return out, nil
}

// inList completes query with a list of width-tuple placeholders, ($2,$3),
// ($4,$5)..., after $1 = first: SQLite has no arrays to pass a list in.
func inList[A, B any](query string, width int, first any, as []A, bs []B) (string, []any) {
	args := []any{first}
	var b strings.Builder
	b.WriteString(query)
	b.WriteByte('(')
	for i := range as {
		if i > 0 {
			b.WriteByte(',')
		}
		if width == 1 {
			fmt.Fprintf(&b, "$%d", len(args)+1)
			args = append(args, as[i])
			continue
		}
		fmt.Fprintf(&b, "($%d,$%d)", len(args)+1, len(args)+2)
		args = append(args, as[i], bs[i])
	}
	b.WriteByte(')')
	return b.String(), args
}

// scanNodes runs query and hands each row's Scan to row.
func scanNodes(ctx context.Context, t *tx, query string, args []any, row func(scan func(...any) error) error) error {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

type sequenced struct {
	e       audit.Entry
	eventID int64
}

type treeNode struct {
	tenant string
	id     audit.NodeID
	hash   []byte
}

// insertChunk is how many rows one INSERT carries (11 parameters a row
// stays under SQLite's limit of 32766).
const insertChunk = 1000

func insertEntries(ctx context.Context, t *tx, entries []sequenced) error {
	if t.d.Name == "postgres" {
		return insertEntriesArrays(ctx, t, entries)
	}
	for len(entries) > 0 {
		chunk := entries[:min(len(entries), insertChunk)]
		entries = entries[len(chunk):]
		var (
			values []string
			args   []any
		)
		for _, s := range chunk {
			e := s.e
			detail, err := json.Marshal(e.Detail)
			if err != nil {
				return err
			}
			n := len(args)
			values = append(values, fmt.Sprintf("($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)",
				n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9, n+10, n+11))
			args = append(args, e.Tenant, e.Seq, e.Time, e.Actor, nullable(e.ReferralID), e.Action, e.Outcome,
				string(detail), e.PrevHash, e.Hash, s.eventID)
		}
		if _, err := t.exec(ctx, `INSERT INTO audit_log (tenant, seq, at, actor, referral_id, action, outcome, detail, prev_hash, hash, event_id) VALUES `+
			strings.Join(values, ","), args...); err != nil {
			return fmt.Errorf("audit sequencer: append entries: %w", err)
		}
	}
	return nil
}

func insertNodes(ctx context.Context, t *tx, nodes []treeNode) error {
	if len(nodes) > 0 && t.d.Name == "postgres" {
		return insertNodesArrays(ctx, t, nodes)
	}
	for len(nodes) > 0 {
		chunk := nodes[:min(len(nodes), insertChunk)]
		nodes = nodes[len(chunk):]
		var (
			values []string
			args   []any
		)
		for _, nd := range chunk {
			n := len(args)
			values = append(values, fmt.Sprintf("($%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4))
			args = append(args, nd.tenant, int64(nd.id.Level), int64(nd.id.Index), nd.hash)
		}
		if _, err := t.exec(ctx, `INSERT INTO audit_tree_nodes (tenant, level, idx, hash) VALUES `+strings.Join(values, ",")+
			` ON CONFLICT DO NOTHING`, args...); err != nil {
			return fmt.Errorf("audit sequencer: tree nodes: %w", err)
		}
	}
	return nil
}

// insertEntriesArrays appends entries on PostgreSQL with one statement of
// fixed text whose parameters are column arrays: prepared and planned once
// per connection, where a multi-row VALUES list is a new statement for
// every length, parsed and planned each round (4 ms a round at 900 rows)
// and encoded one parameter at a time.
func insertEntriesArrays(ctx context.Context, t *tx, entries []sequenced) error {
	if len(entries) == 0 {
		return nil
	}
	n := len(entries)
	var (
		tenants, actors, actions, outcomes, details, prevs, hashes = make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		referrals = make([]*string, n)
		seqs      = make([]int64, n)
		events    = make([]int64, n)
		ats       = make([]time.Time, n)
	)
	for i, s := range entries {
		e := s.e
		detail, err := json.Marshal(e.Detail)
		if err != nil {
			return err
		}
		tenants[i], seqs[i], ats[i], actors[i] = e.Tenant, e.Seq, e.Time.UTC(), e.Actor
		if e.ReferralID != "" {
			referrals[i] = &e.ReferralID
		}
		actions[i], outcomes[i], details[i], prevs[i], hashes[i], events[i] = e.Action, e.Outcome, string(detail), e.PrevHash, e.Hash, s.eventID
	}
	if _, err := t.exec(ctx, `INSERT INTO audit_log (tenant, seq, at, actor, referral_id, action, outcome, detail, prev_hash, hash, event_id)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::text[], $11::bigint[])`,
		tenants, seqs, ats, actors, referrals, actions, outcomes, details, prevs, hashes, events); err != nil {
		return fmt.Errorf("audit sequencer: append entries: %w", err)
	}
	return nil
}

// insertNodesArrays stores tree nodes on PostgreSQL as insertEntriesArrays
// stores entries.
func insertNodesArrays(ctx context.Context, t *tx, nodes []treeNode) error {
	n := len(nodes)
	tenants, levels, idxs, hashes := make([]string, n), make([]int32, n), make([]int64, n), make([][]byte, n)
	for i, nd := range nodes {
		tenants[i], levels[i], idxs[i], hashes[i] = nd.tenant, int32(nd.id.Level), int64(nd.id.Index), nd.hash
	}
	if _, err := t.exec(ctx, `INSERT INTO audit_tree_nodes (tenant, level, idx, hash)
		SELECT * FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::bytea[]) ON CONFLICT DO NOTHING`,
		tenants, levels, idxs, hashes); err != nil {
		return fmt.Errorf("audit sequencer: tree nodes: %w", err)
	}
	return nil
}

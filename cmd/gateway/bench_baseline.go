package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// baselineRows is how many rows each baseline transaction inserts: about
// what one referral's create transaction writes besides its audit entries.
const baselineRows = 4

// baselineSQL creates the table the baseline writes to.
const baselineSQL = `CREATE TABLE bench_baseline (id text PRIMARY KEY, n integer NOT NULL, body bytea NOT NULL)`

// runBaseline measures how many plain transactions of four inserts the
// database commits per second at the given concurrency, with nothing of
// the gateway in the way. On PostgreSQL it uses pgx in a fresh schema of
// the same database; on SQLite a file with the embedded store's settings.
// The bench reports its throughput as a ratio to this, which is what
// compares across machines.
func runBaseline(ctx context.Context, dbURL, dir string, concurrency int, d time.Duration) (float64, error) {
	if dbURL != "" {
		return baselinePostgres(ctx, dbURL, concurrency, d)
	}
	return baselineSQLite(ctx, dir, concurrency, d)
}

func baselinePostgres(ctx context.Context, dbURL string, concurrency int, d time.Duration) (float64, error) {
	urls, drop, err := freshSchemas(ctx, dbURL, 1)
	if err != nil {
		return 0, err
	}
	defer drop()
	cfg, err := pgxpool.ParseConfig(urls[0])
	if err != nil {
		return 0, fmt.Errorf("baseline: %w", err)
	}
	cfg.MaxConns = int32(max(concurrency, 4))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("baseline: %w", err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, baselineSQL); err != nil {
		return 0, fmt.Errorf("baseline: create table: %w", err)
	}
	return baselineLoop(ctx, concurrency, d, func(ctx context.Context, ids []string, body []byte) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			for i, id := range ids {
				if _, err := tx.Exec(ctx, `INSERT INTO bench_baseline (id, n, body) VALUES ($1, $2, $3)`, id, i, body); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

func baselineSQLite(ctx context.Context, dir string, concurrency int, d time.Duration) (float64, error) {
	path := filepath.Join(dir, "baseline.db")
	defer os.Remove(path)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return 0, fmt.Errorf("baseline: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // as the embedded store
	if _, err := db.ExecContext(ctx, baselineSQL); err != nil {
		return 0, fmt.Errorf("baseline: create table: %w", err)
	}
	return baselineLoop(ctx, concurrency, d, func(ctx context.Context, ids []string, body []byte) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for i, id := range ids {
			if _, err := tx.ExecContext(ctx, `INSERT INTO bench_baseline (id, n, body) VALUES (?1, ?2, ?3)`, id, i, body); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
}

// baselineLoop runs insert from concurrency goroutines for d and returns
// committed transactions per second.
func baselineLoop(ctx context.Context, concurrency int, d time.Duration, insert func(ctx context.Context, ids []string, body []byte) error) (float64, error) {
	body := make([]byte, 512)
	_, _ = rand.Read(body)
	var (
		seq, done atomic.Int64
		wg        sync.WaitGroup
		mu        sync.Mutex
		firstErr  error
	)
	start := time.Now()
	deadline := start.Add(d)
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := make([]string, baselineRows)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				for i := range ids {
					ids[i] = fmt.Sprintf("row-%012d", seq.Add(1))
				}
				if err := insert(ctx, ids, body); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, fmt.Errorf("baseline: %w", firstErr)
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

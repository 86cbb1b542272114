package witness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/transparency-dev/formats/log"

	"github.com/referralgw/gateway/audit"
)

// Dir is a witness that is an append-only directory, meant for another
// disk or host: one file per log, to which every accepted checkpoint is
// appended (and synced), never rewritten. Like the HTTP witness it refuses
// a checkpoint that does not extend the latest it holds: the old size must
// be its latest size and the consistency proof must verify.
//
// Dir checks the log's consistency, not its signature (it holds no key);
// verification opens every checkpoint with the log's public key.
type Dir struct {
	path   string
	mu     sync.Mutex
	latest map[string]state // by origin; loaded on first use
}

// state is the latest checkpoint a witness holds of one log.
type state struct {
	size uint64
	root []byte
}

// NewDir returns the witness keeping its files in path (created 0700).
func NewDir(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("witness dir: %w", err)
	}
	return &Dir{path: path}, nil
}

func (d *Dir) String() string { return "dir:" + d.path }

// fileOf names a log's file: its origin with every byte outside
// [A-Za-z0-9.-] as %XX, so any origin maps to one plain file name.
func (d *Dir) fileOf(origin string) string {
	var b strings.Builder
	for i := 0; i < len(origin); i++ {
		c := origin[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return filepath.Join(d.path, b.String()+".checkpoints")
}

// AddCheckpoint implements audit.Witness.
func (d *Dir) AddCheckpoint(ctx context.Context, oldSize uint64, proof [][]byte, checkpoint []byte) ([]byte, error) {
	cp, err := parseUnverified(checkpoint)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.load(); err != nil {
		return nil, err
	}
	if err := check(d.latest[cp.Origin], oldSize, proof, cp); err != nil {
		return nil, err
	}
	if d.latest[cp.Origin].size == cp.Size && cp.Size > 0 {
		return nil, nil // already held
	}
	if err := appendRecord(d.fileOf(cp.Origin), checkpoint); err != nil {
		return nil, err
	}
	d.latest[cp.Origin] = state{cp.Size, cp.Hash}
	return nil, nil
}

// Checkpoints implements audit.Witness: every checkpoint of every log, in
// the order they were appended.
func (d *Dir) Checkpoints(ctx context.Context) ([][]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	files, err := filepath.Glob(filepath.Join(d.path, "*.checkpoints"))
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, f := range files {
		recs, err := readRecords(f)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

// load reads the latest checkpoint of every log once.
func (d *Dir) load() error {
	if d.latest != nil {
		return nil
	}
	latest := map[string]state{}
	files, err := filepath.Glob(filepath.Join(d.path, "*.checkpoints"))
	if err != nil {
		return err
	}
	for _, f := range files {
		recs, err := readRecords(f)
		if err != nil {
			return err
		}
		for _, r := range recs {
			cp, err := parseUnverified(r)
			if err != nil {
				return fmt.Errorf("witness dir %s: %w", f, err)
			}
			if cp.Size >= latest[cp.Origin].size {
				latest[cp.Origin] = state{cp.Size, cp.Hash}
			}
		}
	}
	d.latest = latest
	return nil
}

// check decides whether cp may follow the held state: the caller's old
// size must be the held size, and the proof must show that the held tree
// is a prefix of cp's.
func check(held state, oldSize uint64, proof [][]byte, cp *log.Checkpoint) error {
	if oldSize != held.size {
		return &audit.SizeMismatchError{Size: held.size}
	}
	if cp.Size < held.size {
		return fmt.Errorf("rollback from size %d to %d: %w", held.size, cp.Size, audit.ErrInconsistent)
	}
	if held.size == 0 {
		return nil
	}
	if cp.Size == held.size {
		if !bytes.Equal(cp.Hash, held.root) {
			return fmt.Errorf("fork at size %d: %w", cp.Size, audit.ErrInconsistent)
		}
		return nil
	}
	if err := audit.VerifyConsistency(held.size, cp.Size, proof, held.root, cp.Hash); err != nil {
		return fmt.Errorf("%w: %w", audit.ErrInconsistent, err)
	}
	return nil
}

// parseUnverified reads a signed checkpoint's body without checking its
// signatures.
func parseUnverified(msg []byte) (*log.Checkpoint, error) {
	text, _, ok := bytes.Cut(msg, []byte("\n\n"))
	if !ok {
		return nil, errors.New("witness: checkpoint is not a signed note")
	}
	var cp log.Checkpoint
	rest, err := cp.Unmarshal(append(text, '\n'))
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	if len(rest) > 0 {
		return nil, errors.New("witness: checkpoint has extension lines, which this log never writes")
	}
	if len(cp.Hash) != 32 {
		return nil, fmt.Errorf("witness: checkpoint root is %d bytes, want 32", len(cp.Hash))
	}
	return &cp, nil
}

// A record in a witness file is "checkpoint <n>\n" then n bytes of signed
// note, so any note, whatever its lines, reads back exactly.
const recordPrefix = "checkpoint "

// maxRecord bounds one record (a checkpoint with many cosignatures is
// still far below it).
const maxRecord = 64 << 10

func appendRecord(file string, msg []byte) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("witness dir: %w", err)
	}
	rec := append([]byte(recordPrefix+strconv.Itoa(len(msg))+"\n"), msg...)
	if _, err := f.Write(rec); err != nil {
		f.Close()
		return fmt.Errorf("witness dir: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("witness dir: %w", err)
	}
	return f.Close()
}

func readRecords(file string) ([][]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("witness dir: %w", err)
	}
	defer f.Close()
	recs, err := ParseRecords(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("witness dir %s: %w", file, err)
	}
	return recs, nil
}

// ParseRecords reads the records of a witness file (or of the /checkpoints
// answer of a witness server).
func ParseRecords(r *bufio.Reader) ([][]byte, error) {
	var out [][]byte
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF && line == "" {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("record %d: truncated header", len(out)+1)
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(line, recordPrefix), "\n"))
		if !strings.HasPrefix(line, recordPrefix) || err != nil || n <= 0 || n > maxRecord {
			return nil, fmt.Errorf("record %d: bad header %q", len(out)+1, strings.TrimSpace(line))
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("record %d: truncated", len(out)+1)
		}
		out = append(out, buf)
	}
}

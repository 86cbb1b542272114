package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/pgstore"
)

// Key files. Each is 32 random bytes in base64, mode 0600 in a 0700
// directory; the gateway refuses to start on a key file that group or
// others may read or write. The record key is the KEK of the envelope
// encryption (gateway.Sealer); the KEKs it replaced stay under
// keys/retired/ until no data key is wrapped by them.
const (
	keysDir        = "keys"
	retiredDir     = "retired"
	envRetiredKEKs = "GATEWAY_RECORD_KEYS_RETIRED" // comma-separated base64 KEKs
)

// key returns the named 32-byte key from the environment
// (GATEWAY_<NAME>_KEY, base64) or from DataDir/keys/<name>.key, creating
// the file with a random key on first use.
func (c *Config) key(name string) ([]byte, error) {
	env := "GATEWAY_" + strings.ToUpper(name) + "_KEY"
	if v := os.Getenv(env); v != "" {
		k, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s must be 32 bytes in base64", env)
		}
		return k, nil
	}
	path := c.keyPath(name)
	k, err := readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	k = make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := writeKeyFile(path, k, false); errors.Is(err, fs.ErrExist) {
		return readKeyFile(path) // another process created it first
	} else if err != nil {
		return nil, err
	}
	return k, nil
}

func (c *Config) keyPath(name string) string {
	return filepath.Join(c.DataDir, keysDir, name+".key")
}

// readKeyFile reads a base64 key file of 32 bytes (readPrivateFile).
func readKeyFile(path string) ([]byte, error) {
	b, err := readPrivateFile(path)
	if err != nil {
		return nil, err
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("key file %s is not 32 bytes of base64", path)
	}
	return k, nil
}

// readPrivateFile reads a key file, refusing one that group or others may
// access: a key readable by another account is a key disclosed.
func readPrivateFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o: group and others must have no access (chmod 600 %s)", path, perm, path)
	}
	return os.ReadFile(path)
}

// createPrivateFile writes data to a new file at path, mode 0600 in a 0700
// directory, synced; it fails with fs.ErrExist when the file exists, so
// two processes creating a key at once keep one. The file appears whole:
// it is written under a temporary name and linked into place.
func createPrivateFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("key %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}

// noteKeyFile returns the signed-note signing key kept at path. On first
// use it makes one with generate, stores it (createPrivateFile) and its
// verifier key beside it (path + ".pub"); when another process created
// the file first, that process's key is the one returned.
func noteKeyFile(path string, generate func() (skey, vkey string, err error)) (string, error) {
	b, err := readPrivateFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		skey, vkey, gerr := generate()
		if gerr != nil {
			return "", gerr
		}
		err = createPrivateFile(path, []byte(skey+"\n"))
		if err == nil {
			if err := os.WriteFile(path+".pub", []byte(vkey+"\n"), 0o644); err != nil {
				return "", fmt.Errorf("write %s.pub: %w", path, err)
			}
			return skey, nil
		}
		if errors.Is(err, fs.ErrExist) {
			b, err = readPrivateFile(path)
		}
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// writeKeyFile writes k to path with mode 0600 in a 0700 directory. Unless
// replace is set it fails with fs.ErrExist when the file exists; with
// replace it swaps the new file in atomically.
func writeKeyFile(path string, k []byte, replace bool) error {
	data := []byte(base64.StdEncoding.EncodeToString(k) + "\n")
	if !replace {
		return createPrivateFile(path, data)
	}
	target := path + ".new"
	_ = os.Remove(target)
	if err := createPrivateFile(target, data); err != nil {
		return err
	}
	if err := os.Rename(target, path); err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}

// recordKeys returns the current KEK and the retired KEKs still kept:
// from GATEWAY_RECORD_KEY and GATEWAY_RECORD_KEYS_RETIRED when the record
// key comes from the environment, else from keys/record.key and
// keys/retired/*.key.
func (c *Config) recordKeys() (current []byte, retired [][]byte, err error) {
	if current, err = c.key("record"); err != nil {
		return nil, nil, err
	}
	if os.Getenv("GATEWAY_RECORD_KEY") != "" {
		for i, v := range strings.Split(os.Getenv(envRetiredKEKs), ",") {
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			k, err := base64.StdEncoding.DecodeString(v)
			if err != nil || len(k) != 32 {
				return nil, nil, fmt.Errorf("%s: entry %d is not 32 bytes in base64", envRetiredKEKs, i+1)
			}
			retired = append(retired, k)
		}
		return current, retired, nil
	}
	files, err := c.retiredKEKFiles()
	if err != nil {
		return nil, nil, err
	}
	for _, f := range files {
		k, err := readKeyFile(f)
		if err != nil {
			return nil, nil, err
		}
		retired = append(retired, k)
	}
	return current, retired, nil
}

// retiredKEKFiles lists keys/retired/*.key in name order.
func (c *Config) retiredKEKFiles() ([]string, error) {
	files, err := filepath.Glob(filepath.Join(c.DataDir, keysDir, retiredDir, "*.key"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	return files, nil
}

// callerToken is the token by which PostgreSQL recognises this gateway's
// sessions (pgstore.CallerToken): derived from the blind-index key, so
// every process holding the gateway's keys sends the same one and the
// application role's password alone is not enough.
func (c *Config) callerToken() (string, error) {
	index, err := c.key("index")
	if err != nil {
		return "", err
	}
	return pgstore.CallerToken(index), nil
}

// sealer builds the keyring the store and the service seal PHI with: the
// KEKs, and the blind-index key (GATEWAY_INDEX_KEY or keys/index.key),
// separate from the KEK so rotating the KEK leaves every index valid. It
// re-reads the KEKs when it meets one it does not hold.
func (c *Config) sealer() (*gateway.Sealer, error) {
	current, retired, err := c.recordKeys()
	if err != nil {
		return nil, err
	}
	index, err := c.key("index")
	if err != nil {
		return nil, err
	}
	s, err := gateway.NewKeyring(current, retired, index)
	if err != nil {
		return nil, err
	}
	s.SetKEKSource(c.recordKeys)
	return s, nil
}

package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referralgw/gateway/fhir/smart"
)

// TestSetUpStepsCanRunTwice runs each set-up step of the README a second
// time: it reports "unchanged" and changes nothing.
func TestSetUpStepsCanRunTwice(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := gw(t, dir, "directory", "import", repoFile("directory.json")); code != 0 {
		t.Fatalf("import: %d %q", code, errs)
	}

	t.Run("client add", func(t *testing.T) {
		key, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		jwks, err := smart.PublicJWKS(smart.PublicKeyWithKID{KID: "k1", Key: &key.PublicKey})
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "jwks.json")
		os.WriteFile(file, jwks, 0o600)
		args := []string{"client", "add", "--org", "cardio-b", "--jwks", file, "--scope", "system/Task.rs system/Task.u"}
		first, errs, code := gw(t, dir, args...)
		if code != 0 || !strings.Contains(first, "client id: ") {
			t.Fatalf("client add: %d %q %q", code, first, errs)
		}
		id := strings.Fields(strings.TrimPrefix(first, "client id: "))[0]
		// Scopes in another order are the same registration.
		args[len(args)-1] = "system/Task.u system/Task.rs"
		again, errs, code := gw(t, dir, args...)
		if code != 0 || !strings.Contains(again, "unchanged") || !strings.Contains(again, "client id: "+id) {
			t.Fatalf("second client add: %d %q %q", code, again, errs)
		}
		// A different key is a new registration, not "unchanged".
		other, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		jwks2, _ := smart.PublicJWKS(smart.PublicKeyWithKID{KID: "k1", Key: &other.PublicKey})
		os.WriteFile(file, jwks2, 0o600)
		third, _, code := gw(t, dir, args...)
		if code != 0 || strings.Contains(third, "unchanged") || strings.Contains(third, id) {
			t.Fatalf("client add with another key: %d %q", code, third)
		}
	})

	t.Run("admin create", func(t *testing.T) {
		pw := filepath.Join(t.TempDir(), "pw")
		os.WriteFile(pw, []byte("a long enough password\n"), 0o600)
		out, errs, code := gw(t, dir, "admin", "create", "--name", "carol", "--role", "operator", "--gateway", "--password-file", pw)
		if code != 0 || !strings.Contains(out, "otpauth://") {
			t.Fatalf("admin create: %d %q %q", code, out, errs)
		}
		os.WriteFile(pw, []byte("another long password\n"), 0o600)
		out, errs, code = gw(t, dir, "admin", "create", "--name", "carol", "--role", "operator", "--gateway", "--password-file", pw)
		if code != 0 || !strings.Contains(out, "unchanged") || strings.Contains(out, "otpauth://") {
			t.Fatalf("second admin create: %d %q %q", code, out, errs)
		}
		_, errs, code = gw(t, dir, "admin", "create", "--name", "carol", "--role", "admin", "--gateway", "--password-file", pw)
		if code != 1 || !strings.Contains(errs, "exists with role operator") {
			t.Fatalf("admin create with another role: %d %q", code, errs)
		}
	})

	t.Run("certs dev", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "certs")
		args := []string{"certs", "dev", "--domain", "direct.example.test", "--address", "a@direct.example.test", "--out", out}
		if _, errs, code := gw(t, dir, args...); code != 0 {
			t.Fatalf("certs dev: %d %q", code, errs)
		}
		ca, _ := os.ReadFile(filepath.Join(out, "ca.pem"))
		again, errs, code := gw(t, dir, args...)
		if code != 0 || !strings.Contains(again, "unchanged") {
			t.Fatalf("second certs dev: %d %q %q", code, again, errs)
		}
		if ca2, _ := os.ReadFile(filepath.Join(out, "ca.pem")); !bytes.Equal(ca, ca2) {
			t.Fatal("the second run replaced the CA")
		}
		// Asking the same directory for another address would need a new CA: refused.
		_, errs, code = gw(t, dir, "certs", "dev", "--domain", "direct.example.test", "--address", "b@direct.example.test", "--out", out)
		if code != 1 || !strings.Contains(errs, "without a valid certificate for b@direct.example.test") {
			t.Fatalf("certs dev for another address: %d %q", code, errs)
		}
	})

	t.Run("referral create", func(t *testing.T) {
		out, errs, code := gw(t, dir, "referral", "create", "--file", repoFile("referral.json"))
		if code != 0 {
			t.Fatalf("referral create: %d %q %q", code, out, errs)
		}
		id := strings.TrimSuffix(strings.Fields(out)[1], ":")
		_, errs, code = gw(t, dir, "referral", "create", "--file", repoFile("referral.json"))
		if code != 3 || !strings.Contains(errs, "duplicate referral identifier") || !strings.Contains(errs, id) ||
			strings.Contains(errs, "version conflict") {
			t.Fatalf("second referral create: %d %q", code, errs)
		}
	})

	t.Run("not found", func(t *testing.T) {
		_, errs, code := gw(t, dir, "referral", "show", "nope")
		if code != 1 || strings.Count(errs, "nope") != 1 {
			t.Fatalf("referral show nope: %d %q", code, errs)
		}
		out, errs, code := gw(t, dir, "audit", "export", "--referral", "nope")
		if code != 1 || out != "" || !strings.Contains(errs, "not found") {
			t.Fatalf("audit export of an unknown referral: %d %q %q", code, out, errs)
		}
	})
}

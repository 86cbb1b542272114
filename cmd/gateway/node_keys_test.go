package main

import (
	"crypto/elliptic"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/direct/certs"
)

func TestLoadOrCreateECKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "token.pem")
	first, err := loadOrCreateECKey(path, elliptic.P256())
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	again, err := loadOrCreateECKey(path, elliptic.P256())
	if err != nil || !again.Equal(first) {
		t.Fatalf("second load did not return the stored key: %v", err)
	}
	if keyID(&first.PublicKey) != keyID(&again.PublicKey) || !strings.HasPrefix(keyID(&first.PublicKey), "gw-") {
		t.Fatalf("key id unstable: %s", keyID(&first.PublicKey))
	}
	cases := []struct {
		name    string
		content string
		curve   elliptic.Curve
		want    string
	}{
		{"wrong curve", "", elliptic.P384(), "not an EC key on P-384"},
		{"not PEM", "garbage", elliptic.P256(), "no PEM block"},
		{"not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", elliptic.P256(), "key"},
	}
	for _, tc := range cases {
		p := path
		if tc.content != "" {
			p = filepath.Join(dir, tc.name+".pem")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := loadOrCreateECKey(p, tc.curve); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestLoadDirectCerts(t *testing.T) {
	now := time.Now().UTC()
	good := t.TempDir()
	if err := certs.WriteDevBundle(good, "direct.clinic-a.example", []string{"a@direct.clinic-a.example", "b@direct.clinic-a.example"}, now); err != nil {
		t.Fatal(err)
	}
	peer := t.TempDir()
	if err := certs.WriteDevBundle(peer, "direct.peer.example", nil, now); err != nil {
		t.Fatal(err)
	}
	peerCA, err := os.ReadFile(filepath.Join(peer, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(good, "anchors"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(good, "anchors", "peer.pem"), peerCA, 0o644); err != nil {
		t.Fatal(err)
	}
	keys, trust, names, err := loadDirectCerts(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || len(trust.Anchors()) != 2 {
		t.Fatalf("identities %v, %d anchors; want 2 and 2", names, len(trust.Anchors()))
	}
	if _, err := keys.ForAddress("b@direct.clinic-a.example"); err != nil {
		t.Fatalf("identity not in the keyring: %v", err)
	}

	noCA := t.TempDir()
	noID := t.TempDir()
	if err := certs.WriteDevBundle(noID, "direct.x.example", []string{"x@direct.x.example"}, now); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"x@direct.x.example.pem", "x@direct.x.example-key.pem"} {
		if err := os.Remove(filepath.Join(noID, f)); err != nil {
			t.Fatal(err)
		}
	}
	mismatch := t.TempDir()
	if err := certs.WriteDevBundle(mismatch, "direct.m.example", []string{"m@direct.m.example", "n@direct.m.example"}, now); err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(filepath.Join(mismatch, "n@direct.m.example-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mismatch, "m@direct.m.example-key.pem"), other, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, dir, want string
	}{
		{"no trust anchor", noCA, "trust anchor"},
		{"no identity", noID, "no identity"},
		{"key of another certificate", mismatch, "identity m@direct.m.example"},
	}
	for _, tc := range cases {
		if _, _, _, err := loadDirectCerts(tc.dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestCLIChannels checks which channels one-shot commands route with,
// from the environment `serve` would read.
func TestCLIChannels(t *testing.T) {
	certDir := t.TempDir()
	if err := certs.WriteDevBundle(certDir, "direct.clinic-a.example", nil, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"fhir only", nil, "fhir"},
		{"direct", map[string]string{"GATEWAY_DIRECT_DOMAIN": "direct.clinic-a.example", "GATEWAY_DIRECT_CERTS": certDir}, "fhir,direct"},
		{"broken certificate directory is left out", map[string]string{"GATEWAY_DIRECT_DOMAIN": "direct.clinic-a.example", "GATEWAY_DIRECT_CERTS": t.TempDir()}, "fhir"},
		{"fax", map[string]string{"GATEWAY_FAX_API": "https://127.0.0.1:9", "GATEWAY_FAX_KEY": "k", "GATEWAY_FAX_SECRET": "s", "GATEWAY_FAX_CALLBACK_TOKEN": "t"}, "fhir,fax"},
		{"plain-http fax API is left out", map[string]string{"GATEWAY_FAX_API": "http://127.0.0.1:9", "GATEWAY_FAX_KEY": "k", "GATEWAY_FAX_SECRET": "s", "GATEWAY_FAX_CALLBACK_TOKEN": "t"}, "fhir"},
		{"plain-http fax API in development", map[string]string{"GATEWAY_FAX_API": "http://127.0.0.1:9", "GATEWAY_FAX_ALLOW_HTTP": "true", "GATEWAY_FAX_KEY": "k", "GATEWAY_FAX_SECRET": "s", "GATEWAY_FAX_CALLBACK_TOKEN": "t"}, "fhir,fax"},
		{"fax without credentials is left out", map[string]string{"GATEWAY_FAX_API": "http://127.0.0.1:9"}, "fhir"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"GATEWAY_DIRECT_DOMAIN", "GATEWAY_DIRECT_CERTS", "GATEWAY_FAX_API", "GATEWAY_FAX_ALLOW_HTTP", "GATEWAY_FAX_KEY", "GATEWAY_FAX_SECRET", "GATEWAY_FAX_CALLBACK_TOKEN"} {
				t.Setenv(k, tc.env[k])
			}
			var kinds []string
			for _, c := range cliChannels(defaultConfig()) {
				kinds = append(kinds, string(c.Kind()))
			}
			if got := strings.Join(kinds, ","); got != tc.want {
				t.Errorf("channels %s, want %s", got, tc.want)
			}
		})
	}
}

package smart

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func TestSmartConfiguration(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Get(h.srv.URL + ConfigurationPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("HTTP %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["token_endpoint"] != h.tokenURL {
		t.Errorf("token_endpoint = %v, want %s (the URL the token server checks as aud)", doc["token_endpoint"], h.tokenURL)
	}

	// The golden file pins the document for a fixed issuer.
	rec := httptest.NewRecorder()
	SmartConfiguration("https://gateway.example.test/fhir/").ServeHTTP(rec, mustRequest(t, http.MethodGet))
	golden := filepath.Join("testdata", "smart-configuration.json")
	if *update {
		if err := os.WriteFile(golden, rec.Body.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(rec.Body.Bytes(), want) {
		t.Errorf("document differs from %s:\n got: %s\nwant: %s", golden, rec.Body.Bytes(), want)
	}

	for _, method := range []string{http.MethodPost, http.MethodPut} {
		rec := httptest.NewRecorder()
		SmartConfiguration("https://gateway.example.test").ServeHTTP(rec, mustRequest(t, method))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: HTTP %d, want 405", method, rec.Code)
		}
	}
}

func mustRequest(t *testing.T, method string) *http.Request {
	t.Helper()
	r, err := http.NewRequestWithContext(t.Context(), method, "https://gateway.example.test"+ConfigurationPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

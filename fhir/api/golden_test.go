package api

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func TestCapabilityStatementGolden(t *testing.T) {
	e := newEnv(t)
	res := e.do(t, "", "GET", "/fhir/metadata", nil).want(t, http.StatusOK)
	// The test server's address changes per run; the golden file holds a placeholder.
	got := bytes.ReplaceAll(res.body, []byte(e.srv.URL), []byte("https://gateway.example.org"))
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", "capabilitystatement.json")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("CapabilityStatement differs from %s; got:\n%s", path, buf.Bytes())
	}
}

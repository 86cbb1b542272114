package admin_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/storetest"
)

func TestImportAPI(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	file, err := os.ReadFile("testdata/endpoints_small.csv")
	if err != nil {
		t.Fatal(err)
	}
	c := e.mustLogin("oscar", admin.RoleOperator)
	post := func(format string, body []byte) response {
		t.Helper()
		req, _ := http.NewRequestWithContext(e.ctx, "POST", e.ts.URL+"/admin/v1/entries/import?format="+format, bytes.NewReader(body))
		req.Header.Set("X-CSRF-Token", c.csrf)
		resp, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{status: resp.StatusCode, header: resp.Header, body: b}
	}
	tests := []struct {
		name                      string
		format                    string
		body                      []byte
		status                    int
		added, unchanged, skipped int
		field                     string
	}{
		{"first import", "nppes", file, http.StatusOK, 1, 0, 1, ""},
		{"same file again changes nothing", "nppes", file, http.StatusOK, 0, 1, 1, ""},
		{"unknown format", "csv", file, http.StatusUnprocessableEntity, 0, 0, 0, "format"},
		{"not a bundle", "fhir", []byte(`{"resourceType":"Patient"}`), http.StatusUnprocessableEntity, 0, 0, 0, "file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := post(tc.format, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.field != "" {
				if p := r.problem(t); p.Errors[0].Field != tc.field {
					t.Fatalf("problem names %s, want %s", p.Errors[0].Field, tc.field)
				}
				return
			}
			var res admin.ImportResult
			r.json(t, &res)
			if res.Added != tc.added || res.Unchanged != tc.unchanged || len(res.Skipped) != tc.skipped || res.CheckRequested != (tc.added > 0) {
				t.Fatalf("result %+v", res)
			}
		})
	}
	en, err := e.svc.Entry(e.ctx, "npi-9990000025")
	if err != nil || en.Direct == nil || en.Direct.Address != "referrals@direct.maplegrove.example" {
		t.Fatalf("imported entry %+v, %v", en, err)
	}
	if n := count(e.auditActions("gateway"), "admin.directory-imported/success"); n != 2 {
		t.Fatalf("imports audited %d times, want 2", n)
	}
	// The import that added an entry asked for a directory check round;
	// the one that changed nothing did not.
	if got := e.checkRequests(); len(got) != 1 || got[0] != "user:oscar directory import" {
		t.Fatalf("check rounds requested %v, want one, by the first import", got)
	}
	c = e.mustLogin("audrey", admin.RoleAuditor) // post sends with c's session
	if r := post("nppes", file); r.status != http.StatusForbidden {
		t.Fatalf("auditor import: %d", r.status)
	}
}

func TestImportForm(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	c, csrf := e.consoleLogin("ada", admin.RoleAdmin)
	if p := c.page("GET", "/admin/directory/import", nil); p.status != http.StatusOK || !strings.Contains(p.html, `<label for="file">`) {
		t.Fatalf("import page: %d", p.status)
	}
	upload := func(fields map[string]string, file []byte) page {
		t.Helper()
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range fields {
			mw.WriteField(k, v)
		}
		if file != nil {
			fw, _ := mw.CreateFormFile("file", "endpoints.csv")
			fw.Write(file)
		}
		mw.Close()
		req, _ := http.NewRequestWithContext(e.ctx, "POST", e.ts.URL+"/admin/directory/import", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return page{status: resp.StatusCode, html: string(b)}
	}
	file, _ := os.ReadFile("testdata/endpoints_small.csv")
	if p := upload(map[string]string{"format": "nppes"}, file); p.status != http.StatusForbidden {
		t.Fatalf("upload without CSRF token: %d", p.status)
	}
	if p := upload(map[string]string{"format": "nppes", "csrf": csrf}, nil); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.html, `id="file-error"`) {
		t.Fatalf("upload without file: %d", p.status)
	}
	p := upload(map[string]string{"format": "nppes", "csrf": csrf}, file)
	if p.status != http.StatusOK || !strings.Contains(p.html, "1 added") || !strings.Contains(p.html, "SOAP") {
		t.Fatalf("upload: %d %s", p.status, p.html)
	}
	if _, err := e.svc.Entry(e.ctx, "npi-9990000025"); err != nil {
		t.Fatal(err)
	}
}

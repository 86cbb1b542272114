package admin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/dirimport"
)

// maxImport bounds an uploaded directory file (the NPPES endpoint file is
// tens of megabytes).
const maxImport = 256 << 20

// ImportResult is what a directory import did.
type ImportResult struct {
	Format    string               `json:"format"`
	Added     int                  `json:"added"`
	Updated   int                  `json:"updated"`
	Unchanged int                  `json:"unchanged"`
	Skipped   []dirimport.RowError `json:"skipped"`
	// CheckRequested is true when the import changed the directory and
	// so asked for a directory check round (GET /admin/v1/directory/checks
	// follows it).
	CheckRequested bool `json:"checkRequested"`
}

// importDirectory parses r in format ("nppes" or "fhir") and applies it
// through the core, which validates and audits every entry; the import as a
// whole is audited too, with its counts.
func (s *Server) importDirectory(ctx context.Context, ss *session, format string, r io.Reader) (*ImportResult, error) {
	var rows dirimport.Rows
	switch format {
	case "nppes":
		rows = dirimport.NPPES(r, dirimport.NPPESOptions{})
	case "fhir":
		var err error
		if rows, err = dirimport.FHIRBundle(r); err != nil {
			return nil, &gateway.ValidationError{Field: "file", Reason: err.Error()}
		}
	default:
		return nil, &gateway.ValidationError{Field: "format", Reason: "must be nppes or fhir"}
	}
	sum, err := dirimport.Apply(ctx, s.svc, ss.actor(), rows, nil)
	if err != nil {
		return nil, fmt.Errorf("admin: import %s: %w", format, err)
	}
	res := &ImportResult{Format: format, Added: sum.Added, Updated: sum.Updated, Unchanged: sum.Unchanged, Skipped: sum.Skipped}
	if res.Skipped == nil {
		res.Skipped = []dirimport.RowError{}
	}
	err = s.audit(ctx, ss.actor().ID, "admin.directory-imported", "success", map[string]string{"format": format,
		"added": strconv.Itoa(res.Added), "updated": strconv.Itoa(res.Updated), "unchanged": strconv.Itoa(res.Unchanged),
		"skipped": strconv.Itoa(len(res.Skipped))})
	if err != nil {
		return nil, err
	}
	if res.Added+res.Updated > 0 {
		// New and changed entries are checked now, not at the next interval.
		if _, err := s.svc.RequestDirectoryCheck(ctx, ss.actor(), "directory import"); err != nil {
			return nil, err
		}
		res.CheckRequested = true
	}
	return res, nil
}

// apiImport takes the file as the request body: POST /admin/v1/entries/import?format=nppes|fhir.
func (s *Server) apiImport(w http.ResponseWriter, r *http.Request, ss *session) {
	res, err := s.importDirectory(r.Context(), ss, r.URL.Query().Get("format"), http.MaxBytesReader(w, r.Body, maxImport))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// importData is the console's import page: the form and, after an upload, its result.
type importData struct {
	Format string
	Result *ImportResult
	Errors map[string]string
}

func (s *Server) importPage(w http.ResponseWriter, r *http.Request, ss *session) {
	s.render(w, r, http.StatusOK, "import", view{Title: "Import into the directory", Nav: "directory", Session: ss,
		Data: importData{Format: "nppes", Errors: map[string]string{}}})
}

func (s *Server) importSubmit(w http.ResponseWriter, r *http.Request, ss *session) {
	d := importData{Format: r.PostFormValue("format"), Errors: map[string]string{}}
	file, _, err := r.FormFile("file")
	if err != nil {
		d.Errors["file"] = "choose a file to upload"
		s.render(w, r, http.StatusUnprocessableEntity, "import", view{Title: "Import into the directory", Nav: "directory", Session: ss,
			Error: "Nothing was imported.", Data: d})
		return
	}
	defer file.Close()
	res, err := s.importDirectory(r.Context(), ss, d.Format, file)
	if fps := fieldProblems(err); len(fps) > 0 {
		for _, fp := range fps {
			d.Errors[fp.Field] = fp.Reason
		}
		s.render(w, r, http.StatusUnprocessableEntity, "import", view{Title: "Import into the directory", Nav: "directory", Session: ss,
			Error: "Nothing was imported.", Data: d})
		return
	} else if err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	d.Result = res
	s.render(w, r, http.StatusOK, "import", view{Title: "Import into the directory", Nav: "directory", Session: ss,
		Notice: importNotice(res), Data: d})
}

// limitBody caps the request body before any handler (or the CSRF check)
// reads it.
func limitBody(n int64, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		h(w, r)
	}
}

// importNotice confirms an import on the console.
func importNotice(res *ImportResult) string {
	n := fmt.Sprintf("Imported: %d added, %d updated, %d unchanged, %d rows skipped.", res.Added, res.Updated, res.Unchanged, len(res.Skipped))
	if res.CheckRequested {
		n += " A check of the directory's channels is queued (see Health)."
	}
	return n
}

package faxsim

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/referralgw/gateway/fax/packet"
	"github.com/referralgw/gateway/fax/phaxio"
)

// Request limits, generous for tests but bounded.
const (
	maxSubmitBytes  = 64 << 20
	maxSubmitMemory = 16 << 20
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// reply is Phaxio's JSON envelope.
type reply struct {
	Success bool    `json:"success"`
	Message string  `json:"message"`
	Paging  *paging `json:"paging,omitempty"`
	Data    any     `json:"data,omitempty"`
}

// ServeHTTP implements the Phaxio v2.1 endpoints the gateway uses: send,
// list and read faxes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(EmulatorHeader, "true")
	s.mu.Lock()
	down := s.unavailable
	s.mu.Unlock()
	if down {
		writeReply(w, http.StatusServiceUnavailable, reply{Message: "EMULATOR: service unavailable (simulated outage)"})
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="fax emulator"`)
		writeReply(w, http.StatusUnauthorized, reply{Message: "EMULATOR: invalid API credentials"})
		return
	}
	switch {
	case r.URL.Path == "/v2.1/faxes":
		switch r.Method {
		case http.MethodPost:
			s.submit(w, r)
		case http.MethodGet:
			s.list(w, r)
		default:
			w.Header().Set("Allow", http.MethodGet+", "+http.MethodPost)
			writeReply(w, http.StatusMethodNotAllowed, reply{Message: "EMULATOR: use POST to send a fax, GET to list faxes"})
		}
	case strings.HasPrefix(r.URL.Path, "/v2.1/faxes/"):
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeReply(w, http.StatusMethodNotAllowed, reply{Message: "EMULATOR: use GET to read a fax"})
			return
		}
		s.status(w, strings.TrimPrefix(r.URL.Path, "/v2.1/faxes/"))
	default:
		writeReply(w, http.StatusNotFound, reply{Message: "EMULATOR: no such endpoint"})
	}
}

func (s *Server) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u := subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.APIKey))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.APISecret))
	return u&p == 1
}

func writeReply(w http.ResponseWriter, code int, body reply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

// submit handles POST /v2.1/faxes.
func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxSubmitBytes)
	if err := r.ParseMultipartForm(maxSubmitMemory); err != nil {
		writeReply(w, http.StatusUnprocessableEntity, reply{Message: "EMULATOR: request must be multipart/form-data"})
		return
	}
	defer r.MultipartForm.RemoveAll()
	form := r.MultipartForm

	to := first(form.Value["to"])
	if to == "" {
		to = first(form.Value["to[]"])
	}
	if !e164.MatchString(to) {
		writeReply(w, http.StatusUnprocessableEntity, reply{Message: "EMULATOR: phone number is not in E.164 format"})
		return
	}
	behavior := s.cfg.Behaviors[to]
	if behavior == Unavailable {
		writeReply(w, http.StatusServiceUnavailable, reply{Message: "EMULATOR: service unavailable for this number (simulated)"})
		return
	}
	files, pages, err := readFiles(append(form.File["file"], form.File["file[]"]...))
	if err != nil {
		writeReply(w, http.StatusUnprocessableEntity, reply{Message: "EMULATOR: " + err.Error()})
		return
	}
	tags := make(map[string]string)
	for k, v := range form.Value {
		if name, ok := strings.CutPrefix(k, "tag["); ok && strings.HasSuffix(name, "]") && len(v) > 0 {
			tags[strings.TrimSuffix(name, "]")] = v[0]
		}
	}

	s.mu.Lock()
	key := tags[phaxio.IdempotencyTag]
	if id, seen := s.byKey[key]; key != "" && seen && !s.cfg.TransmitDuplicates {
		s.faxes[id].Submissions++
		s.mu.Unlock()
		writeReply(w, http.StatusOK, reply{Success: true,
			Message: "EMULATOR: duplicate submission, returning the existing fax (no real fax is sent)",
			Data:    map[string]any{"id": id}})
		return
	}
	s.nextID++
	f := &Fax{
		ID:          s.nextID,
		To:          to,
		Files:       files,
		CallbackURL: first(form.Value["callback_url"]),
		Tags:        tags,
		Status:      phaxio.StatusQueued,
		NumPages:    pages,
		CreatedAt:   s.cfg.Now(),
		Submissions: 1,
	}
	s.faxes[f.ID] = f
	s.order = append(s.order, f.ID)
	if key != "" {
		s.byKey[key] = f.ID
	}
	s.sentTo[to]++
	outcome := decide(behavior, s.sentTo[to])
	s.wg.Add(1)
	s.mu.Unlock()

	go s.complete(f.ID, outcome)
	writeReply(w, http.StatusOK, reply{Success: true,
		Message: "EMULATOR: fax queued for sending (no real fax is sent)",
		Data:    map[string]any{"id": f.ID}})
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// readFiles loads the file parts and counts pages: a PDF's own page count,
// one page for anything else.
func readFiles(hs []*multipart.FileHeader) ([]File, int, error) {
	if len(hs) == 0 {
		return nil, 0, errors.New("at least one file is required")
	}
	var files []File
	pages := 0
	for _, fh := range hs {
		f, err := fh.Open()
		if err != nil {
			return nil, 0, errors.New("file part unreadable")
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, 0, errors.New("file part unreadable")
		}
		ct := fh.Header.Get("Content-Type")
		n := 1
		if ct == "application/pdf" || strings.HasSuffix(strings.ToLower(fh.Filename), ".pdf") {
			if n, err = packet.PageCount(data); err != nil {
				return nil, 0, errors.New("file " + strconv.Quote(fh.Filename) + " is not a readable PDF")
			}
		}
		pages += n
		files = append(files, File{Name: fh.Filename, ContentType: ct, Data: data})
	}
	return files, pages, nil
}

// status handles GET /v2.1/faxes/{id}.
func (s *Server) status(w http.ResponseWriter, rawID string) {
	id, err := strconv.ParseInt(rawID, 10, 64)
	if err != nil {
		writeReply(w, http.StatusNotFound, reply{Message: "EMULATOR: fax not found"})
		return
	}
	f, ok := s.Fax(phaxio.FaxID(id))
	if !ok {
		writeReply(w, http.StatusNotFound, reply{Message: "EMULATOR: fax not found"})
		return
	}
	writeReply(w, http.StatusOK, reply{Success: true, Message: "EMULATOR: retrieved fax", Data: wireFax(&f)})
}

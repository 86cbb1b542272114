package faxsim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// paging is the paging member of Phaxio's list replies.
type paging struct {
	Total   int `json:"total"`
	PerPage int `json:"per_page"`
	Page    int `json:"page"`
}

// list handles GET /v2.1/faxes: the faxes whose tags match every
// tag[name]=value parameter (and the direction, when given), newest first,
// paged with per_page (default 20, at most 1000) and page.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	want := map[string]string{}
	for k, v := range q {
		if name, ok := strings.CutPrefix(k, "tag["); ok && strings.HasSuffix(name, "]") && len(v) > 0 {
			want[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	perPage, page := 20, 1
	for _, p := range []struct {
		name string
		dst  *int
		max  int
	}{{"per_page", &perPage, 1000}, {"page", &page, 1 << 20}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > p.max {
				writeReply(w, http.StatusUnprocessableEntity, reply{Message: "EMULATOR: " + p.name + " must be a number from 1 to " + strconv.Itoa(p.max)})
				return
			}
			*p.dst = n
		}
	}
	switch q.Get("direction") {
	case "", "sent":
	case "received":
		want = nil // the emulator receives no faxes
	default:
		writeReply(w, http.StatusUnprocessableEntity, reply{Message: "EMULATOR: direction must be sent or received"})
		return
	}
	s.mu.Lock()
	var found []jsonFax
	if want != nil {
		for _, id := range slices.Backward(s.order) {
			f := s.faxes[id]
			if matches(f.Tags, want) {
				found = append(found, wireFax(f))
			}
		}
	}
	s.mu.Unlock()
	total := len(found)
	start := min((page-1)*perPage, total)
	data := found[start:min(start+perPage, total)]
	if data == nil {
		data = []jsonFax{}
	}
	writeReply(w, http.StatusOK, reply{Success: true, Message: "EMULATOR: retrieved faxes",
		Paging: &paging{Total: total, PerPage: perPage, Page: page}, Data: data})
}

// matches reports whether tags carries every wanted value.
func matches(tags, want map[string]string) bool {
	for k, v := range want {
		if tags[k] != v {
			return false
		}
	}
	return true
}

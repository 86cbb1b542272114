package admin

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/compliance"
)

// routeCompliance adds what auditors and leadership read (compliance
// receipts, practice reports) and the receiver's referral back or onward,
// to the console and the JSON API.
func (s *Server) routeCompliance() {
	m := s.mux
	m.HandleFunc("GET /admin/reports", s.page(accessPractice, s.reportsPage))
	m.HandleFunc("GET /admin/referrals/{id}/receipt", s.page(accessPractice, s.receiptPage))
	m.HandleFunc("POST /admin/referrals/{id}/reverse", s.page(accessPracticeChange, s.reverseSubmit))
	m.HandleFunc("GET /admin/v1/reports/referrals", s.api(accessPractice, s.apiReport))
	m.HandleFunc("GET /admin/v1/referrals/{id}/receipt", s.api(accessPractice, s.apiReceipt))
	m.HandleFunc("POST /admin/v1/referrals/{id}/reverse", s.api(accessPracticeChange, s.apiReverse))
}

// reportQuery reads practice, from, to (YYYY-MM-DD, to inclusive) and
// openAge from a query string; from defaults to 30 days before to, to to
// today. A field that does not parse is named in the ValidationError.
func reportQuery(v url.Values, now time.Time) (gateway.ReportQuery, error) {
	q := gateway.ReportQuery{Practice: strings.TrimSpace(v.Get("practice"))}
	end := now.UTC().Truncate(24 * time.Hour)
	if s := v.Get("to"); s != "" {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return q, &gateway.ValidationError{Field: "to", Reason: "use YYYY-MM-DD"}
		}
		end = t
	}
	q.To = end.Add(24 * time.Hour)
	q.From = q.To.AddDate(0, 0, -30)
	if s := v.Get("from"); s != "" {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return q, &gateway.ValidationError{Field: "from", Reason: "use YYYY-MM-DD"}
		}
		q.From = t
	}
	age, err := parseAge(v.Get("openAge"))
	if err != nil {
		return q, &gateway.ValidationError{Field: "openAge", Reason: err.Error()}
	}
	q.OpenOlderThan = age
	return q, nil
}

// reportData is the reports page.
type reportData struct {
	Practice, From, To string
	Report             *gateway.PracticeReport
	Rows               []compliance.Row
	Charts             []chartView
}

type chartView struct {
	Title string
	SVG   template.HTML
}

func (s *Server) reportsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	d := reportData{Practice: r.URL.Query().Get("practice"), From: r.URL.Query().Get("from"), To: r.URL.Query().Get("to")}
	v := view{Title: "Referral reports", Nav: "reports", Session: ss, Data: &d}
	if d.Practice == "" {
		s.render(w, r, http.StatusOK, "reports", v)
		return
	}
	q, err := reportQuery(r.URL.Query(), time.Now())
	if err == nil {
		d.Report, err = s.svc.PracticeReport(r.Context(), q)
	}
	if err != nil {
		if fps := fieldProblems(err); len(fps) > 0 {
			v.Error = "The report was not run: " + fps[0].Field + " " + fps[0].Reason + "."
			s.render(w, r, http.StatusUnprocessableEntity, "reports", v)
			return
		}
		s.consoleError(w, r, ss, err)
		return
	}
	d.Rows = compliance.Rows(d.Report)
	for _, c := range compliance.ReportCharts(d.Report) {
		// The SVG is built by compliance.BarChartSVG, which escapes every text it draws.
		d.Charts = append(d.Charts, chartView{Title: c.Title, SVG: template.HTML(c.SVG)})
	}
	s.render(w, r, http.StatusOK, "reports", v)
}

func (s *Server) apiReport(w http.ResponseWriter, r *http.Request, ss *session) {
	q, err := reportQuery(r.URL.Query(), time.Now())
	if err == nil {
		var rep *gateway.PracticeReport
		if rep, err = s.svc.PracticeReport(r.Context(), q); err == nil {
			writeJSON(w, http.StatusOK, rep)
			return
		}
	}
	s.apiError(w, r, err)
}

func (s *Server) receiptPage(w http.ResponseWriter, r *http.Request, ss *session) {
	rc, err := s.svc.ComplianceReceipt(r.Context(), r.PathValue("id"))
	if err != nil {
		s.consoleError(w, r, ss, err)
		return
	}
	s.render(w, r, http.StatusOK, "receipt", view{Title: "Compliance receipt", Nav: "referrals", Session: ss, Data: rc})
}

func (s *Server) apiReceipt(w http.ResponseWriter, r *http.Request, ss *session) {
	rc, err := s.svc.ComplianceReceipt(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rc)
}

// reverseRequest is the body of POST /admin/v1/referrals/{id}/reverse.
type reverseRequest struct {
	To         string `json:"to,omitempty"` // default: back to the original referrer
	ReasonText string `json:"reasonText,omitempty"`
	ConsentID  string `json:"consentId,omitempty"`
	Submit     *bool  `json:"submit,omitempty"` // default true
}

// reverse makes the referral back or onward on behalf of the account's
// practice, which must be the original referral's receiver.
func (s *Server) reverse(r *http.Request, ss *session, in reverseRequest) (*gateway.Referral, error) {
	id := r.PathValue("id")
	// The account acts for its own practice: the core lets only the
	// original's receiving practice refer back or onward.
	actor := ss.actor()
	submit := in.Submit == nil || *in.Submit
	return s.svc.Reverse(r.Context(), actor, id, gateway.ReverseInput{ReceiverID: strings.TrimSpace(in.To),
		ReasonText: in.ReasonText, ConsentID: strings.TrimSpace(in.ConsentID), Submit: submit})
}

func (s *Server) reverseSubmit(w http.ResponseWriter, r *http.Request, ss *session) {
	nr, err := s.reverse(r, ss, reverseRequest{To: r.PostFormValue("to"), ConsentID: r.PostFormValue("consentId")})
	if nr != nil {
		notice := "Referral back or onward created: " + string(nr.Status) + "."
		if nr.Blocked != "" {
			notice = "Referral created and held in draft: " + nr.Blocked
		}
		http.Redirect(w, r, "/admin/referrals/"+url.PathEscape(nr.ID)+"?notice="+url.QueryEscape(notice), http.StatusSeeOther)
		return
	}
	s.consoleError(w, r, ss, err)
}

func (s *Server) apiReverse(w http.ResponseWriter, r *http.Request, ss *session) {
	var in reverseRequest
	if p := decodeJSON(r.Body, &in); p != nil {
		writeProblem(w, *p)
		return
	}
	nr, err := s.reverse(r, ss, in)
	if nr != nil {
		// Created; a gate may hold it in draft, which the body shows (blocked).
		writeJSON(w, http.StatusCreated, referralView(nr))
		return
	}
	s.apiError(w, r, err)
}

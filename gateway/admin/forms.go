package admin

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// entryForm is the console's add/edit form for a directory entry, as the
// strings the browser sent, with the error of each refused field.
type entryForm struct {
	New           bool
	ID            string
	Kind          string
	Name          string
	NPI           string
	ParentID      string
	OnPlatform    bool
	FHIRBaseURL   string
	DirectAddress string
	CertExpires   string // YYYY-MM-DD
	FaxNumber     string
	ChannelOrder  string // comma-separated
	VendorRole    string
	Version       int
	Errors        map[string]string // field (as the core names it) → reason
}

// formFromEntry fills the form from a stored entry.
func formFromEntry(e *gateway.Entry) *entryForm {
	f := &entryForm{ID: e.ID, Kind: string(e.Kind), Name: e.Name, NPI: e.NPI, ParentID: e.ParentID, OnPlatform: e.OnPlatform,
		VendorRole: e.VendorRole, Version: e.Version, Errors: map[string]string{}}
	if e.FHIR != nil {
		f.FHIRBaseURL = e.FHIR.BaseURL
	}
	if e.Direct != nil {
		f.DirectAddress = e.Direct.Address
		if !e.Direct.CertExpires.IsZero() {
			f.CertExpires = e.Direct.CertExpires.UTC().Format(time.DateOnly)
		}
	}
	if e.Fax != nil {
		f.FaxNumber = e.Fax.Number
	}
	var order []string
	for _, k := range e.ChannelOrder {
		order = append(order, string(k))
	}
	f.ChannelOrder = strings.Join(order, ", ")
	return f
}

// parseEntryForm reads the posted form. Fields the core does not validate
// (version, certificate date) are checked here; the rest by ValidateEntry.
func parseEntryForm(v url.Values) *entryForm {
	f := &entryForm{ID: strings.TrimSpace(v.Get("id")), Kind: v.Get("kind"), Name: strings.TrimSpace(v.Get("name")),
		NPI: strings.TrimSpace(v.Get("npi")), ParentID: strings.TrimSpace(v.Get("parentId")), OnPlatform: v.Get("onPlatform") == "on",
		FHIRBaseURL: strings.TrimSpace(v.Get("fhir.baseUrl")), DirectAddress: strings.TrimSpace(v.Get("direct.address")),
		CertExpires: strings.TrimSpace(v.Get("direct.certExpires")), FaxNumber: strings.TrimSpace(v.Get("fax.number")),
		ChannelOrder: v.Get("channelOrder"), VendorRole: v.Get("vendorRole"), Errors: map[string]string{}}
	if s := v.Get("version"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			f.Errors["version"] = "must be the version you read"
		}
		f.Version = n
	}
	if f.CertExpires != "" {
		if _, err := time.Parse(time.DateOnly, f.CertExpires); err != nil {
			f.Errors["direct.certExpires"] = "must be a date, YYYY-MM-DD"
		}
	}
	return f
}

// entry builds the directory entry the form describes.
func (f *entryForm) entry() *gateway.Entry {
	e := &gateway.Entry{ID: f.ID, Kind: gateway.EntryKind(f.Kind), Name: f.Name, NPI: f.NPI, ParentID: f.ParentID,
		OnPlatform: f.OnPlatform, VendorRole: f.VendorRole, Version: f.Version}
	if f.FHIRBaseURL != "" {
		e.FHIR = &gateway.FHIREndpoint{BaseURL: f.FHIRBaseURL}
	}
	if f.DirectAddress != "" {
		e.Direct = &gateway.DirectEndpoint{Address: f.DirectAddress}
		if t, err := time.Parse(time.DateOnly, f.CertExpires); err == nil {
			e.Direct.CertExpires = t
		}
	}
	if f.FaxNumber != "" {
		e.Fax = &gateway.FaxEndpoint{Number: f.FaxNumber}
	}
	for _, k := range strings.Split(f.ChannelOrder, ",") {
		if k = strings.TrimSpace(k); k != "" {
			e.ChannelOrder = append(e.ChannelOrder, gateway.ChannelKind(k))
		}
	}
	return e
}

// baaForm is one BAA transition posted from the board.
type baaForm struct {
	Change gateway.BAAChange
	Errors map[string]string
}

// parseBAAForm reads a posted BAA transition; dates are YYYY-MM-DD, taken
// as the end of that day in UTC for the end date and its start otherwise.
func parseBAAForm(partyID string, v url.Values) baaForm {
	f := baaForm{Change: gateway.BAAChange{PartyID: partyID, State: gateway.BAAState(v.Get("state")),
		Document: strings.TrimSpace(v.Get("document"))}, Errors: map[string]string{}}
	if !validBAAState(f.Change.State) {
		f.Errors["state"] = "choose one of the six states"
	}
	if s := strings.TrimSpace(v.Get("start")); s != "" {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			f.Errors["start"] = "must be a date, YYYY-MM-DD"
		}
		f.Change.Start = t
	}
	if s := strings.TrimSpace(v.Get("end")); s != "" {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			f.Errors["end"] = "must be a date, YYYY-MM-DD"
		}
		f.Change.End = t.Add(24*time.Hour - time.Second)
	}
	return f
}

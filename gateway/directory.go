package gateway

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// EntryKind is what a directory entry describes.
type EntryKind string

// Directory entry kinds. Vendors (fax vendor, HISP) are entries too, so that
// their BAAs are tracked like any other party's.
const (
	KindOrganization EntryKind = "organization"
	KindLocation     EntryKind = "location"
	KindPractitioner EntryKind = "practitioner"
	KindVendor       EntryKind = "vendor"
)

// Entry is one party in the recipient channel directory.
type Entry struct {
	ID       string    `json:"id"`
	Kind     EntryKind `json:"kind"`
	Name     string    `json:"name"`
	NPI      string    `json:"npi,omitempty"`
	ParentID string    `json:"parentId,omitempty"` // organization an entry belongs to
	// OnPlatform marks parties whose EHR is on the platform and speaks FHIR
	// with the gateway.
	OnPlatform bool            `json:"onPlatform,omitempty"`
	FHIR       *FHIREndpoint   `json:"fhir,omitempty"`
	Direct     *DirectEndpoint `json:"direct,omitempty"`
	Fax        *FaxEndpoint    `json:"fax,omitempty"`
	// ChannelOrder overrides DefaultChannelOrder for this party.
	ChannelOrder []ChannelKind `json:"channelOrder,omitempty"`
	Verification *Verification `json:"verification,omitempty"`
	// Checks are the gateway's own last checks of the entry's channels
	// (see Service.CheckEntry), apart from the admin's Verification.
	Checks     []ChannelCheck `json:"checks,omitempty"`
	VendorRole string         `json:"vendorRole,omitempty"` // "fax" or "hisp" for KindVendor
	Updated    time.Time      `json:"updated"`
	Version    int            `json:"version"`
}

// FHIREndpoint is an on-platform party's FHIR server. An empty BaseURL means
// the party pulls its Tasks from the gateway instead of receiving pushes.
type FHIREndpoint struct {
	BaseURL string `json:"baseUrl,omitempty"`
	// TokenURL and ClientID are how the gateway authenticates to a push
	// endpoint with SMART Backend Services.
	TokenURL string `json:"tokenUrl,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	// PrivateNetwork lets pushes reach this endpoint on a loopback,
	// private or link-local address (an EHR inside the practice's own
	// network); without it such addresses are refused (SSRF).
	PrivateNetwork bool `json:"privateNetwork,omitempty"`
}

// DirectEndpoint is a party's Direct address and, when known, its
// certificate (PEM). Without one the certificate is discovered in DNS.
type DirectEndpoint struct {
	Address     string    `json:"address"`
	CertPEM     string    `json:"certPem,omitempty"`
	CertExpires time.Time `json:"certExpires,omitzero"`
	// ProcessedOnly marks a receiver known to send processed MDNs only:
	// its processed MDN delivers, no dispatched one is awaited.
	ProcessedOnly bool `json:"processedOnly,omitempty"`
	// ProcessedWithinMinutes and DispatchedWithinMinutes override the
	// gateway's MDN deadlines for this party (0: the gateway's).
	ProcessedWithinMinutes  int `json:"processedWithinMinutes,omitempty"`
	DispatchedWithinMinutes int `json:"dispatchedWithinMinutes,omitempty"`
}

// FaxEndpoint is a party's fax number in E.164 form.
type FaxEndpoint struct {
	Number string `json:"number"`
}

// Verification records that an admin confirmed a party's contact details.
type Verification struct {
	By     string    `json:"by"`
	Method string    `json:"method"` // e.g. "phone call to front desk", "NPPES match"
	At     time.Time `json:"at"`
}

// Verified reports whether the entry's contact details have been confirmed.
func (e *Entry) Verified() bool { return e.Verification != nil }

// Channels returns the entry's channel preference order.
func (e *Entry) Channels() []ChannelKind {
	if len(e.ChannelOrder) > 0 {
		return slices.Clone(e.ChannelOrder)
	}
	return slices.Clone(DefaultChannelOrder)
}

var (
	entryIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.\-]{0,63}$`)
	e164Pattern    = regexp.MustCompile(`^\+[1-9]\d{7,14}$`)
)

// ValidNPI reports whether npi is ten digits with a correct check digit (the
// Luhn formula over the prefix 80840 and the first nine digits, per CMS).
func ValidNPI(npi string) bool {
	if len(npi) != 10 {
		return false
	}
	sum := 24 // the constant contribution of the 80840 prefix
	for i := 0; i < 9; i++ {
		c := npi[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if i%2 == 0 { // doubled positions, counted from the right of the 9-digit base
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	check := (10 - sum%10) % 10
	return npi[9] >= '0' && npi[9] <= '9' && int(npi[9]-'0') == check
}

// ValidateEntry checks an entry's fields; every invalid field is named.
func ValidateEntry(e *Entry) error {
	var errs ValidationErrors
	if !entryIDPattern.MatchString(e.ID) {
		errs = append(errs, &ValidationError{"id", "must be 1-64 letters, digits, '-' or '.'"})
	}
	switch e.Kind {
	case KindOrganization, KindLocation, KindPractitioner:
	case KindVendor:
		if e.VendorRole != "fax" && e.VendorRole != "hisp" {
			errs = append(errs, &ValidationError{"vendorRole", `must be "fax" or "hisp" for a vendor`})
		}
	default:
		errs = append(errs, &ValidationError{"kind", "must be organization, location, practitioner or vendor"})
	}
	if strings.TrimSpace(e.Name) == "" {
		errs = append(errs, &ValidationError{"name", "required"})
	}
	if e.NPI != "" && !ValidNPI(e.NPI) {
		errs = append(errs, &ValidationError{"npi", "not a valid NPI (10 digits with a Luhn check digit)"})
	}
	if e.ParentID == e.ID && e.ID != "" {
		errs = append(errs, &ValidationError{"parentId", "an entry cannot be its own parent"})
	}
	if e.FHIR != nil && e.FHIR.BaseURL != "" {
		if u, err := url.Parse(e.FHIR.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, &ValidationError{"fhir.baseUrl", "must be an absolute http(s) URL"})
		}
	}
	if e.Direct != nil {
		if err := ValidateDirectAddress(e.Direct.Address); err != nil {
			errs = append(errs, &ValidationError{"direct.address", err.Error()})
		}
		if e.Direct.ProcessedWithinMinutes < 0 || e.Direct.DispatchedWithinMinutes < 0 {
			errs = append(errs, &ValidationError{"direct.processedWithinMinutes", "MDN deadlines cannot be negative"})
		}
	}
	if e.Fax != nil && !e164Pattern.MatchString(e.Fax.Number) {
		errs = append(errs, &ValidationError{"fax.number", "must be E.164, e.g. +15555550123"})
	}
	for i, k := range e.ChannelOrder {
		if !ValidChannel(k) {
			errs = append(errs, &ValidationError{fmt.Sprintf("channelOrder[%d]", i), "unknown channel " + string(k)})
		} else if slices.Index(e.ChannelOrder, k) != i {
			errs = append(errs, &ValidationError{fmt.Sprintf("channelOrder[%d]", i), "duplicate channel " + string(k)})
		}
	}
	return errs.orNil()
}

// ValidateDirectAddress checks that addr is a bare address with a domain.
func ValidateDirectAddress(addr string) error {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr || a.Name != "" {
		return fmt.Errorf("%q is not a bare e-mail address", addr)
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || !strings.Contains(addr[at+1:], ".") {
		return fmt.Errorf("%q has no fully qualified domain", addr)
	}
	return nil
}

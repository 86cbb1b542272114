package gateway_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// npiCheckDigit computes the NPI check digit the way CMS describes it: the
// Luhn formula over the card-issuer prefix 80840 followed by the nine-digit
// base, doubling every second digit starting from the rightmost one.
func npiCheckDigit(t *testing.T, base string) byte {
	t.Helper()
	payload := "80840" + base
	sum, double := 0, true
	for i := len(payload) - 1; i >= 0; i-- {
		d := int(payload[i] - '0')
		if d < 0 || d > 9 {
			t.Fatalf("npi base %q is not digits", base)
		}
		if double {
			d *= 2
			if d > 9 {
				d = d/10 + d%10
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

func TestValidNPIComputed(t *testing.T) {
	if got := npiCheckDigit(t, "123456789"); got != '3' {
		t.Fatalf("test helper: check digit of 123456789 = %c, want 3 (the CMS example 1234567893)", got)
	}
	for _, base := range []string{"123456789", "199999999", "200000000", "112233445", "154829376", "287654321", "100000000", "999999999"} {
		check := npiCheckDigit(t, base)
		t.Run(base, func(t *testing.T) {
			for d := byte('0'); d <= '9'; d++ {
				npi := base + string(d)
				if got, want := gateway.ValidNPI(npi), d == check; got != want {
					t.Errorf("ValidNPI(%q) = %v, want %v", npi, got, want)
				}
			}
		})
	}
}

func TestValidNPI(t *testing.T) {
	tests := []struct {
		npi  string
		want bool
	}{
		{"1234567893", true},
		{"1234567890", false}, // wrong check digit
		{"1234567894", false},
		{"2134567893", false}, // transposed digits change the check digit
		{"", false},
		{"123456789", false},   // nine digits
		{"12345678931", false}, // eleven digits
		{"123456789a", false},  // letter as check digit
		{"a234567893", false},  // letter in the base
		{"12345 7893", false},
		{"+234567893", false},
		{"-234567893", false},
		{"１２３４５６７８９３", false}, // full-width digits
		{" 1234567893", false},
		{"1234567893\n", false},
	}
	for _, tt := range tests {
		if got := gateway.ValidNPI(tt.npi); got != tt.want {
			t.Errorf("ValidNPI(%q) = %v, want %v", tt.npi, got, tt.want)
		}
	}
}

// validEntry is a synthetic practitioner with every channel filled in.
func validEntry() *gateway.Entry {
	return &gateway.Entry{
		ID:           "prac-bob",
		Kind:         gateway.KindPractitioner,
		Name:         "Dr. Robin Example",
		NPI:          "1234567893",
		ParentID:     "org-beta",
		FHIR:         &gateway.FHIREndpoint{BaseURL: "https://fhir.beta.example/r4"},
		Direct:       &gateway.DirectEndpoint{Address: "robin@direct.beta.example"},
		Fax:          &gateway.FaxEndpoint{Number: "+15555550123"},
		ChannelOrder: []gateway.ChannelKind{gateway.ChannelDirect, gateway.ChannelFax},
	}
}

func TestValidateEntry(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(e *gateway.Entry)
		wantFields []string // nil: valid
	}{
		{"valid practitioner", func(*gateway.Entry) {}, nil},
		{"minimal organization", func(e *gateway.Entry) {
			*e = gateway.Entry{ID: "org-beta", Kind: gateway.KindOrganization, Name: "Beta Clinic"}
		}, nil},
		{"location with dotted id", func(e *gateway.Entry) { e.Kind = gateway.KindLocation; e.ID = "loc.east-2" }, nil},
		{"fax vendor", func(e *gateway.Entry) { e.Kind = gateway.KindVendor; e.VendorRole = "fax" }, nil},
		{"HISP vendor", func(e *gateway.Entry) { e.Kind = gateway.KindVendor; e.VendorRole = "hisp" }, nil},
		{"FHIR endpoint that pulls", func(e *gateway.Entry) { e.FHIR = &gateway.FHIREndpoint{} }, nil},
		{"64-character id", func(e *gateway.Entry) { e.ID = strings.Repeat("a", 64) }, nil},

		{"empty id", func(e *gateway.Entry) { e.ID = "" }, []string{"id"}},
		{"id starting with a dash", func(e *gateway.Entry) { e.ID = "-bob" }, []string{"id"}},
		{"id with a space", func(e *gateway.Entry) { e.ID = "prac bob" }, []string{"id"}},
		{"id with a slash", func(e *gateway.Entry) { e.ID = "prac/bob" }, []string{"id"}},
		{"65-character id", func(e *gateway.Entry) { e.ID = strings.Repeat("a", 65) }, []string{"id"}},
		{"empty kind", func(e *gateway.Entry) { e.Kind = "" }, []string{"kind"}},
		{"unknown kind", func(e *gateway.Entry) { e.Kind = "hospital" }, []string{"kind"}},
		{"vendor without role", func(e *gateway.Entry) { e.Kind = gateway.KindVendor }, []string{"vendorRole"}},
		{"vendor with unknown role", func(e *gateway.Entry) { e.Kind = gateway.KindVendor; e.VendorRole = "lab" }, []string{"vendorRole"}},
		{"empty name", func(e *gateway.Entry) { e.Name = "" }, []string{"name"}},
		{"blank name", func(e *gateway.Entry) { e.Name = " \t" }, []string{"name"}},
		{"npi with wrong check digit", func(e *gateway.Entry) { e.NPI = "1234567890" }, []string{"npi"}},
		{"npi too short", func(e *gateway.Entry) { e.NPI = "123456789" }, []string{"npi"}},
		{"own parent", func(e *gateway.Entry) { e.ParentID = e.ID }, []string{"parentId"}},
		{"FHIR base without scheme", func(e *gateway.Entry) { e.FHIR.BaseURL = "fhir.beta.example/r4" }, []string{"fhir.baseUrl"}},
		{"FHIR base with ftp scheme", func(e *gateway.Entry) { e.FHIR.BaseURL = "ftp://fhir.beta.example/r4" }, []string{"fhir.baseUrl"}},
		{"FHIR base without host", func(e *gateway.Entry) { e.FHIR.BaseURL = "https:///r4" }, []string{"fhir.baseUrl"}},
		{"FHIR base that does not parse", func(e *gateway.Entry) { e.FHIR.BaseURL = "https://fhir beta/%zz" }, []string{"fhir.baseUrl"}},
		{"Direct address with display name", func(e *gateway.Entry) { e.Direct.Address = "Robin <robin@direct.beta.example>" }, []string{"direct.address"}},
		{"Direct address without domain dot", func(e *gateway.Entry) { e.Direct.Address = "robin@localhost" }, []string{"direct.address"}},
		{"empty Direct address", func(e *gateway.Entry) { e.Direct.Address = "" }, []string{"direct.address"}},
		{"fax number without plus", func(e *gateway.Entry) { e.Fax.Number = "15555550123" }, []string{"fax.number"}},
		{"fax number with punctuation", func(e *gateway.Entry) { e.Fax.Number = "+1 (555) 555-0123" }, []string{"fax.number"}},
		{"fax number starting with zero", func(e *gateway.Entry) { e.Fax.Number = "+05555550123" }, []string{"fax.number"}},
		{"fax number too long", func(e *gateway.Entry) { e.Fax.Number = "+1234567890123456" }, []string{"fax.number"}},
		{"channel order duplicate", func(e *gateway.Entry) {
			e.ChannelOrder = []gateway.ChannelKind{gateway.ChannelFax, gateway.ChannelFax}
		}, []string{"channelOrder[1]"}},
		{"channel order unknown", func(e *gateway.Entry) {
			e.ChannelOrder = []gateway.ChannelKind{"sms", gateway.ChannelFax}
		}, []string{"channelOrder[0]"}},
		{"channel order unknown and duplicate", func(e *gateway.Entry) {
			e.ChannelOrder = []gateway.ChannelKind{gateway.ChannelDirect, "email", gateway.ChannelDirect}
		}, []string{"channelOrder[1]", "channelOrder[2]"}},
		{"several fields at once", func(e *gateway.Entry) {
			e.ID, e.Name, e.NPI, e.Fax.Number = "", "", "1", "fax"
		}, []string{"id", "name", "npi", "fax.number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEntry()
			tt.edit(e)
			err := gateway.ValidateEntry(e)
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("ValidateEntry = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateEntry = nil, want errors for %v", tt.wantFields)
			}
			var errs gateway.ValidationErrors
			if !errors.As(err, &errs) {
				t.Fatalf("ValidateEntry error %v (%T) is not ValidationErrors", err, err)
			}
			var fields []string
			for _, fe := range errs {
				fields = append(fields, fe.Field)
				if fe.Reason == "" {
					t.Errorf("field %s has no reason", fe.Field)
				}
				if !strings.Contains(err.Error(), fe.Field) {
					t.Errorf("Error() = %q does not name field %s", err.Error(), fe.Field)
				}
			}
			if !slices.Equal(fields, tt.wantFields) {
				t.Errorf("invalid fields = %q, want %q", fields, tt.wantFields)
			}
			// errors.As reaches the first field error through Unwrap.
			var one *gateway.ValidationError
			if !errors.As(err, &one) || one.Field != tt.wantFields[0] {
				t.Errorf("errors.As(*ValidationError) = %v, want field %s", one, tt.wantFields[0])
			}
		})
	}
}

func TestValidateDirectAddress(t *testing.T) {
	tests := []struct {
		addr  string
		valid bool
	}{
		{"robin@direct.beta.example", true},
		{"dr.smith+referrals@hisp.example.org", true},
		{"intake@direct.clinic-beta.example.com", true},
		{"", false},
		{"robin", false},
		{"robin@localhost", false},
		{"@direct.beta.example", false},
		{"robin@@direct.beta.example", false},
		{"Robin <robin@direct.beta.example>", false},
		{"<robin@direct.beta.example>", false},
		{" robin@direct.beta.example", false},
		{"robin@direct.beta.example ", false},
		{"robin@direct.beta.example, eve@direct.gamma.example", false},
		{"robin@direct..example", false},
		{"robin@direct.example.", false},
	}
	for _, tt := range tests {
		err := gateway.ValidateDirectAddress(tt.addr)
		if (err == nil) != tt.valid {
			t.Errorf("ValidateDirectAddress(%q) = %v, want valid=%v", tt.addr, err, tt.valid)
		}
	}
}

func TestEntryChannels(t *testing.T) {
	tests := []struct {
		name  string
		order []gateway.ChannelKind
		want  []gateway.ChannelKind
	}{
		{"default when unset", nil, []gateway.ChannelKind{gateway.ChannelFHIR, gateway.ChannelDirect, gateway.ChannelFax}},
		{"default when empty", []gateway.ChannelKind{}, []gateway.ChannelKind{gateway.ChannelFHIR, gateway.ChannelDirect, gateway.ChannelFax}},
		{"own order", []gateway.ChannelKind{gateway.ChannelDirect, gateway.ChannelFax}, []gateway.ChannelKind{gateway.ChannelDirect, gateway.ChannelFax}},
		{"fax only", []gateway.ChannelKind{gateway.ChannelFax}, []gateway.ChannelKind{gateway.ChannelFax}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &gateway.Entry{ID: "prac-bob", ChannelOrder: tt.order}
			if got := e.Channels(); !slices.Equal(got, tt.want) {
				t.Errorf("Channels() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEntryVerified(t *testing.T) {
	e := validEntry()
	if e.Verified() {
		t.Errorf("Verified() = true for an entry without verification")
	}
	e.Verification = &gateway.Verification{By: "admin-1", Method: "phone call to front desk"}
	if !e.Verified() {
		t.Errorf("Verified() = false after verification")
	}
}

func ExampleValidNPI() {
	fmt.Println(gateway.ValidNPI("1234567893"), gateway.ValidNPI("1234567890"))
	// Output: true false
}

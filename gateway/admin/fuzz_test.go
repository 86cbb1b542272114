package admin

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// FuzzDecodeEntry feeds arbitrary bodies to the API's JSON decoder for
// directory entries: it must never panic, and a refusal always names a field.
func FuzzDecodeEntry(f *testing.F) {
	for _, seed := range []string{
		`{"id":"derm-1","kind":"organization","name":"Synthetic Derm","npi":"1245319599","direct":{"address":"a@direct.example"}}`,
		`{"id":1}`, `{"colour":"blue"}`, `[]`, `{"onPlatform":"yes"}`, `{"direct":{"certExpires":"soon"}}`, `{} {}`, ``, `{"channelOrder":["fhir","fax"]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var e gateway.Entry
		p := decodeJSON(bytes.NewReader(body), &e)
		if p != nil {
			if p.Status != 422 || len(p.Errors) == 0 || p.Errors[0].Field == "" {
				t.Fatalf("refusal without a field: %+v", p)
			}
			return
		}
		if _, err := json.Marshal(&e); err != nil {
			t.Fatalf("accepted entry does not marshal: %v", err)
		}
		_ = gateway.ValidateEntry(&e)
	})
}

// FuzzQueryParameters feeds arbitrary tracker and directory parameters and
// If-Match headers: no panic, every refusal names its field, and accepted
// values are in range.
func FuzzQueryParameters(f *testing.F) {
	f.Add("draft", "fhir", "36h", "50", `"3"`)
	f.Add("lost", "pigeon", "7d", "0", "W/\"1\"")
	f.Add("", "", "-1h", "9999", "")
	f.Add("on-hold", "fax", "99999999999d", "x", `"-2"`)
	f.Fuzz(func(t *testing.T, status, channel, age, limit, ifMatch string) {
		q := url.Values{"status": {status}, "channel": {channel}, "age": {age}, "limit": {limit}}
		fl, errs := parseReferralFilter(q.Get)
		for _, e := range errs {
			if e.Field == "" || e.Reason == "" {
				t.Fatalf("refusal without field or reason: %+v", e)
			}
		}
		if len(errs) == 0 && (fl.Limit < 1 || fl.Limit > 500 || fl.MinAge < 0) {
			t.Fatalf("accepted out-of-range filter %+v", fl)
		}
		if n, err := parseIfMatch(ifMatch); err == nil && n < 1 {
			t.Fatalf("If-Match %q accepted as version %d", ifMatch, n)
		}
	})
}

// FuzzEntryForm feeds arbitrary console form posts: the form parser must
// never panic and must keep what it cannot read as a named field error.
func FuzzEntryForm(f *testing.F) {
	f.Add("id=derm-1&kind=organization&name=Derm&direct.address=a%40b.example&channelOrder=fhir,%20direct&version=2")
	f.Add("version=x&direct.certExpires=tomorrow")
	f.Add("state=active&end=2027-01-01&start=bad")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		form := parseEntryForm(v)
		for field, reason := range form.Errors {
			if field == "" || reason == "" {
				t.Fatalf("error without field or reason")
			}
		}
		e := form.entry()
		for _, k := range e.ChannelOrder {
			if strings.TrimSpace(string(k)) != string(k) || k == "" {
				t.Fatalf("channel %q not trimmed", k)
			}
		}
		b := parseBAAForm("p", v)
		if b.Change.PartyID != "p" {
			t.Fatal("party lost")
		}
	})
}

func FuzzDecodeClientRequest(f *testing.F) {
	for _, seed := range []string{
		`{"id":"ehr-1","orgId":"clinic-a","scopes":["system/Task.rs"],"jwks":{"keys":[{"kty":"EC","kid":"k1"}]}}`,
		`{"orgId":" ","scopes":[],"jwks":null}`, `{"scopes":"system/Task.rs"}`, `{"jwks":"keys"}`, `{"id":"a b"}`,
		`{"scopes":["system/Task.rs system/Patient.r",""]}`, `{"secret":1}`, `[]`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in clientRequest
		if p := decodeJSON(bytes.NewReader(body), &in); p != nil {
			if p.Status != 422 || len(p.Errors) == 0 || p.Errors[0].Field == "" {
				t.Fatalf("refusal without a field: %+v", p)
			}
			return
		}
		errs := clientRequestShape(&in)
		for _, e := range errs {
			if e.Field == "" || e.Reason == "" {
				t.Fatalf("refusal without field or reason: %+v", e)
			}
		}
		if len(errs) == 0 && (in.OrgID == "" || len(in.Scopes) == 0 || len(in.JWKS) == 0) {
			t.Fatalf("accepted an incomplete request: %+v", in)
		}
	})
}

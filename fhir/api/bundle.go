package api

import (
	"encoding/json"
	"fmt"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// bundle is a response Bundle; entries hold their resources as raw JSON.
type bundle struct {
	fhir.Bundle
}

func newBundle(typ string) *bundle {
	b := &bundle{}
	_ = b.Type.UnmarshalJSON([]byte(`"` + typ + `"`))
	return b
}

// add appends one entry.
func (b *bundle) add(fullURL string, res any, req *fhir.BundleEntryRequest, resp *fhir.BundleEntryResponse, search *fhir.BundleEntrySearch) error {
	e := fhir.BundleEntry{Request: req, Response: resp, Search: search}
	if fullURL != "" {
		e.FullUrl = &fullURL
	}
	if res != nil {
		raw, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("fhir api: render bundle entry: %w", err)
		}
		e.Resource = raw
	}
	b.Entry = append(b.Entry, e)
	return nil
}

// MarshalJSON renders the generated Bundle.
func (b *bundle) MarshalJSON() ([]byte, error) { return json.Marshal(b.Bundle) }

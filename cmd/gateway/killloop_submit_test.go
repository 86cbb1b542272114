package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/referralgw/gateway/fhir/smart"
)

// klIdentifierSystem is the business identifier system of the loop's
// referrals, as a referring EHR would have its own.
const klIdentifierSystem = "https://ehr.clinic-a.example/killloop"

// klScopes are what the loop's EHR client is registered for and asks;
// each transaction entry needs the create scope of its own type.
var klScopes = []string{"system/Task.cruds", "system/ServiceRequest.crs", "system/DocumentReference.crs", "system/Binary.cr",
	"system/Patient.cr", "system/Practitioner.c"}

// klIdentifier is referral i's business identifier value.
func klIdentifier(i int) string { return fmt.Sprintf("KL-%05d", i) }

// klBundle is referral i as the referrer's EHR submits it to the sending
// gateway's FHIR API: one transaction (Task, ServiceRequest, Patient and a
// letter), conditional on the Task's identifier so a retry after a crash
// finds the referral the first attempt created.
func klBundle(i int, receiver string) []byte {
	ident := klIdentifier(i)
	u := func(n int) string { return fmt.Sprintf("urn:uuid:6b1f0c3e-0000-4000-8000-%012d", i*10+n) }
	letter := base64.StdEncoding.EncodeToString([]byte("Synthetic referral letter for the kill loop. No real patient data."))
	entry := func(n int, res map[string]any, method map[string]any) map[string]any {
		return map[string]any{"fullUrl": u(n), "resource": res, "request": method}
	}
	b := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		entry(1, map[string]any{"resourceType": "Task", "status": "requested", "intent": "order",
			"identifier": []any{map[string]any{"system": klIdentifierSystem, "value": ident}},
			"focus":      map[string]any{"reference": u(2)},
			"requester":  map[string]any{"reference": "Organization/clinic-a"},
			"owner":      map[string]any{"reference": "Organization/" + receiver}},
			map[string]any{"method": "POST", "url": "Task", "ifNoneExist": "identifier=" + klIdentifierSystem + "|" + ident}),
		entry(2, map[string]any{"resourceType": "ServiceRequest", "status": "active", "intent": "order", "priority": "routine",
			"code":           map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}}},
			"subject":        map[string]any{"reference": u(3)},
			"requester":      map[string]any{"reference": u(6)},
			"reasonCode":     []any{map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "225358003", "display": "Referral for evaluation"}}}},
			"supportingInfo": []any{map[string]any{"reference": u(4)}}},
			map[string]any{"method": "POST", "url": "ServiceRequest"}),
		entry(3, map[string]any{"resourceType": "Patient",
			"identifier": []any{map[string]any{"system": "urn:demo:mrn", "value": "MRN-" + ident}},
			"name":       []any{map[string]any{"family": "Testpatient", "given": []any{fmt.Sprintf("Loop%d", i)}}}, "birthDate": "1980-01-01"},
			map[string]any{"method": "POST", "url": "Patient"}),
		entry(4, map[string]any{"resourceType": "DocumentReference", "status": "current",
			"content": []any{map[string]any{"attachment": map[string]any{"contentType": "text/plain", "title": "Referral letter", "url": u(5)}}}},
			map[string]any{"method": "POST", "url": "DocumentReference"}),
		entry(5, map[string]any{"resourceType": "Binary", "contentType": "text/plain", "data": letter},
			map[string]any{"method": "POST", "url": "Binary"}),
		// The referring provider, whose phone number the fax cover sheet
		// gives for call-backs.
		entry(6, map[string]any{"resourceType": "Practitioner",
			"identifier": []any{map[string]any{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}},
			"name":       []any{map[string]any{"family": "Referrer", "given": []any{"Synthetic"}}},
			"telecom":    []any{map[string]any{"system": "phone", "value": "+15555550100"}}},
			map[string]any{"method": "POST", "url": "Practitioner"}),
	}}
	out, _ := json.Marshal(b)
	return out
}

// klSubmitter submits referrals through the sending gateway's FHIR API
// with SMART backend-services tokens, retrying through the gateway's
// deaths: connection errors, 5xx and 401 (a token a dead process issued)
// are retried, any other refusal is an error.
type klSubmitter struct {
	base, tokenURL, clientID, keyID string
	key                             *ecdsa.PrivateKey
	hc                              *http.Client

	mu sync.Mutex
	ts *smart.TokenSource

	submitted atomic.Int64 // referrals the gateway answered 200/201 for
	retries   atomic.Int64 // attempts that had to be repeated
	existed   atomic.Int64 // retries answered 200: the first attempt had stored it
}

func (s *klSubmitter) tokens(fresh bool) *smart.TokenSource {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ts == nil || fresh {
		s.ts = &smart.TokenSource{TokenURL: s.tokenURL, ClientID: s.clientID, Key: s.key, KeyID: s.keyID,
			Scopes: klScopes, HTTPClient: s.hc}
	}
	return s.ts
}

// submit sends referral i until the gateway has stored it.
func (s *klSubmitter) submit(ctx context.Context, i int, receiver string) error {
	body := klBundle(i, receiver)
	fresh := false
	var last string
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			s.retries.Add(1)
			select {
			case <-ctx.Done():
				return fmt.Errorf("referral %s not accepted after %d attempts (last: %s): %w", klIdentifier(i), attempt-1, last, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
		code, msg, err := s.post(ctx, body, fresh)
		fresh = false
		switch {
		case err != nil:
			last = err.Error()
			continue
		case code == http.StatusCreated || code == http.StatusOK:
			if strings.HasPrefix(msg, "200") { // the Task entry's status
				s.existed.Add(1)
			}
			s.submitted.Add(1)
			return nil
		case code == http.StatusUnauthorized:
			fresh, last = true, "401"
			continue
		case code >= 500 || code == http.StatusTooManyRequests:
			last = fmt.Sprintf("%d %s", code, msg)
			continue
		}
		return fmt.Errorf("referral %s refused: %d %s", klIdentifier(i), code, msg)
	}
}

func (s *klSubmitter) post(ctx context.Context, body []byte, fresh bool) (int, string, error) {
	tok, err := s.tokens(fresh).Token(ctx)
	if err != nil {
		var te *smart.TokenError
		if errors.As(err, &te) {
			return http.StatusUnauthorized, te.Error(), nil
		}
		return 0, "", fmt.Errorf("token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/fhir", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusOK {
		// A transaction-response: report the Task entry's own status,
		// "201 Created" or, when a retry found the first attempt's
		// referral, "200 OK".
		var tr struct {
			Entry []struct {
				Response struct {
					Status string `json:"status"`
				} `json:"response"`
			} `json:"entry"`
		}
		if json.Unmarshal(b, &tr) == nil && len(tr.Entry) > 0 {
			return resp.StatusCode, tr.Entry[0].Response.Status, nil
		}
	}
	return resp.StatusCode, strings.TrimSpace(string(b[:min(len(b), 512)])), nil
}

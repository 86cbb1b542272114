package smart

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// postHeaders posts a token request form with extra request header fields.
func (h *harness) postHeaders(t *testing.T, form url.Values, hdr http.Header) tokenReply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(t, http.DefaultClient, req)
}

// TestTokenServerOneClientAuthenticationMethod: RFC 6749 §2.3 forbids a
// client to use more than one authentication method in a request, so an
// Authorization header (or a client_secret) beside client_assertion is
// refused as invalid_request before anything else is looked at, and the
// assertion it carried is not spent. An Authorization header alone is
// invalid_client with 401 and a challenge of its own scheme (§5.2);
// every other invalid_client is 400, without a challenge.
func TestTokenServerOneClientAuthenticationMethod(t *testing.T) {
	h := newHarness(t)
	basic := http.Header{"Authorization": {"Basic Y2xpZW50LXJzYS0wMDAxOmh1bnRlcjI="}}
	tests := []struct {
		name          string
		form          func(assertion string) url.Values
		hdr           http.Header
		wantStatus    int
		wantCode      string
		wantChallenge string // the WWW-Authenticate scheme, or "" for none
		wantDesc      string
	}{
		{"Authorization Basic beside client_assertion", func(a string) url.Values { return tokenForm(a, "system/Task.rs") },
			basic, 400, CodeInvalidRequest, "", "more than one client authentication method"},
		{"Authorization Bearer beside client_assertion", func(a string) url.Values { return tokenForm(a, "system/Task.rs") },
			http.Header{"Authorization": {"Bearer some-earlier-token"}}, 400, CodeInvalidRequest, "", "the Authorization header"},
		{"empty Authorization beside client_assertion", func(a string) url.Values { return tokenForm(a, "system/Task.rs") },
			http.Header{"Authorization": {""}}, 400, CodeInvalidRequest, "", "more than one"},
		{"client_secret beside client_assertion", func(a string) url.Values {
			v := tokenForm(a, "system/Task.rs")
			v.Set("client_secret", "hunter2")
			return v
		}, nil, 400, CodeInvalidRequest, "", "client_secret"},
		{"Authorization Basic alone", func(string) url.Values {
			return url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Task.rs"}}
		}, basic, 401, CodeInvalidClient, "Basic", "client_assertion"},
		{"Authorization of another scheme alone", func(string) url.Values {
			return url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Task.rs"}}
		}, http.Header{"Authorization": {"DPoP abc"}}, 401, CodeInvalidClient, "DPoP", "client_assertion"},
		{"client_secret alone", func(string) url.Values {
			return url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Task.rs"}, "client_id": {rsaClientID}, "client_secret": {"x"}}
		}, nil, 400, CodeInvalidClient, "", "private_key_jwt"},
		{"wrong client_assertion_type", func(a string) url.Values {
			v := tokenForm(a, "system/Task.rs")
			v.Set("client_assertion_type", "not_an_assertion_type")
			return v
		}, nil, 400, CodeInvalidClient, "", "client_assertion_type must be"},
		{"assertion signed by another key", func(string) url.Values {
			spec := h.validSpec(t)
			spec.key = key(t, "rsa-other")
			return tokenForm(spec.sign(t), "system/Task.rs")
		}, nil, 400, CodeInvalidClient, "", authFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertion := h.validSpec(t).sign(t)
			got := h.postHeaders(t, tt.form(assertion), tt.hdr)
			if got.status != tt.wantStatus || got.Error != tt.wantCode || got.AccessToken != "" {
				t.Fatalf("got HTTP %d %q token %t (%s), want HTTP %d %q", got.status, got.Error, got.AccessToken != "", got.Description,
					tt.wantStatus, tt.wantCode)
			}
			if !strings.Contains(got.Description, tt.wantDesc) {
				t.Errorf("error_description %q, want it to mention %q", got.Description, tt.wantDesc)
			}
			challenge := got.header.Get("WWW-Authenticate")
			switch {
			case tt.wantChallenge == "" && challenge != "":
				t.Errorf("WWW-Authenticate %q on a %d", challenge, got.status)
			case tt.wantChallenge != "" && !strings.HasPrefix(challenge, tt.wantChallenge+" "):
				t.Errorf("WWW-Authenticate %q, want a %s challenge", challenge, tt.wantChallenge)
			}
			if d := h.lastDecision(t); d.Granted || !strings.HasPrefix(d.Reason, tt.wantCode+": ") {
				t.Errorf("decision %+v, want refusal %s", d, tt.wantCode)
			}
			// Refused before the assertion was looked at: it is still unused.
			if ok := h.postForm(t, tokenForm(assertion, "system/Task.rs")); ok.status != http.StatusOK {
				t.Errorf("the assertion of the refused request then: HTTP %d %s %s, want 200", ok.status, ok.Error, ok.Description)
			}
		})
	}
}

// TestTokenServerRefusesParametersInTheURL: RFC 6749 §2.3.1 and §3.2 keep a
// token request's parameters, the client's credentials among them, in the
// body, never the request URI (where proxies and access logs keep them).
// A request that carries one in its query is refused, before the assertion
// is used, even when the body is complete.
func TestTokenServerRefusesParametersInTheURL(t *testing.T) {
	h := newHarness(t)
	for _, param := range []string{"client_assertion", "client_assertion_type", "grant_type", "scope", "client_id", "client_secret"} {
		t.Run(param, func(t *testing.T) {
			assertion := h.validSpec(t).sign(t)
			form := tokenForm(assertion, "system/Task.rs")
			req, err := http.NewRequest(http.MethodPost, h.tokenURL+"?"+url.Values{param: {"x"}}.Encode(), strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			got := h.do(t, http.DefaultClient, req)
			if got.status != http.StatusBadRequest || got.Error != CodeInvalidRequest || got.AccessToken != "" ||
				!strings.Contains(got.Description, param) {
				t.Fatalf("HTTP %d %q %q (token %t), want 400 invalid_request naming %s", got.status, got.Error, got.Description, got.AccessToken != "", param)
			}
			if ok := h.postForm(t, form); ok.status != http.StatusOK {
				t.Errorf("the same body without the query: HTTP %d %s %s, want 200", ok.status, ok.Error, ok.Description)
			}
		})
	}
}

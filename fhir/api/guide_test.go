package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/referralgw/gateway/fhir/smart"
)

// guideRequest is one ```http block of docs/fhir.md.
type guideRequest struct {
	name, method, url string
	header            [][2]string
	body              string
}

// readGuide extracts the requests of docs/fhir.md, in order.
func readGuide(t *testing.T) (string, []guideRequest) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "fhir.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var out []guideRequest
	for _, block := range regexp.MustCompile("(?s)```http\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		var g guideRequest
		lines := strings.Split(block[1], "\n")
		i := 0
		for ; i < len(lines); i++ {
			l := lines[i]
			switch {
			case strings.HasPrefix(l, "# @name "):
				g.name = strings.TrimPrefix(l, "# @name ")
			case strings.HasPrefix(l, "#"):
			case g.method == "":
				g.method, g.url, _ = strings.Cut(l, " ")
			case l == "":
				g.body = strings.TrimSpace(strings.Join(lines[i+1:], "\n"))
				i = len(lines)
			default:
				k, v, _ := strings.Cut(l, ":")
				g.header = append(g.header, [2]string{k, strings.TrimSpace(v)})
			}
		}
		out = append(out, g)
	}
	return doc, out
}

// scopeFlag is the --scope of the first `gateway client add` in text.
func scopeFlag(t *testing.T, text string) []string {
	t.Helper()
	m := regexp.MustCompile(`gateway client add [^\n]*--scope "([^"]+)"`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("no `gateway client add --scope` example")
	}
	return strings.Fields(m[1])
}

// TestIntegratorGuideRuns runs every request of docs/fhir.md in order,
// as written, with clients registered with exactly the scopes the guide's
// `gateway client add` grants (the README's example must grant the same).
func TestIntegratorGuideRuns(t *testing.T) {
	e := newEnv(t)
	doc, reqs := readGuide(t)
	scopes := scopeFlag(t, doc)
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if got := scopeFlag(t, string(readme)); strings.Join(got, " ") != strings.Join(scopes, " ") {
		t.Errorf("README grants %v, the guide %v", got, scopes)
	}
	sources := map[string]*smart.TokenSource{}
	for id, org := range map[string]string{"guide-referrer": orgNorth, "guide-receiver": orgOrtho} {
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		e.reg.Put(smart.Client{ID: id, OrgID: org, Scopes: scopes, JWKS: smart.JWKS{{KID: "ehr-key-1", Key: &k.PublicKey}}})
		sources[id] = &smart.TokenSource{TokenURL: e.tokens.TokenURL(), ClientID: id, Key: k, KeyID: "ehr-key-1",
			Scopes: scopes, HTTPClient: e.srv.Client(), Clock: e.clock.Now}
	}
	receiverToken, err := sources["guide-receiver"].Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"base": e.srv.URL, "referrer": orgNorth, "receiver": orgOrtho, "receiverToken": receiverToken}
	want := map[string]int{"token": 200, "transaction": 200, "serviceRequest": 201, "submit": 201, "inbox": 200, "accept": 200,
		"start": 200, "complete": 200, "document": 200, "binary": 200, "subscribe": 201, "refused": 422, "xml": 406}
	ran := map[string]bool{}
	for _, g := range reqs {
		if g.name == "token" {
			a, err := sources["guide-referrer"].Assertion()
			if err != nil {
				t.Fatal(err)
			}
			vars["clientAssertion"] = a
		}
		fill := func(s string) string {
			return regexp.MustCompile(`\{\{(\w+)\}\}`).ReplaceAllStringFunc(s, func(m string) string {
				v, ok := vars[m[2:len(m)-2]]
				if !ok {
					t.Fatalf("%s: variable %s is not set by an earlier step", g.name, m)
				}
				return v
			})
		}
		var hdr []string
		for _, h := range g.header {
			hdr = append(hdr, h[0], fill(h[1]))
		}
		var body []byte
		if g.body != "" {
			body = []byte(fill(g.body))
		}
		res := e.do(t, "", g.method, fill(g.url), body, hdr...)
		if res.status != want[g.name] {
			t.Fatalf("guide step %q: %s %s answered %d, want %d: %s", g.name, g.method, g.url, res.status, want[g.name], res.body)
		}
		ran[g.name] = true
		switch g.name {
		case "token":
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			res.decode(t, &tok)
			vars["token"] = tok.AccessToken
		case "transaction":
			var b struct {
				Entry []struct{ Response struct{ Location string } }
			}
			res.decode(t, &b)
			vars["taskId"] = strings.Split(b.Entry[0].Response.Location, "/")[1]
			vars["docId"] = strings.Split(b.Entry[3].Response.Location, "/")[1]
		case "serviceRequest":
			var sr struct{ ID string }
			res.decode(t, &sr)
			vars["srId"] = sr.ID
		case "inbox":
			var b struct {
				Entry []struct {
					Resource struct {
						ID   string
						Meta struct{ VersionID string }
					}
				}
			}
			res.decode(t, &b)
			for _, en := range b.Entry {
				if en.Resource.ID == vars["taskId"] {
					vars["etag"] = `W/"` + en.Resource.Meta.VersionID + `"`
				}
			}
		case "binary":
			if string(res.body) != "Synthetic letter." {
				t.Errorf("binary: %q", res.body)
			}
		case "refused":
			var oo OperationOutcome
			res.decode(t, &oo)
			found := false
			for _, is := range oo.Issue {
				found = found || (len(is.Expression) > 0 && is.Expression[0] == "Task.priority")
			}
			if !found {
				t.Errorf("refused: %s does not name Task.priority", res.body)
			}
		}
	}
	for name := range want {
		if !ran[name] {
			t.Errorf("the guide has no step %q", name)
		}
	}
	var tk struct{ Status string }
	e.do(t, receiverToken, "GET", "/fhir/Task/"+vars["taskId"], nil).want(t, http.StatusOK).decode(t, &tk)
	if tk.Status != "completed" {
		t.Errorf("after the guide the Task is %s, want completed", tk.Status)
	}
}

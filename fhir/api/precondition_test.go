package api

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// wantOutcome checks a refusal's status and first issue code.
func wantOutcome(t *testing.T, res *response, status int, code string) {
	t.Helper()
	res.want(t, status)
	var oo OperationOutcome
	res.decode(t, &oo)
	if oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 || oo.Issue[0].Code != code {
		t.Errorf("HTTP %d answered %s, want an OperationOutcome with issue code %s", status, res.body, code)
	}
}

// TestPreconditions: If-Match and If-None-Match as RFC 9110 defines them
// and FHIR uses them. "*" and lists of ETags are valid fields; If-Match is
// evaluated before the request's content (a stale version is 412 even when
// the change itself would be refused); a DELETE honours it too; a read
// answers 304 when If-None-Match names the current version.
func TestPreconditions(t *testing.T) {
	e := newEnv(t)
	ortho := e.token(t, "ehr-ortho")
	id := e.createReferral(t, "PRE-1", "requested")
	patch := func(body string, hdr ...string) *response {
		hdr = append(hdr, "Content-Type", "application/json-patch+json")
		return e.do(t, ortho, "PATCH", "/fhir/Task/"+id, []byte(body), hdr...)
	}
	// tag is the ETag of version n of the Task; cur its version now.
	tag := func(n int) string { return `W/"` + strconv.Itoa(n) + `"` }
	cur := func() int {
		var v task
		e.do(t, ortho, "GET", "/fhir/Task/"+id, nil).want(t, http.StatusOK).decode(t, &v)
		n, err := strconv.Atoi(v.Meta.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	v := cur()

	t.Run("If-None-Match on a read", func(t *testing.T) {
		for _, inm := range []string{tag(v), `"` + strconv.Itoa(v) + `"`, `*`, tag(v+7) + ", " + tag(v)} {
			res := e.do(t, ortho, "GET", "/fhir/Task/"+id, nil, "If-None-Match", inm)
			if res.status != http.StatusNotModified || res.header.Get("ETag") != tag(v) || len(res.body) != 0 {
				t.Errorf("If-None-Match %s: HTTP %d ETag %q body %q, want 304 with ETag %s", inm, res.status, res.header.Get("ETag"), res.body, tag(v))
			}
		}
		e.do(t, ortho, "GET", "/fhir/Task/"+id, nil, "If-None-Match", tag(v+1)).want(t, http.StatusOK)
		// Every read that answers with an ETag honours it, not the Task only.
		paths := []string{"/fhir/ServiceRequest/" + id, "/fhir/Task/" + id + "/_history/" + strconv.Itoa(v)}
		var doc struct {
			Input []struct{ ValueReference struct{ Reference string } }
		}
		e.do(t, ortho, "GET", "/fhir/Task/"+id, nil).want(t, http.StatusOK).decode(t, &doc)
		if len(doc.Input) == 0 {
			t.Fatal("the Task has no record input")
		}
		paths = append(paths, "/fhir/"+doc.Input[0].ValueReference.Reference)
		for _, p := range paths {
			first := e.do(t, ortho, "GET", p, nil).want(t, http.StatusOK)
			etag := first.header.Get("ETag")
			if etag == "" {
				t.Fatalf("%s: no ETag", p)
			}
			if res := e.do(t, ortho, "GET", p, nil, "If-None-Match", etag); res.status != http.StatusNotModified || len(res.body) != 0 ||
				res.header.Get("ETag") != etag {
				t.Errorf("%s with If-None-Match %s: HTTP %d ETag %q body %q, want 304", p, etag, res.status, res.header.Get("ETag"), res.body)
			}
			if res := e.do(t, ortho, "GET", p, nil, "If-None-Match", `W/"999"`); res.status != http.StatusOK {
				t.Errorf("%s with another version's ETag: HTTP %d, want 200", p, res.status)
			}
		}
	})

	t.Run("If-Match star and lists", func(t *testing.T) {
		// "*": any current version.
		patch(`[{"op":"replace","path":"/status","value":"received"}]`, "If-Match", "*").want(t, http.StatusOK)
		// A list naming the current version among others.
		patch(`[{"op":"replace","path":"/status","value":"accepted"}]`, "If-Match", tag(v+9)+", "+tag(v+1)).want(t, http.StatusOK)
		// A list naming none of it is stale.
		wantOutcome(t, patch(`[{"op":"replace","path":"/status","value":"in-progress"}]`, "If-Match", tag(v)+", "+tag(v+1)),
			http.StatusPreconditionFailed, "conflict")
		// A PUT with "*".
		e.putStatus(t, "ehr-ortho", id, setStatus("in-progress", nil), "If-Match", "*").want(t, http.StatusOK)
		wantOutcome(t, patch(`[]`, "If-Match", `version 4`), http.StatusBadRequest, "value")
	})

	t.Run("If-Match before the content", func(t *testing.T) {
		// The change would be refused (priority is not applied), but the
		// version it is based on is stale: that is what the client must learn.
		stale := tag(cur() - 1)
		wantOutcome(t, patch(`[{"op":"replace","path":"/priority","value":"stat"}]`, "If-Match", stale), http.StatusPreconditionFailed, "conflict")
		wantOutcome(t, e.do(t, ortho, "PUT", "/fhir/Task/"+id, []byte(`{"resourceType":"Task"}`), "If-Match", stale),
			http.StatusPreconditionFailed, "conflict")
		// With the current version the same change is refused for what it is.
		wantOutcome(t, patch(`[{"op":"replace","path":"/priority","value":"stat"}]`, "If-Match", tag(cur())), http.StatusUnprocessableEntity, "not-supported")
	})

	t.Run("Subscription", func(t *testing.T) {
		s := e.subscribe(t, "ehr-ortho", subscriptionBody("active", "Task?owner=Organization/org-ortho", "https://ehr.ortho.example/hook", ""))
		path := "/fhir/Subscription/" + s.ID
		e.do(t, ortho, "GET", path, nil, "If-None-Match", `W/"1"`).want(t, http.StatusNotModified)
		// A stale If-Match with a body that is not a Subscription at all.
		wantOutcome(t, e.do(t, ortho, "PUT", path, []byte(`{"resourceType":"Subscription"}`), "If-Match", `W/"2"`),
			http.StatusPreconditionFailed, "conflict")
		// A stale If-Match on DELETE deletes nothing.
		wantOutcome(t, e.do(t, ortho, "DELETE", path, nil, "If-Match", `W/"2"`), http.StatusPreconditionFailed, "conflict")
		e.do(t, ortho, "GET", path, nil).want(t, http.StatusOK)
		e.do(t, ortho, "DELETE", path, nil, "If-Match", `W/"1"`).want(t, http.StatusNoContent)
		e.do(t, ortho, "GET", path, nil).want(t, http.StatusNotFound)
		// Conditional on a version of what is no longer there.
		wantOutcome(t, e.do(t, ortho, "DELETE", path, nil, "If-Match", `W/"1"`), http.StatusPreconditionFailed, "conflict")
		// Unconditional: R4 answers a delete of nothing like a delete.
		e.do(t, ortho, "DELETE", path, nil).want(t, http.StatusNoContent)
		if res := e.do(t, ortho, "DELETE", path, nil, "If-Match", `garbage`); !strings.Contains(string(res.body), "If-Match") {
			t.Errorf("malformed If-Match on DELETE: %d %s", res.status, res.body)
		}
	})
}

// TestIfNoneExistWhereNotSupported: where the gateway cannot honour
// If-None-Exist (a follow-up Task has no identifier to match; Subscription
// has no conditional create), the condition is refused, not ignored: an
// ignored one would turn a client's retry into a second resource.
func TestIfNoneExistWhereNotSupported(t *testing.T) {
	e := newEnv(t)
	ortho := e.token(t, "ehr-ortho")
	orig := e.createReferral(t, "INE-1", "requested")
	e.putStatus(t, "ehr-ortho", orig, setStatus("received", nil)).want(t, http.StatusOK)
	followUp := []byte(`{"resourceType":"Task","status":"draft","intent":"order","basedOn":[{"reference":"Task/` + orig + `"}],
		"note":[{"text":"Back to primary care."}]}`)
	cond := []string{"If-None-Exist", "identifier=https://ortho.example/referrals|BACK-1"}
	wantOutcome(t, e.do(t, ortho, "POST", "/fhir/Task", followUp, cond...), http.StatusBadRequest, "not-supported")
	if r, _, err := e.svc.Referral(t.Context(), orig); err != nil || len(r.FollowUps) != 0 {
		t.Errorf("a refused follow-up was made: %v %v", r.FollowUps, err)
	}
	e.do(t, ortho, "POST", "/fhir/Task", followUp).want(t, http.StatusCreated)

	sub := subscriptionBody("active", "Task?owner=Organization/org-ortho", "https://ehr.ortho.example/hook", "")
	wantOutcome(t, e.do(t, ortho, "POST", "/fhir/Subscription", sub, "If-None-Exist", "url=https://ehr.ortho.example/hook"),
		http.StatusBadRequest, "not-supported")
	var b struct{ Total *int }
	e.do(t, ortho, "GET", "/fhir/Subscription?_summary=count", nil).want(t, http.StatusOK).decode(t, &b)
	if b.Total == nil || *b.Total != 0 {
		t.Errorf("a refused conditional Subscription create stored one: total %v", b.Total)
	}
}

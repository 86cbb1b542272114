package push

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referralgw/gateway/fhir/mapping/schematest"
	"github.com/referralgw/gateway/fhir/smart"
)

// receiver is a stand-in for an on-platform EHR's FHIR server on a real
// listener: a SMART token endpoint and a transaction endpoint with
// conditional create on the Task identifier.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	tokens *smart.TokenServer
	gwKey  *ecdsa.PrivateKey
	schema *schematest.Validator
	mu     sync.Mutex
	tasks  map[string]string         // If-None-Exist criteria → Task id
	comms  map[string]string         // If-None-Exist criteria → Communication id
	docs   map[string]map[string]any // Task id → the Task as the receiver holds it
	posts  int
	answer int // when non-zero, answer every push with this status
	// retryAfter, when set, is the Retry-After of those answers; its
	// Date field is the same instant the value was computed at.
	retryAfter func(now time.Time) string
	hang       chan struct{}  // when non-nil, hold pushes until the client gives up
	reads      map[string]int // Task id → GETs answered
	// capability is what GET metadata answers with (404 when empty).
	capability string
	down       int // answer this many more Task reads with 503
	// onlyScopes, when set, makes the token endpoint strict: a request
	// naming any other scope is refused with invalid_scope (as servers that
	// grant only what they registered do), and pushes need create only.
	onlyScopes []string
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{t: t, tasks: map[string]string{}, comms: map[string]string{}, docs: map[string]map[string]any{}, reads: map[string]int{}, schema: schematest.New(t)}
	mux := http.NewServeMux()
	rc.srv = httptest.NewServer(mux)
	t.Cleanup(rc.srv.Close)
	var err error
	if rc.gwKey, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	reg := &smart.MemoryRegistry{}
	// The receiver would grant anything; a token carries what the gateway
	// asked for, and every push is checked against that (see transaction).
	reg.Put(smart.Client{ID: "referral-gateway", OrgID: "gateway", Scopes: []string{"system/*.cruds"},
		JWKS: smart.JWKS{{KID: "gw-1", Key: &rc.gwKey.PublicKey}}})
	rc.tokens, err = smart.NewTokenServer(smart.TokenServerConfig{IssuerBase: rc.srv.URL, Clients: reg,
		Replay: smart.NewMemoryReplayCache(nil), Key: serverKey})
	if err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc(smart.TokenPath, func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		only := rc.onlyScopes
		rc.mu.Unlock()
		if only != nil {
			body, _ := io.ReadAll(r.Body)
			form, _ := url.ParseQuery(string(body))
			for _, sc := range strings.Fields(form.Get("scope")) {
				if !slices.Contains(only, sc) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusBadRequest)
					fmt.Fprint(w, `{"error":"invalid_scope","error_description":"scope not registered for this client"}`)
					return
				}
			}
			r.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		rc.tokens.ServeHTTP(w, r)
	})
	mux.HandleFunc("POST /fhir", rc.transaction)
	mux.HandleFunc("GET /fhir/Task/{id}", rc.readTask)
	mux.HandleFunc("GET /fhir/metadata", func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		cs := rc.capability
		rc.mu.Unlock()
		if cs == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = io.WriteString(w, cs)
	})
	return rc
}

func (rc *receiver) transaction(w http.ResponseWriter, r *http.Request) {
	p, err := rc.tokens.Verifier().Authenticate(r)
	if err != nil {
		http.Error(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login"}]}`, http.StatusUnauthorized)
		return
	}
	rc.mu.Lock()
	rc.posts++
	answer, hang, retryAfter := rc.answer, rc.hang, rc.retryAfter
	rc.mu.Unlock()
	if hang != nil {
		select {
		case <-r.Context().Done():
		case <-hang:
		}
		return
	}
	if answer != 0 {
		if retryAfter != nil {
			now := time.Now()
			w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
			w.Header().Set("Retry-After", retryAfter(now))
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(answer)
		fmt.Fprint(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"synthetic refusal"}]}`)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	rc.schema.Validate(rc.t, body)
	var b struct {
		Entry []struct {
			Resource struct{ ResourceType string } `json:"resource"`
			Request  struct{ IfNoneExist string }  `json:"request"`
		} `json:"entry"`
	}
	var raw struct {
		Entry []struct {
			Resource map[string]any `json:"resource"`
		} `json:"entry"`
	}
	_ = json.Unmarshal(body, &raw)
	// As a strict server does (this gateway's own API among them), every
	// entry needs create on its type, and a conditional create searches
	// that type, so it needs search too.
	if err := json.Unmarshal(body, &b); err == nil {
		rc.mu.Lock()
		createOnly := rc.onlyScopes != nil
		rc.mu.Unlock()
		for _, e := range b.Entry {
			typ := e.Resource.ResourceType
			if !p.Allows(typ, smart.Create) || (e.Request.IfNoneExist != "" && !createOnly && !p.Allows(typ, smart.Search)) {
				w.Header().Set("Content-Type", "application/fhir+json")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprintf(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","diagnostics":"token lacks create or search on %s"}]}`, typ)
				return
			}
		}
	}
	if err := json.Unmarshal(body, &b); err == nil && len(b.Entry) == 1 && b.Entry[0].Resource.ResourceType == "Communication" {
		rc.communication(w, b.Entry[0].Request.IfNoneExist, raw.Entry[0].Resource)
		return
	}
	if err := json.Unmarshal(body, &b); err != nil || len(b.Entry) < 2 || b.Entry[1].Resource.ResourceType != "Task" || b.Entry[1].Request.IfNoneExist == "" {
		http.Error(w, "unexpected bundle", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	id, existed := rc.tasks[b.Entry[1].Request.IfNoneExist]
	if !existed {
		id = fmt.Sprintf("task-%d", len(rc.tasks)+1)
		rc.tasks[b.Entry[1].Request.IfNoneExist] = id
		doc := raw.Entry[1].Resource
		doc["id"] = id
		doc["status"] = "received"
		rc.docs[id] = doc
	}
	rc.mu.Unlock()
	status := "201 Created"
	if existed {
		status = "200 OK"
	}
	type resp struct {
		Status   string `json:"status"`
		Location string `json:"location,omitempty"`
	}
	out := struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			Response resp `json:"response"`
		} `json:"entry"`
	}{ResourceType: "Bundle", Type: "transaction-response"}
	for i := range b.Entry {
		e := struct {
			Response resp `json:"response"`
		}{resp{Status: status}}
		if i == 1 {
			e.Response.Location = "Task/" + id + "/_history/1"
		}
		out.Entry = append(out.Entry, e)
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	_ = json.NewEncoder(w).Encode(out)
}

func (rc *receiver) readTask(w http.ResponseWriter, r *http.Request) {
	if _, err := rc.tokens.Verifier().Authenticate(r); err != nil {
		http.Error(w, "token", http.StatusUnauthorized)
		return
	}
	rc.mu.Lock()
	if rc.down > 0 {
		rc.down--
		rc.mu.Unlock()
		http.Error(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient"}]}`, http.StatusServiceUnavailable)
		return
	}
	rc.reads[r.PathValue("id")]++
	doc, ok := rc.docs[r.PathValue("id")]
	var b []byte
	if ok {
		b, _ = json.Marshal(doc)
	}
	rc.mu.Unlock()
	if !ok {
		http.Error(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	_, _ = w.Write(b)
}

// edit changes the receiver's copy of a Task, as its users would.
func (rc *receiver) edit(id string, f func(map[string]any)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	f(rc.docs[id])
}

// readCount is how many times the Task was read successfully.
func (rc *receiver) readCount(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.reads[id]
}

func (rc *receiver) taskCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.tasks)
}

// communication stores an answer's Communication once per conditional key
// and answers as a transaction-response with its location.
func (rc *receiver) communication(w http.ResponseWriter, ifNoneExist string, doc map[string]any) {
	if ifNoneExist == "" {
		http.Error(w, "unconditional Communication", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	id, existed := rc.comms[ifNoneExist]
	if !existed {
		id = fmt.Sprintf("comm-%d", len(rc.comms)+1)
		rc.comms[ifNoneExist] = id
		doc["id"] = id
		rc.docs["Communication/"+id] = doc
	}
	rc.mu.Unlock()
	status := "201 Created"
	if existed {
		status = "200 OK"
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	fmt.Fprintf(w, `{"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":%q,"location":"Communication/%s/_history/1"}}]}`, status, id)
}

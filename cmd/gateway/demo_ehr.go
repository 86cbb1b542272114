package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/referralgw/gateway/fhir/push"
	"github.com/referralgw/gateway/fhir/smart"
)

// demoEHR is the on-platform EHR of the demo: a small but real FHIR
// endpoint on a loopback listener with its own SMART token endpoint. It
// accepts the gateway's transaction Bundle (conditional create on the Task
// identifier), answers with the Task it created, serves the Task back, and
// lets the demo move the Task through its workflow as the EHR's users
// would.
type demoEHR struct {
	url    string
	srv    *http.Server
	tokens *smart.TokenServer
	reg    *smart.MemoryRegistry

	mu    sync.Mutex
	byKey map[string]string         // If-None-Exist criteria → Task id
	tasks map[string]map[string]any // Task id → the Task as the EHR holds it
}

// startDemoEHR serves the EHR on ln until close.
func startDemoEHR(ln net.Listener) (*demoEHR, error) {
	e := &demoEHR{url: "http://" + ln.Addr().String(), reg: &smart.MemoryRegistry{},
		byKey: map[string]string{}, tasks: map[string]map[string]any{}}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	e.tokens, err = smart.NewTokenServer(smart.TokenServerConfig{IssuerBase: e.url, Clients: e.reg,
		Replay: smart.NewMemoryReplayCache(nil), Key: key, ClockSkew: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("demo ehr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(smart.TokenPath, e.tokens)
	mux.HandleFunc("POST /fhir", e.transaction)
	mux.HandleFunc("GET /fhir/Task/{id}", e.readTask)
	// Every FHIR server answers metadata; the gateway's directory
	// re-verification asks for it.
	mux.HandleFunc("GET /fhir/metadata", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = io.WriteString(w, `{"resourceType":"CapabilityStatement","status":"active","kind":"instance","fhirVersion":"4.0.1","format":["json"]}`)
	})
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	return e, nil
}

// registerGateway lets a gateway authenticate as clientID with key.
func (e *demoEHR) registerGateway(clientID string, key *ecdsa.PublicKey) {
	e.reg.Put(smart.Client{ID: clientID, OrgID: "demo-ehr", Scopes: push.DefaultScopes,
		JWKS: smart.JWKS{{KID: keyID(key), Key: key}}})
}

func (e *demoEHR) close() { _ = e.srv.Close() }

func fhirError(w http.ResponseWriter, code int, issue string) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":%q}]}`, issue)
}

func (e *demoEHR) transaction(w http.ResponseWriter, r *http.Request) {
	p, err := e.tokens.Verifier().Authenticate(r)
	if err != nil || !p.Allows("Task", smart.Create) {
		fhirError(w, http.StatusUnauthorized, "login")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		fhirError(w, http.StatusBadRequest, "structure")
		return
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			Resource map[string]any `json:"resource"`
			Request  struct {
				IfNoneExist string `json:"ifNoneExist"`
			} `json:"request"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Bundle" || b.Type != "transaction" {
		fhirError(w, http.StatusBadRequest, "structure")
		return
	}
	taskAt := -1
	for i, en := range b.Entry {
		if en.Resource["resourceType"] == "Task" {
			taskAt = i
		}
	}
	if taskAt < 0 || b.Entry[taskAt].Request.IfNoneExist == "" {
		fhirError(w, http.StatusBadRequest, "required")
		return
	}
	e.mu.Lock()
	crit := b.Entry[taskAt].Request.IfNoneExist
	id, existed := e.byKey[crit]
	if !existed {
		id = fmt.Sprintf("task-%d", len(e.byKey)+1)
		e.byKey[crit] = id
		t := b.Entry[taskAt].Resource
		t["id"], t["status"] = id, "received"
		e.tasks[id] = t
	}
	task, _ := json.Marshal(e.tasks[id])
	e.mu.Unlock()
	status := "201 Created"
	if existed {
		status = "200 OK"
	}
	type response struct {
		Status   string `json:"status"`
		Location string `json:"location,omitempty"`
	}
	type entry struct {
		Resource json.RawMessage `json:"resource,omitempty"`
		Response response        `json:"response"`
	}
	out := struct {
		ResourceType string  `json:"resourceType"`
		Type         string  `json:"type"`
		Entry        []entry `json:"entry"`
	}{ResourceType: "Bundle", Type: "transaction-response"}
	for i, en := range b.Entry {
		rt, _ := en.Resource["resourceType"].(string)
		ent := entry{Response: response{Status: status, Location: fmt.Sprintf("%s/%s-%d/_history/1", rt, id, i)}}
		if i == taskAt {
			ent.Resource, ent.Response.Location = task, "Task/"+id+"/_history/1"
		}
		out.Entry = append(out.Entry, ent)
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	_ = json.NewEncoder(w).Encode(out)
}

func (e *demoEHR) readTask(w http.ResponseWriter, r *http.Request) {
	if p, err := e.tokens.Verifier().Authenticate(r); err != nil || !p.Allows("Task", smart.Read) {
		fhirError(w, http.StatusUnauthorized, "login")
		return
	}
	e.mu.Lock()
	t, ok := e.tasks[r.PathValue("id")]
	var b []byte
	if ok {
		b, _ = json.Marshal(t)
	}
	e.mu.Unlock()
	if !ok {
		fhirError(w, http.StatusNotFound, "not-found")
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	_, _ = w.Write(b)
}

// move changes a Task's status as the EHR's staff would: reason is the
// statusReason text (a rejection), note the consult note reference that
// completes it.
func (e *demoEHR) move(id, status, reason, note string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.tasks[id]
	if !ok {
		return fmt.Errorf("demo ehr: no Task %s", id)
	}
	t["status"] = status
	if reason != "" {
		t["statusReason"] = map[string]any{"text": reason}
	}
	if note != "" {
		t["output"] = []any{map[string]any{
			"type":           map[string]any{"coding": []any{map[string]any{"system": "urn:referralgw:task-parameter", "code": "consult-note"}}},
			"valueReference": map[string]any{"reference": note}}}
	}
	return nil
}

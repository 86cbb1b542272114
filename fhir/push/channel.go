package push

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/referralgw/gateway/fhir/mapping"
	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/gateway"
	egress "github.com/referralgw/gateway/gateway/outbound"
	"github.com/referralgw/gateway/internal/retryafter"
)

// DefaultScopes are requested from a receiver's token endpoint: create
// and search on every type a push creates, since each entry is a
// conditional create (the receiver searches for an earlier copy, and a
// strict server, this gateway's own API among them, asks for search on the
// type for that), and read on Task to follow it. Communication is what an
// answer to a receiver is sent as. A receiver grants what it allows of
// these (SMART: the intersection), so asking for more breaks no one.
var DefaultScopes = []string{"system/Task.crs", "system/ServiceRequest.cs", "system/DocumentReference.cs",
	"system/Binary.cs", "system/Communication.cs"}

// NarrowScopes are asked for instead of DefaultScopes from a receiver
// whose token endpoint refused those with invalid_scope, as a server that
// grants nothing it was not registered for may, rather than granting what
// it allows of them: the scopes the gateway asked for before it asked for
// search, which such a receiver may have registered it with.
var NarrowScopes = []string{"system/Task.cr", "system/ServiceRequest.c", "system/DocumentReference.c", "system/Binary.c"}

// Config configures the channel. Key is needed only for receivers whose
// entries name a token endpoint.
type Config struct {
	// Key signs the gateway's SMART client assertions (RSA or EC P-384),
	// and KeyID names it in the JWKS the receivers registered.
	Key   crypto.Signer
	KeyID string
	// Scopes are requested with every token; default DefaultScopes.
	Scopes []string
	// HTTPClient sends the pushes and token requests; default an
	// outbound client (30 s timeout, non-public addresses refused unless
	// AllowPrivateNetworks or the entry's FHIR.PrivateNetwork).
	HTTPClient *http.Client
	// AllowPrivateNetworks lets the default client reach loopback and
	// private addresses for every entry (development and tests only).
	AllowPrivateNetworks bool
	// AllowHTTP permits plain-http base and token URLs (tests and local
	// development only); production endpoints must be https.
	AllowHTTP bool
	// Clock supplies the time for assertions; default time.Now.
	Clock func() time.Time
}

// Channel pushes referrals to receivers' FHIR servers. It is safe for
// concurrent use.
type Channel struct {
	cfg    Config
	mu     sync.Mutex
	tokens map[string]*smart.TokenSource // by tokenKey
}

// New returns the FHIR channel.
func New(cfg Config) *Channel {
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = egress.NewClient(egress.Config{Timeout: 30 * time.Second, AllowPrivate: cfg.AllowPrivateNetworks})
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Channel{cfg: cfg, tokens: map[string]*smart.TokenSource{}}
}

// Kind is gateway.ChannelFHIR.
func (c *Channel) Kind() gateway.ChannelKind { return gateway.ChannelFHIR }

// Reachable accepts an on-platform entry with a FHIR endpoint: a usable
// base URL (push) or none (pull), and token settings that are complete.
func (c *Channel) Reachable(_ context.Context, to *gateway.Entry) error {
	switch {
	case !to.OnPlatform:
		return errors.New("fhir: receiver is not on the platform")
	case to.FHIR == nil:
		return errors.New("fhir: receiver has no FHIR endpoint")
	}
	if to.FHIR.BaseURL == "" {
		return nil
	}
	if err := c.checkURL("base URL", to.FHIR.BaseURL); err != nil {
		return err
	}
	if (to.FHIR.TokenURL == "") != (to.FHIR.ClientID == "") {
		return errors.New("fhir: token URL and client id must be set together")
	}
	if to.FHIR.TokenURL != "" {
		if c.cfg.Key == nil {
			return errors.New("fhir: receiver needs SMART authentication but no gateway key is configured")
		}
		return c.checkURL("token URL", to.FHIR.TokenURL)
	}
	return nil
}

func (c *Channel) checkURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("fhir: %s is not an absolute URL", what)
	}
	if u.Scheme != "https" && !(c.cfg.AllowHTTP && u.Scheme == "http") {
		return fmt.Errorf("fhir: %s must use https", what)
	}
	return nil
}

// Send pushes the referral, or for a pull-mode receiver records that there
// is nothing to push.
func (c *Channel) Send(ctx context.Context, out *gateway.Outbound) (gateway.SendResult, error) {
	to := out.Receiver
	if err := c.Reachable(ctx, to); err != nil {
		return gateway.SendResult{}, gateway.Permanent(err)
	}
	if out.Delivery.Purpose == gateway.PurposeAnswer {
		return c.sendAnswer(ctx, out)
	}
	if to.FHIR.BaseURL == "" {
		return gateway.SendResult{Detail: "pull mode: the receiver reads its Tasks from the gateway"}, nil
	}
	body, err := mapping.NewTransaction(out.Referral, out.Delivery.ID, out.Records, out.Order)
	if err != nil {
		return gateway.SendResult{}, gateway.Permanent(fmt.Errorf("fhir: push %s: %w", out.Delivery.ID, err))
	}
	res, err := c.post(ctx, to, body)
	if err != nil {
		return gateway.SendResult{}, fmt.Errorf("fhir: push %s: %w", out.Delivery.ID, err)
	}
	taskID, err := taskLocation(res)
	if err != nil {
		return gateway.SendResult{}, gateway.Permanent(fmt.Errorf("fhir: push %s: %w", out.Delivery.ID, err))
	}
	return gateway.SendResult{RemoteID: taskID, Delivered: true, Detail: "transaction accepted, Task " + taskID}, nil
}

// post sends the transaction and returns the response body of a 2xx.
func (c *Channel) post(ctx context.Context, to *gateway.Entry, body []byte) ([]byte, error) {
	return c.exchange(ctx, to, http.MethodPost, "", body)
}

// exchange sends one request to the receiver's FHIR base (path below it)
// with its SMART token, and classifies the answer: the body of a 2xx, a
// Permanent error for a refusal, a plain error for what a retry may fix.
func (c *Channel) exchange(ctx context.Context, to *gateway.Entry, method, path string, body []byte) ([]byte, error) {
	target := strings.TrimSuffix(to.FHIR.BaseURL, "/")
	if path != "" {
		target += "/" + path
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	if to.FHIR.PrivateNetwork {
		ctx = egress.AllowPrivate(ctx) // for the token request too
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, gateway.Permanent(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	req.Header.Set("Accept", "application/fhir+json")
	var ts *smart.TokenSource
	if to.FHIR.TokenURL != "" {
		ts = c.tokenSource(to.FHIR)
		tok, err := ts.Token(ctx)
		var refused *smart.TokenError
		if errors.As(err, &refused) && refused.Code == smart.CodeInvalidScope {
			if narrow := c.narrowScopes(to.FHIR, ts); narrow != nil {
				ts = narrow
				tok, err = ts.Token(ctx)
			}
		}
		if err != nil {
			var te *smart.TokenError
			if errors.As(err, &te) && te.Status >= 400 && te.Status < 500 && !retryableStatus(te.Status) {
				return nil, gateway.Permanent(fmt.Errorf("token: %s", te.Code))
			}
			if errors.Is(err, egress.ErrNotPublic) {
				return nil, gateway.Permanent(fmt.Errorf("token: %w", err))
			}
			var wait time.Duration
			if te != nil {
				wait = te.RetryAfter // a throttling token endpoint's Retry-After
			}
			return nil, gateway.RetryAfter(fmt.Errorf("token: %w", err), wait)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := c.cfg.HTTPClient.Do(req)
	if errors.Is(err, egress.ErrNotPublic) {
		return nil, gateway.Permanent(fmt.Errorf("%w (mark the directory entry's FHIR endpoint as on a private network to allow it)", err))
	} else if err != nil {
		return nil, err // network failure or timeout: retried
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return b, nil
	case res.StatusCode == http.StatusUnauthorized && ts != nil:
		ts.Invalidate() // the next attempt fetches a fresh token
		return nil, fmt.Errorf("receiver answered 401; token dropped, will retry")
	case retryableStatus(res.StatusCode):
		// A 429 or 503 may say when to come back: the queue waits that long.
		return nil, gateway.RetryAfter(fmt.Errorf("receiver answered %d%s", res.StatusCode, issueCodes(b)),
			retryafter.FromResponse(res, c.cfg.Clock()))
	default:
		return nil, gateway.Permanent(fmt.Errorf("receiver refused with %d%s", res.StatusCode, issueCodes(b)))
	}
}

// retryableStatus reports whether an HTTP answer, from the receiver's FHIR
// server or its token endpoint alike, says "not now" rather than "no": a
// timeout (408), throttling (429) or a server error (5xx).
func retryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

func (c *Channel) tokenSource(ep *gateway.FHIREndpoint) *smart.TokenSource {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := tokenKey(ep)
	ts, ok := c.tokens[k]
	if !ok {
		ts = c.newTokenSource(ep, c.cfg.Scopes)
		c.tokens[k] = ts
	}
	return ts
}

// tokenKey names a receiver's token source: its token endpoint and our
// client id there.
func tokenKey(ep *gateway.FHIREndpoint) string { return ep.TokenURL + " " + ep.ClientID }

func (c *Channel) newTokenSource(ep *gateway.FHIREndpoint, scopes []string) *smart.TokenSource {
	return &smart.TokenSource{TokenURL: ep.TokenURL, ClientID: ep.ClientID, Key: c.cfg.Key, KeyID: c.cfg.KeyID,
		Scopes: scopes, HTTPClient: c.cfg.HTTPClient, Clock: c.cfg.Clock}
}

// narrowScopes replaces the token source of a receiver that refused
// DefaultScopes with one asking for NarrowScopes, once, and returns it;
// nil when the scopes were configured, or were narrowed already.
func (c *Channel) narrowScopes(ep *gateway.FHIREndpoint, refused *smart.TokenSource) *smart.TokenSource {
	if !slices.Equal(c.cfg.Scopes, DefaultScopes) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := tokenKey(ep)
	if cur := c.tokens[k]; cur != nil && slices.Equal(cur.Scopes, NarrowScopes) {
		if cur == refused {
			return nil // refused narrow too: the registration is the operator's to mend
		}
		return cur // narrowed meanwhile by another push
	}
	ts := c.newTokenSource(ep, NarrowScopes)
	c.tokens[k] = ts
	return ts
}

// issueCodes summarises an OperationOutcome by its issue codes only: the
// receiver's diagnostics may echo content and are not kept.
func issueCodes(body []byte) string {
	var oo struct {
		ResourceType string
		Issue        []struct{ Code string }
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		return ""
	}
	codes := make([]string, 0, len(oo.Issue))
	for _, is := range oo.Issue {
		codes = append(codes, is.Code)
	}
	return " (" + strings.Join(codes, ", ") + ")"
}

// taskLocation finds the receiver's Task id in a transaction-response: the
// second entry answers the Task entry of mapping.NewTransaction.
func taskLocation(body []byte) (string, error) {
	var b struct {
		ResourceType string
		Type         string
		Entry        []struct {
			Resource *struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
			} `json:"resource"`
			Response *struct {
				Location string `json:"location"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Bundle" || b.Type != "transaction-response" {
		return "", errors.New("receiver did not answer with a transaction-response Bundle")
	}
	if len(b.Entry) < 2 {
		return "", fmt.Errorf("transaction-response has %d entries, want one per request entry", len(b.Entry))
	}
	e := b.Entry[1]
	if e.Response != nil && e.Response.Location != "" {
		loc := e.Response.Location
		if i := strings.Index(loc, "Task/"); i >= 0 {
			id, _, _ := strings.Cut(loc[i+len("Task/"):], "/")
			if id != "" {
				return id, nil
			}
		}
	}
	if e.Resource != nil && e.Resource.ResourceType == "Task" && e.Resource.ID != "" {
		return e.Resource.ID, nil
	}
	return "", errors.New("transaction-response names no Task")
}

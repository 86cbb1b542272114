package faxsim

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/referralgw/gateway/fax/phaxio"
)

// EmulatorHeader is set to "true" on every response and callback request.
const EmulatorHeader = "X-Fax-Emulator"

// Behavior is the outcome the emulator gives faxes sent to a number.
type Behavior string

// Behaviors a Config may assign to a destination number.
const (
	Success         Behavior = "success"           // delivered (the default)
	Busy            Behavior = "busy"              // line busy: final failure
	NoAnswer        Behavior = "no-answer"         // no answer: final failure
	Fail            Behavior = "fail"              // fax negotiation failed: final failure
	BusyThenSuccess Behavior = "busy-then-success" // first fax to the number busy, later ones delivered
	Unavailable     Behavior = "unavailable"       // submission refused with HTTP 503
)

// Error codes the emulator reports. They are the emulator's own numbers,
// not Phaxio's, and exist so tests can tell failures apart.
const (
	CodeBusy     = 9001
	CodeNoAnswer = 9002
	CodeFailed   = 9003
)

// Config sets up an emulator. Zero values work except for the credentials.
type Config struct {
	APIKey        string              // expected basic-auth user
	APISecret     string              // expected basic-auth password
	CallbackToken []byte              // key of the X-Phaxio-Signature HMAC
	Behaviors     map[string]Behavior // by E.164 number; Success when absent
	CallbackDelay time.Duration       // wait before posting a callback
	HTTPClient    *http.Client        // posts callbacks; 10 s timeout when nil
	Now           func() time.Time    // clock for created_at/completed_at; time.Now when nil
	// TransmitDuplicates makes the emulator behave as Phaxio does: a
	// second submission with the same idempotency tag is a second fax.
	// By default the emulator returns the first fax instead.
	TransmitDuplicates bool
}

// File is a document received with a fax.
type File struct {
	Name        string
	ContentType string
	Data        []byte
}

// CallbackResult is what happened when the emulator posted a callback.
type CallbackResult struct {
	StatusCode int    // HTTP status the callback URL answered, 0 if no answer
	Err        string // transport error, empty when an answer came back
}

// Fax is the emulator's record of one fax job.
type Fax struct {
	ID           phaxio.FaxID
	To           string            // E.164 destination
	Files        []File            // documents as received, in order
	CallbackURL  string            // where the outcome is posted; empty for none
	Tags         map[string]string // tag[name] fields of the submission
	Status       phaxio.Status     // queued until the callback is due, then final
	NumPages     int               // PDF pages counted with pdfcpu, 1 per other file
	ErrorType    string            // "lineError" or "faxError" on failure
	ErrorCode    int               // one of the Code* constants on failure
	ErrorMessage string
	CreatedAt    time.Time        // from Config.Now at submission
	CompletedAt  time.Time        // from Config.Now when the outcome was decided
	Submissions  int              // 1, plus one per idempotent resubmission
	Callbacks    []CallbackResult // one per callback posted
}

// Server is the emulator; it is an http.Handler. Call Close to stop
// pending callbacks.
type Server struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	nextID      phaxio.FaxID
	faxes       map[phaxio.FaxID]*Fax
	order       []phaxio.FaxID
	byKey       map[string]phaxio.FaxID
	sentTo      map[string]int // faxes accepted per number, for BusyThenSuccess
	unavailable bool
}

// New returns an emulator configured by cfg.
func New(cfg Config) *Server {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Behaviors = maps.Clone(cfg.Behaviors)
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:    cfg,
		ctx:    ctx,
		cancel: cancel,
		nextID: 100000,
		faxes:  make(map[phaxio.FaxID]*Fax),
		byKey:  make(map[string]phaxio.FaxID),
		sentTo: make(map[string]int),
	}
}

// SetUnavailable makes every API request fail with HTTP 503 (true) or
// restores service (false), as when the vendor has an outage.
func (s *Server) SetUnavailable(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unavailable = down
}

// Received returns copies of every fax accepted, oldest first.
func (s *Server) Received() []Fax {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fax, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.faxes[id].clone())
	}
	return out
}

// Fax returns a copy of the fax with the given id.
func (s *Server) Fax(id phaxio.FaxID) (Fax, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.faxes[id]
	if !ok {
		return Fax{}, false
	}
	return f.clone(), true
}

// Close cancels callbacks still waiting out CallbackDelay and waits for
// those being posted, bounded by the HTTP client's timeout.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
}

func (f *Fax) clone() Fax {
	c := *f
	c.Files = slices.Clone(f.Files)
	c.Tags = maps.Clone(f.Tags)
	c.Callbacks = slices.Clone(f.Callbacks)
	return c
}

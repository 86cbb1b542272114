package main

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/referralgw/gateway/direct/channel"
	"github.com/referralgw/gateway/direct/smtpout"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// benchTimers sum the wall time spent in each instrumented place, in
// nanoseconds, across every goroutine of both nodes. Overlapping calls
// each count.
type benchTimers struct {
	db     atomic.Int64 // Store.Update and Store.View (the transaction, including its callback)
	net    atomic.Int64 // SMTP sends and HTTP round trips (including the far side's handling)
	crypto atomic.Int64 // Direct seal (sign+encrypt) and open (decrypt+verify), with MIME work
	other  atomic.Int64 // FHIR mapping and fax packet rendering inside Send, outside the network
	// updates and views count the core's transactions (the bench's own
	// polling excluded).
	updates, views atomic.Int64
	// rounds counts the round trips to PostgreSQL inside those
	// transactions (zero on the embedded store).
	rounds atomic.Int64
}

func (t *benchTimers) reset() {
	t.db.Store(0)
	t.net.Store(0)
	t.crypto.Store(0)
	t.other.Store(0)
	t.updates.Store(0)
	t.views.Store(0)
	t.rounds.Store(0)
}

// callTimes is what one instrumented call spent in the database and on
// the network, so that the remainder can be attributed to crypto.
type callTimes struct{ db, net atomic.Int64 }

type callTimesKey struct{}
type quietKey struct{}

func withCallTimes(ctx context.Context, c *callTimes) context.Context {
	return context.WithValue(ctx, callTimesKey{}, c)
}

// quiet marks the benchmark's own polling, which is not counted.
func quiet(ctx context.Context) context.Context { return context.WithValue(ctx, quietKey{}, true) }

func isQuiet(ctx context.Context) bool { return ctx.Value(quietKey{}) != nil }

func (t *benchTimers) addDB(ctx context.Context, d time.Duration) {
	t.db.Add(int64(d))
	if c, ok := ctx.Value(callTimesKey{}).(*callTimes); ok {
		c.db.Add(int64(d))
	}
}

func (t *benchTimers) addNet(ctx context.Context, d time.Duration) {
	t.net.Add(int64(d))
	if c, ok := ctx.Value(callTimesKey{}).(*callTimes); ok {
		c.net.Add(int64(d))
	}
}

// timedStore times the core's transactions.
type timedStore struct {
	gateway.Store
	t *benchTimers
}

func (s timedStore) Update(ctx context.Context, fn func(gateway.Tx) error) error {
	if isQuiet(ctx) {
		return s.Store.Update(ctx, fn)
	}
	s.t.updates.Add(1)
	start := time.Now()
	err := s.Store.Update(sqlstore.CountRoundTrips(ctx, &s.t.rounds), fn)
	s.t.addDB(ctx, time.Since(start))
	return err
}

func (s timedStore) View(ctx context.Context, fn func(gateway.Tx) error) error {
	if isQuiet(ctx) {
		return s.Store.View(ctx, fn)
	}
	s.t.views.Add(1)
	start := time.Now()
	err := s.Store.View(sqlstore.CountRoundTrips(ctx, &s.t.rounds), fn)
	s.t.addDB(ctx, time.Since(start))
	return err
}

// timedTransport times SMTP sends.
type timedTransport struct {
	next channel.Transport
	t    *benchTimers
}

func (tt timedTransport) Send(ctx context.Context, from string, to []string, msg []byte) (smtpout.Result, error) {
	start := time.Now()
	res, err := tt.next.Send(ctx, from, to, msg)
	tt.t.addNet(ctx, time.Since(start))
	return res, err
}

// timedRoundTripper times HTTP exchanges (FHIR pushes, token requests, fax API).
type timedRoundTripper struct {
	next http.RoundTripper
	t    *benchTimers
}

func (rt timedRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := rt.next.RoundTrip(r)
	rt.t.addNet(r.Context(), time.Since(start))
	return res, err
}

// timedChannel attributes a send's time outside the network to crypto
// (Direct: compose, sign, encrypt) or other work (FHIR mapping, fax
// rendering).
type timedChannel struct {
	gateway.Channel
	t *benchTimers
}

func (c timedChannel) Send(ctx context.Context, out *gateway.Outbound) (gateway.SendResult, error) {
	ct := &callTimes{}
	start := time.Now()
	res, err := c.Channel.Send(withCallTimes(ctx, ct), out)
	rest := time.Since(start) - time.Duration(ct.net.Load()) - time.Duration(ct.db.Load())
	if c.Kind() == gateway.ChannelDirect {
		c.t.crypto.Add(int64(rest))
	} else {
		c.t.other.Add(int64(rest))
	}
	return res, err
}

// timedPoller keeps a wrapped channel's ReceiptPoller visible to the core.
type timedPoller struct {
	timedChannel
	p gateway.ReceiptPoller
}

func (c timedPoller) PollReceipt(ctx context.Context, d *gateway.Delivery) (*gateway.Receipt, error) {
	return c.p.PollReceipt(ctx, d)
}

func (t *benchTimers) wrapChannel(c gateway.Channel) gateway.Channel {
	tc := timedChannel{Channel: c, t: t}
	if p, ok := c.(gateway.ReceiptPoller); ok {
		return timedPoller{timedChannel: tc, p: p}
	}
	return tc
}

// hooks are the node options that install the timers.
func (t *benchTimers) hooks() nodeOptions {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 64
	return nodeOptions{
		WrapStore:     func(s gateway.Store) gateway.Store { return timedStore{Store: s, t: t} },
		WrapChannel:   t.wrapChannel,
		WrapTransport: func(tr channel.Transport) channel.Transport { return timedTransport{next: tr, t: t} },
		HTTPClient:    &http.Client{Timeout: 30 * time.Second, Transport: timedRoundTripper{next: base, t: t}},
	}
}

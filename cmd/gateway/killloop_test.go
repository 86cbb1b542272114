package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/fhir/smartstore"
	"github.com/referralgw/gateway/gateway"
)

// The kill loop's knobs. CI runs the small default; the full run is
//
//	go test -run TestKillLoop ./cmd/gateway/ -v -timeout 30m -killloop.referrals 1000 -killloop.kills 10
var (
	klReferrals   = flag.Int("killloop.referrals", 60, "kill loop: referrals in all, spread evenly over FHIR, Direct and fax")
	klKills       = flag.Int("killloop.kills", 4, "kill loop: faults during the run: SIGKILL of A, A, B, then A's database connections terminated, and again")
	klSeed        = flag.Int64("killloop.seed", 0, "kill loop: seed of the kill schedule; 0 picks one from the clock (it is logged)")
	klConcurrency = flag.Int("killloop.concurrency", 8, "kill loop: referrals submitted at once")
	klRescue      = flag.Duration("killloop.rescue-after", 2*time.Second, "kill loop: the nodes' --rescue-after")
	klTimeout     = flag.Duration("killloop.timeout", 4*time.Minute, "kill loop: bound on the whole run")
	klBin         = flag.String("killloop.bin", "", "kill loop: gateway binary to run; default: go build this package")
)

// klChannels is the channel of referral i and the receiver it goes to.
var klChannels = []gateway.ChannelKind{gateway.ChannelFHIR, gateway.ChannelDirect, gateway.ChannelFax}

// klKill is one planned fault: when the run's progress (referrals
// submitted plus referrals received, over twice their number) reaches At,
// Victim dies by SIGKILL and is started again after Down, or, for "A-db",
// every PostgreSQL connection of A is terminated (A keeps running).
type klKill struct {
	At     float64
	Victim string // "A" (sending gateway), "B" (receiving HISP) or "A-db"
	Down   time.Duration
}

// klPlan draws the faults from the seed: moments between 5 % and 90 % of
// the run, downtime up to 1.5 s; in order, A, A, B, A-db, and again.
func klPlan(seed int64, kills int) []klKill {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6b696c6c))
	plan := make([]klKill, kills)
	for i := range plan {
		plan[i] = klKill{At: 0.05 + 0.85*rng.Float64(), Victim: "A", Down: time.Duration(rng.IntN(1500)) * time.Millisecond}
	}
	slices.SortFunc(plan, func(a, b klKill) int { return cmpFloat(a.At, b.At) })
	for i := range plan {
		plan[i].Victim = []string{"A", "A", "B", "A-db"}[i%4]
	}
	return plan
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestKillLoop is issue 16's kill -9 loop: the demo network with both
// gateways as real `gateway serve` processes (the built binary) on
// PostgreSQL, the on-platform EHR and the fax emulator (which, as Phaxio,
// faxes a resubmission again) in this process. Referrals go in through A's
// FHIR API on all three channels while A, and on every third kill B, die by
// SIGKILL at seeded random moments and are started again on the same
// database. When every referral is received, each receiver must have it
// exactly once (EHR Tasks by the referrer's identifier, B's inbox by
// Message-ID, faxes by referral tag), nothing may be lost, MDNs must have
// come back, and both audit trails must verify with `gateway audit verify`.
func TestKillLoop(t *testing.T) {
	db := requirePG(t)
	seed := *klSeed
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000_007
	}
	n := *klReferrals
	if n < len(klChannels) {
		t.Fatalf("-killloop.referrals must be at least %d", len(klChannels))
	}
	plan := klPlan(seed, *klKills)
	t.Logf("kill loop: seed %d, %d referrals, %d kills, rescue after %s (rerun with -killloop.seed %d)", seed, n, len(plan), *klRescue, seed)
	ctx, cancel := context.WithTimeout(t.Context(), *klTimeout)
	defer cancel()
	dir := t.TempDir()
	bin := buildGateway(ctx, t, dir)
	kl := startKillLoop(ctx, t, dir, db, bin)

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range *klConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := kl.sub.submit(ctx, i, benchReceivers[klChannels[i%len(klChannels)]]); err != nil {
					errs <- err
				}
			}
		}()
	}
	go func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()

	// The killer: each planned kill waits for its moment.
	var received int
	progress := func() float64 { return float64(int(kl.sub.submitted.Load())+received) / float64(2*n) }
	pending := plan
	var killLog []string
	var lastFault time.Duration
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := kl.received(ctx)
		if err != nil {
			t.Fatalf("progress: %v", err)
		}
		received = r
		for len(pending) > 0 && progress() >= pending[0].At {
			k := pending[0]
			pending = pending[1:]
			line, err := kl.killAndRestart(ctx, k, time.Since(start), progress())
			if err != nil {
				t.Fatal(err)
			}
			killLog = append(killLog, line)
			lastFault = time.Since(start)
			t.Log(line)
		}
		for _, p := range []*klProc{kl.a, kl.b} {
			if !p.running() {
				t.Fatalf("%s: %v\n%s", p.name, errExited, p.logTail(30))
			}
		}
		if received == n && len(pending) == 0 {
			break
		}
		select {
		case err := <-errs:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatalf("after %s: %d of %d referrals submitted, %d received, %d kills left: %v\n%s\nlogs: %s, %s",
				time.Since(start).Round(time.Millisecond), kl.sub.submitted.Load(), n, received, len(pending), ctx.Err(),
				kl.diagnose(context.WithoutCancel(ctx)), kl.a.log.Name(), kl.b.log.Name())
		case <-tick.C:
		}
	}
	wg.Wait()
	deliveredIn := time.Since(start)
	// Anything a rescued job were to send again would go out within a
	// rescue interval (plus the leader's look); wait that out before
	// counting, so a late duplicate is seen.
	settle := 2**klRescue + 3*time.Second
	time.Sleep(settle)
	for _, p := range []*klProc{kl.a, kl.b} {
		if err := p.stop(30 * time.Second); err != nil {
			t.Errorf("stop: %v\n%s", err, p.logTail(20))
		}
	}
	res := kl.check(ctx, t, n)
	res.Seed, res.Kills, res.Delivered, res.AfterLast = seed, killLog, deliveredIn, deliveredIn-lastFault
	t.Log(res.String())
}

// killLoop is the running network of the loop.
type killLoop struct {
	ln       *loopNet
	a, b     *klProc
	cfgA     Config
	cfgB     Config
	bin      string
	sub      *klSubmitter
	progress *pgx.Conn // A's schema, read only: how many referrals are received
	appA     string    // application_name of A's database connections
}

// startKillLoop builds the demo network (certificates, schemas, EHR, fax
// emulator, directories, an EHR client registered at A) with in-process
// nodes, stops those nodes and starts A and B again as `gateway serve`
// processes on the same databases, data directories and addresses.
func startKillLoop(ctx context.Context, t *testing.T, dir, db, bin string) *killLoop {
	t.Helper()
	ln, err := startNet(ctx, netOptions{Dir: dir, DB: db, FollowEvery: time.Hour, FaxDuplicates: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ln.fax.Close()
		_ = ln.faxSrv.Close()
		ln.ehr.close()
		if ln.drop != nil {
			ln.drop()
		}
	})
	if err := ln.seed(ctx); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P384(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := smart.PublicJWKS(smart.PublicKeyWithKID{KID: "killloop-1", Key: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	client, err := smartstore.New(ln.a.app.svc).Register(ctx, "user:killloop", smart.Client{OrgID: "clinic-a", Scopes: klScopes}, jwks)
	if err != nil {
		t.Fatal(err)
	}
	kl := &killLoop{ln: ln, cfgA: ln.a.app.cfg, cfgB: ln.b.app.cfg, bin: bin}
	kl.sub = &klSubmitter{base: ln.a.baseURL, tokenURL: ln.a.tokens.TokenURL(), clientID: client.ID, keyID: "killloop-1", key: key,
		hc: &http.Client{Timeout: 30 * time.Second}}
	smtpA, smtpB := ln.a.smtpLn.Addr().String(), ln.b.smtpLn.Addr().String()
	ln.stop()
	for range 2 {
		if err := <-ln.served; err != nil {
			t.Fatalf("stop in-process node: %v", err)
		}
	}
	ln.a.Close()
	ln.b.Close()

	proc := func(name string, c Config, smtp string) *klProc {
		f, err := os.Create(filepath.Join(dir, "node-"+strings.ToLower(name)+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s's warnings and errors:\n%s", name, logProblems(f.Name(), 40))
			}
			f.Close()
		})
		e := c.Edges
		return &klProc{name: name, bin: bin, log: f, base: "http://" + c.HTTPAddr,
			args: klServeArgs(c, smtp, *klRescue),
			env:  childEnv("GATEWAY_FAX_KEY="+e.FaxKey, "GATEWAY_FAX_SECRET="+e.FaxSecret, "GATEWAY_FAX_CALLBACK_TOKEN="+e.FaxCallbackToken)}
	}
	// A's connections carry an application name of their own, so the
	// database fault ends them and nobody else's.
	cA := kl.cfgA
	kl.appA = fmt.Sprintf("killloop_a_%d_%d", os.Getpid(), time.Now().UnixNano())
	cA.DB += "&application_name=" + kl.appA
	kl.a, kl.b = proc("A", cA, smtpA), proc("B", kl.cfgB, smtpB)
	for _, p := range []*klProc{kl.b, kl.a} {
		if err := p.start(ctx); err != nil {
			t.Fatalf("%v\n%s", err, p.logTail(30))
		}
		t.Cleanup(func() {
			if p.running() {
				_, _ = p.kill()
			}
		})
	}
	if kl.progress, err = pgx.Connect(ctx, kl.cfgA.DB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kl.progress.Close(context.Background()) })
	return kl
}

// klServeArgs are the `gateway serve` flags of a node configured as c.
func klServeArgs(c Config, smtp string, rescue time.Duration) []string {
	e := c.Edges
	args := []string{"serve", "--db", c.DB, "--data", c.DataDir, "--http", c.HTTPAddr, "--shutdown-grace", "10s",
		"--rescue-after", rescue.String(), "--receipt-poll", max(rescue, time.Second).String(), "--fhir-follow", "1h",
		"--fhir-allow-http", "--direct-domain", e.DirectDomain, "--direct-certs", e.DirectCerts, "--smtp", smtp,
		"--smarthost", e.Smarthost, "--smtp-tls-cert", e.SMTPTLSCert, "--smtp-tls-key", e.SMTPTLSKey, "--smtp-tls-roots", e.SMTPTLSRoots,
		"--http-max-conns-per-addr", "4096", "--http-max-requests-per-addr", "4096"}
	if e.FaxAPI != "" {
		args = append(args, "--fax-api", e.FaxAPI, "--fax-allow-http")
	}
	if c.FaxVendorID != "" {
		args = append(args, "--fax-vendor", c.FaxVendorID)
	}
	return args
}

// received counts A's referrals in status received (a read of A's
// schema; the loop writes nothing to the databases).
func (kl *killLoop) received(ctx context.Context) (int, error) {
	var got int
	err := kl.progress.QueryRow(ctx, "SELECT count(*) FROM referrals WHERE status = $1", string(gateway.StatusReceived)).Scan(&got)
	return got, err
}

// killAndRestart carries out one planned kill and describes it.
func (kl *killLoop) killAndRestart(ctx context.Context, k klKill, at time.Duration, progress float64) (string, error) {
	if k.Victim == "A-db" {
		ended, err := kl.terminateA(ctx)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("pg_terminate_backend on A's %d connections at %s, progress %.0f%% (planned %.0f%%)",
			ended, at.Round(time.Millisecond), 100*progress, 100*k.At), nil
	}
	p := kl.a
	if k.Victim == "B" {
		p = kl.b
	}
	pid, err := p.kill()
	if err != nil {
		return "", err
	}
	time.Sleep(k.Down)
	t0 := time.Now()
	if err := p.start(ctx); err != nil {
		return "", fmt.Errorf("%v\n%s", err, p.logTail(30))
	}
	return fmt.Sprintf("SIGKILL %s (pid %d) at %s, progress %.0f%% (planned %.0f%%), down %s, healthy %s after restart",
		p.name, pid, at.Round(time.Millisecond), 100*progress, 100*k.At, k.Down, time.Since(t0).Round(time.Millisecond)), nil
}

// diagnose summarises where A's work stands (referrals by status,
// deliveries by channel and state, queue jobs by kind and state) for a
// run that did not finish.
func (kl *killLoop) diagnose(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var b strings.Builder
	queries := []string{
		"SELECT 'A referral ' || status, count(*) FROM referrals GROUP BY 1 ORDER BY 1",
		"SELECT 'A delivery ' || channel || ' ' || state, count(*) FROM deliveries GROUP BY 1 ORDER BY 1",
		"SELECT 'A job ' || kind || ' ' || state, count(*) FROM river_job WHERE state <> 'completed' GROUP BY 1 ORDER BY 1",
		"SELECT 'A inbound ' || state, count(*) FROM inbound_messages GROUP BY 1 ORDER BY 1",
		"SELECT 'B inbound ' || state, count(*) FROM %B.inbound_messages GROUP BY 1 ORDER BY 1",
		"SELECT 'B notice ' || state, count(*) FROM %B.inbound_notices GROUP BY 1 ORDER BY 1",
		"SELECT 'B job ' || kind || ' ' || state || ' attempt ' || attempt || coalesce(' ' || left(errors[array_length(errors,1)]->>'error', 160), ''), count(*) FROM %B.river_job WHERE state <> 'completed' GROUP BY 1 ORDER BY 1",
	}
	schemaB := kl.schemaB()
	for _, q := range queries {
		q = strings.ReplaceAll(q, "%B", schemaB)
		rows, err := kl.progress.Query(ctx, q)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", q, err)
			continue
		}
		for rows.Next() {
			var what string
			var c int
			if err := rows.Scan(&what, &c); err == nil {
				fmt.Fprintf(&b, "  %s: %d\n", what, c)
			}
		}
		rows.Close()
	}
	if a, err := openApp(ctx, kl.cfgA, io.Discard, io.Discard); err == nil {
		refs, _ := a.svc.ListReferrals(ctx, gateway.ReferralQuery{RequesterOrg: "clinic-a", Statuses: []gateway.Status{gateway.StatusFailed}})
		for _, r := range refs[:min(len(refs), 3)] {
			_, ds, _ := a.svc.Referral(ctx, r.ID)
			for _, d := range ds {
				fmt.Fprintf(&b, "  failed %s: %s; delivery %s %s attempts %d: %s\n", r.ID, r.FailureReason, d.Channel, d.State, d.Attempts, d.LastError)
			}
		}
		a.Close()
	}
	faxes := map[string]int{}
	for _, f := range kl.ln.fax.Received() {
		cb := "no callback"
		if len(f.Callbacks) > 0 {
			last := f.Callbacks[len(f.Callbacks)-1]
			cb = fmt.Sprintf("callback %d %s", last.StatusCode, last.Err)
		}
		faxes[fmt.Sprintf("fax %s, %s", f.Status, cb)]++
	}
	for what, c := range faxes {
		fmt.Fprintf(&b, "  %s: %d\n", what, c)
	}
	return b.String()
}

// schemaB is the PostgreSQL schema of B's database URL.
func (kl *killLoop) schemaB() string {
	return kl.cfgB.DB[strings.LastIndex(kl.cfgB.DB, "search_path=")+len("search_path="):]
}

// terminateA ends A's database connections, found by their application
// name first and then ended one pid at a time: in one statement PostgreSQL
// may call pg_terminate_backend before the name filter, on everybody's
// connections.
func (kl *killLoop) terminateA(ctx context.Context) (int, error) {
	rows, err := kl.progress.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", kl.appA)
	if err != nil {
		return 0, fmt.Errorf("A's connections: %w", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return 0, fmt.Errorf("A's connections: %w", err)
	}
	ended := 0
	for _, pid := range pids {
		var ok bool
		if err := kl.progress.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil {
			return ended, fmt.Errorf("terminate A's connection %d: %w", pid, err)
		}
		if ok {
			ended++
		}
	}
	return ended, nil
}

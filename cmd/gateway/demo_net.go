package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/referralgw/gateway/direct/certs"
	"github.com/referralgw/gateway/fax/faxsim"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/httpedge"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// The synthetic referral network of the demo and the benchmark. Practice A
// (the referrer) runs one gateway; practice B, a Direct-only behavioral
// health practice, runs the other as its HISP.
const (
	demoDomainA   = "direct.family-a.example"
	demoDomainB   = "direct.bh-b.example"
	demoAddrA     = "referrals@" + demoDomainA
	demoAddrB     = "intake@" + demoDomainB
	demoFaxNumber = "+15555550142"
	demoFaxKey    = "emulator-key"
	demoFaxSecret = "emulator-secret"
	demoFaxToken  = "emulator-callback-token"
	demoEHRClient = "referralgw-family-a"
)

// loopNet is the whole network on loopback: two gateway nodes talking
// SMTP with STARTTLS to each other, the on-platform EHR, and the fax
// EMULATOR posting signed callbacks to A.
type loopNet struct {
	dir      string
	a, b     *node
	httpA    net.Listener
	httpB    net.Listener
	ehr      *demoEHR
	fax      *faxsim.Server
	faxSrv   *http.Server
	certA    *x509.Certificate // A's Direct identity, which B's replies encrypt for
	certBPEM string            // B's Direct certificate, as A's directory holds it
	stop     context.CancelFunc
	served   chan error
	drop     func() // drops the PostgreSQL schemas; nil for the embedded store
	// analyze refreshes the planner statistics of the nodes' PostgreSQL
	// schemas; nil for the embedded store.
	analyze func(context.Context) error
	// extra are further nodes of practice A on A's database (bench
	// --nodes): they share A's keys and work A's queue.
	extra []*node
}

// netOptions configure startNet.
type netOptions struct {
	Dir string // working directory: both nodes' data, certificates, TLS files
	DB  string // PostgreSQL URL: each node gets a fresh schema; empty: embedded stores
	// AppRole, with DB, opens the nodes as this application role once
	// DB's user has migrated their schemas (see pgstore.GrantAppRole).
	AppRole string
	Keep    bool      // keep the PostgreSQL schemas after the run
	Log     io.Writer // the nodes' logs (ids and metadata only)
	Hooks   nodeOptions
	// FollowEvery overrides how often A reads pushed Tasks back (the
	// benchmark, which stops at delivery, makes it rare).
	FollowEvery time.Duration
	// NoRounds schedules neither the FHIR follow round nor directory
	// re-verification on any node (the benchmark).
	NoRounds bool
	// ExtraA starts this many more nodes of practice A on A's PostgreSQL
	// schema, as further `gateway serve` processes would be.
	ExtraA int
	// FaxDuplicates makes the fax emulator transmit a second submission
	// with the same idempotency tag, as Phaxio does, so a resend shows as
	// a second fax (the kill loop counts them).
	FaxDuplicates bool
}

// demoQueue polls fast: the demo and the benchmark wait on deliveries.
func demoQueue() sqlstore.QueueConfig {
	return sqlstore.QueueConfig{MaxWorkers: 16, FetchPollInterval: 20 * time.Millisecond, MaxAttempts: 5,
		RetryBase: 100 * time.Millisecond, RetryMax: time.Second, JobTimeout: 30 * time.Second, RescueAfter: time.Minute}
}

// startNet builds and starts the network.
func startNet(ctx context.Context, o netOptions) (_ *loopNet, err error) {
	if o.ExtraA > 0 && o.DB == "" {
		return nil, errors.New("demo: more than one node per practice needs PostgreSQL (the embedded store has one owner)")
	}
	ln := &loopNet{dir: o.Dir, served: make(chan error, 2+o.ExtraA)}
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	now := time.Now().UTC()
	certsA, certsB := filepath.Join(o.Dir, "certs-a"), filepath.Join(o.Dir, "certs-b")
	if err := certs.WriteDevBundle(certsA, demoDomainA, []string{demoAddrA}, now); err != nil {
		return nil, err
	}
	if err := certs.WriteDevBundle(certsB, demoDomainB, []string{demoAddrB}, now); err != nil {
		return nil, err
	}
	// Each side trusts the other's CA.
	for _, p := range [][2]string{{certsB, certsA}, {certsA, certsB}} {
		b, err := os.ReadFile(filepath.Join(p[0], "ca.pem"))
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Join(p[1], "anchors"), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(p[1], "anchors", "peer.pem"), b, 0o644); err != nil {
			return nil, err
		}
	}
	certAPEM, err := os.ReadFile(filepath.Join(certsA, demoAddrA+".pem"))
	if err != nil {
		return nil, err
	}
	cs, err := certs.DecodeCertsPEM(certAPEM)
	if err != nil || len(cs) == 0 {
		return nil, fmt.Errorf("demo: A's certificate: %v", err)
	}
	ln.certA = cs[0]
	certBPEM, err := os.ReadFile(filepath.Join(certsB, demoAddrB+".pem"))
	if err != nil {
		return nil, err
	}
	ln.certBPEM = string(certBPEM)
	tlsCert, tlsKey, err := writeLoopbackTLS(o.Dir, now)
	if err != nil {
		return nil, err
	}

	listen := func() (net.Listener, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			closers = append(closers, func() { _ = l.Close() })
		}
		return l, err
	}
	var smtpA, smtpB, ehrLn, faxLn net.Listener
	for _, p := range []*net.Listener{&ln.httpA, &ln.httpB, &smtpA, &smtpB, &ehrLn, &faxLn} {
		if *p, err = listen(); err != nil {
			return nil, fmt.Errorf("demo: listen: %w", err)
		}
	}

	// The fax EMULATOR (no fax is ever transmitted).
	ln.fax = faxsim.New(faxsim.Config{APIKey: demoFaxKey, APISecret: demoFaxSecret, CallbackToken: []byte(demoFaxToken),
		TransmitDuplicates: o.FaxDuplicates})
	closers = append(closers, ln.fax.Close)
	ln.faxSrv = &http.Server{Handler: ln.fax, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = ln.faxSrv.Serve(faxLn) }()
	closers = append(closers, func() { _ = ln.faxSrv.Close() })

	if ln.ehr, err = startDemoEHR(ehrLn); err != nil {
		return nil, err
	}
	closers = append(closers, ln.ehr.close)

	cfgA := Config{DataDir: filepath.Join(o.Dir, "a"), HTTPAddr: ln.httpA.Addr().String(), BAAWarningWindow: gateway.DefaultBAAWarningWindow, FaxVendorID: "faxvendor"}
	cfgB := Config{DataDir: filepath.Join(o.Dir, "b"), HTTPAddr: ln.httpB.Addr().String(), BAAWarningWindow: gateway.DefaultBAAWarningWindow}
	if o.DB != "" {
		urls, drop, err := freshSchemas(ctx, o.DB, 2)
		if err != nil {
			return nil, err
		}
		owner := o.DB
		ln.analyze = func(ctx context.Context) error { return analyzeSchemas(ctx, owner, urls) }
		if !o.Keep {
			ln.drop = drop
			closers = append(closers, drop)
		}
		if o.AppRole != "" {
			if urls, err = asAppRole(ctx, urls, o.AppRole, []Config{cfgA, cfgB}); err != nil {
				return nil, err
			}
		}
		cfgA.DB, cfgB.DB = urls[0], urls[1]
	}
	edge := func(domain, certDir, peerSMTP string) edgeConfig {
		return edgeConfig{FHIRAllowHTTP: true, FollowEvery: 100 * time.Millisecond,
			// Every party of the loopback network shares one address.
			HTTP:         httpedge.Limits{MaxConnsPerAddr: 4096, MaxInFlightPerAddr: 4096},
			DirectDomain: domain, DirectCerts: certDir, Smarthost: peerSMTP,
			SMTPTLSCert: tlsCert, SMTPTLSKey: tlsKey, SMTPTLSRoots: tlsCert}
	}
	ecA := edge(demoDomainA, certsA, smtpB.Addr().String())
	if o.FollowEvery > 0 {
		ecA.FollowEvery = o.FollowEvery
	}
	ecA.FaxAPI, ecA.FaxKey, ecA.FaxSecret, ecA.FaxCallbackToken = "http://"+faxLn.Addr().String(), demoFaxKey, demoFaxSecret, demoFaxToken
	ecA.FaxAllowHTTP = true // the emulator speaks plain http on loopback
	ecB := edge(demoDomainB, certsB, smtpA.Addr().String())
	ecA.noRounds, ecB.noRounds = o.NoRounds, o.NoRounds
	hooks := o.Hooks
	if hooks.Queue == (sqlstore.QueueConfig{}) {
		hooks.Queue = demoQueue()
	}
	var logw io.Writer = io.Discard
	if o.Log != nil {
		logw = &lockedWriter{w: o.Log} // both nodes' handlers write to it
	}
	cfgA.Edges, cfgB.Edges = ecA, ecB
	if ln.a, err = openNode(ctx, cfgA, hooks, nodeListeners{HTTP: ln.httpA, SMTP: smtpA}, io.Discard, logw); err != nil {
		return nil, fmt.Errorf("demo: node A: %w", err)
	}
	closers = append(closers, ln.a.Close)
	if ln.b, err = openNode(ctx, cfgB, hooks, nodeListeners{HTTP: ln.httpB, SMTP: smtpB}, io.Discard, logw); err != nil {
		return nil, fmt.Errorf("demo: node B: %w", err)
	}
	closers = append(closers, ln.b.Close)
	ln.ehr.registerGateway(demoEHRClient, &ln.a.fhirKey.PublicKey)
	type served struct {
		n  *node
		hl net.Listener
	}
	runs := []served{{ln.a, ln.httpA}, {ln.b, ln.httpB}}
	for i := range o.ExtraA {
		var hl, sl net.Listener
		for _, p := range []*net.Listener{&hl, &sl} {
			if *p, err = listen(); err != nil {
				return nil, fmt.Errorf("demo: listen: %w", err)
			}
		}
		cfg := cfgA // the same database and data directory: the same keys
		cfg.HTTPAddr = hl.Addr().String()
		n, err := openNode(ctx, cfg, hooks, nodeListeners{HTTP: hl, SMTP: sl}, io.Discard, logw)
		if err != nil {
			return nil, fmt.Errorf("demo: node A%d: %w", i+2, err)
		}
		closers = append(closers, n.Close)
		ln.extra = append(ln.extra, n)
		runs = append(runs, served{n, hl})
	}

	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ln.stop = cancel
	for _, p := range runs {
		go func() { ln.served <- serve(sctx, p.n, p.hl, 5*time.Second) }()
	}
	return ln, nil
}

// shutdown stops both nodes (they sign a last checkpoint) and the
// emulators; the nodes' stores stay open for verification until close.
func (ln *loopNet) shutdown() error {
	ln.stop()
	var errs []error
	for range 2 + len(ln.extra) {
		errs = append(errs, <-ln.served)
	}
	ln.fax.Close()
	_ = ln.faxSrv.Close()
	ln.ehr.close()
	return errors.Join(errs...)
}

// close releases the stores and drops the PostgreSQL schemas.
func (ln *loopNet) close() {
	ln.a.Close()
	ln.b.Close()
	for _, n := range ln.extra {
		n.Close()
	}
	if ln.drop != nil {
		ln.drop()
	}
}

// writeLoopbackTLS writes a self-signed STARTTLS certificate for 127.0.0.1
// that both SMTP listeners present and both senders trust.
func writeLoopbackTLS(dir string, now time.Time) (certFile, keyFile string, err error) {
	tc, err := certs.SelfSignedTLS(now, "127.0.0.1")
	leaf := tc.Leaf
	if err != nil {
		return "", "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(tc.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "smtp-tls.pem"), filepath.Join(dir, "smtp-tls-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// asAppRole migrates each schema as its URL's user, grants role on it,
// registers the caller token of the node that uses it (cfgs, in the order
// of urls), as `gateway migrate --app-role` does, and returns the URLs as
// role.
func asAppRole(ctx context.Context, urls []string, role string, cfgs []Config) ([]string, error) {
	out := make([]string, len(urls))
	for i, u := range urls {
		s, err := pgstore.Open(ctx, u, demoQueue())
		if err != nil {
			return nil, fmt.Errorf("demo: migrate: %w", err)
		}
		s.Close()
		if err := pgstore.GrantAppRole(ctx, u, role, ""); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		token, err := cfgs[i].callerToken()
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		if err := pgstore.RegisterCaller(ctx, u, token); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		pu, err := neturl.Parse(u)
		if err != nil {
			return nil, fmt.Errorf("demo: database URL: %w", err)
		}
		pu.User = neturl.User(role)
		out[i] = pu.String()
	}
	return out, nil
}

// freshSchemas creates n new schemas in the database at url and returns a
// URL per schema (search_path set) and a function that drops them.
func freshSchemas(ctx context.Context, url string, n int) ([]string, func(), error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, url)
	if err != nil {
		return nil, nil, fmt.Errorf("demo: database: %w", err)
	}
	defer conn.Close(cctx)
	var urls, names []string
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for i := range n {
		b := make([]byte, 5)
		_, _ = rand.Read(b)
		name := fmt.Sprintf("gwdemo_%c_%s", 'a'+i, hex.EncodeToString(b))
		if _, err := conn.Exec(cctx, "CREATE SCHEMA "+name); err != nil {
			return nil, nil, fmt.Errorf("demo: create schema: %w", err)
		}
		names = append(names, name)
		urls = append(urls, url+sep+"search_path="+name)
	}
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(dctx, url)
		if err != nil {
			return
		}
		defer c.Close(dctx)
		for _, name := range names {
			_, _ = c.Exec(dctx, "DROP SCHEMA "+name+" CASCADE")
		}
	}
	return urls, drop, nil
}

// analyzeSchemas runs ANALYZE on every table of the schemas that the URLs
// from freshSchemas point at, as their owner at ownerURL. Autovacuum does
// this in a running deployment once a table has grown by a tenth; a
// benchmark's fresh schema would otherwise be planned for seconds with no
// statistics at all.
func analyzeSchemas(ctx context.Context, ownerURL string, urls []string) error {
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, u := range urls {
		pu, err := neturl.Parse(u)
		if err != nil {
			return fmt.Errorf("analyze: %w", err)
		}
		schema := pu.Query().Get("search_path")
		rows, err := conn.Query(ctx, `SELECT format('ANALYZE %I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = $1`, schema)
		if err != nil {
			return fmt.Errorf("analyze: %w", err)
		}
		stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("analyze: %w", err)
		}
		for _, q := range stmts {
			if _, err := conn.Exec(ctx, q); err != nil {
				return fmt.Errorf("analyze: %w", err)
			}
		}
	}
	return nil
}

// lockedWriter serialises writes from several loggers to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

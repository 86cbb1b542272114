package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// demoOptions configure one run of the demo.
type demoOptions struct {
	KeepDir string        // keep everything here; empty: a temporary directory, removed
	DB      string        // PostgreSQL URL; empty: embedded stores
	Timeout time.Duration // the whole run
	Log     io.Writer     // the nodes' logs; nil: a file in the working directory
}

func cmdDemo(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", &cfg, stderr, dbFlag)
	var o demoOptions
	fs.StringVar(&o.KeepDir, "keep-dir", "", "keep the stores, keys and certificates in this directory (default: a temporary directory, removed)")
	fs.DurationVar(&o.Timeout, "timeout", 50*time.Second, "give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	o.DB = cfg.DB
	return runDemo(ctx, o, stdout)
}

// demoCase is one row of the summary.
type demoCase struct {
	label, receiver, channel, expected string
	actual                             string
	ok                                 bool
	failed                             string   // the step that did not happen
	referrals                          []string // the case's referrals, whose compliance receipts the summary checks
	receipts                           string   // what their receipts say
}

// runDemo runs the loopback network, plays the referrals and reports.
// It returns nil only when every expected outcome happened.
func runDemo(ctx context.Context, o demoOptions, stdout io.Writer) (err error) {
	if o.Timeout <= 0 {
		o.Timeout = 50 * time.Second
	}
	dir := o.KeepDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "gateway-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	logw := o.Log
	if logw == nil {
		f, err := os.Create(filepath.Join(dir, "nodes.log"))
		if err != nil {
			return err
		}
		defer f.Close()
		logw = f
	}
	store := "embedded SQLite"
	if o.DB != "" {
		store = "PostgreSQL (a fresh schema per node)"
	}
	fmt.Fprintf(stdout, "Referral gateway demo: a whole referral network on loopback, synthetic patients only.\nStores: %s, in %s\n\n", store, dir)
	start := time.Now()
	ln, err := startNet(ctx, netOptions{Dir: dir, DB: o.DB, Keep: o.KeepDir != "", Log: logw})
	if err != nil {
		return fmt.Errorf("demo: start network: %w", err)
	}
	defer ln.close()
	fmt.Fprintln(stdout, "Node A: Synthetic Family Practice A (the referrer)")
	ln.a.describe(stdout)
	fmt.Fprintln(stdout, "Node B: the HISP of Synthetic Behavioral Health B (Direct only)")
	ln.b.describe(stdout)
	fmt.Fprintf(stdout, "  On-platform EHR %s/fhir (Synthetic Orthopedics; SMART backend services)\n", ln.ehr.url)
	fmt.Fprintf(stdout, "  Fax             EMULATOR at %s (no fax is ever transmitted)\n\n", ln.a.edges.FaxAPI)
	if err := ln.seed(ctx); err != nil {
		_ = ln.shutdown()
		return err
	}

	tl := newTimeline(stdout)
	tctx, stopTail := context.WithCancel(ctx)
	tailed := make(chan struct{})
	go func() {
		defer close(tailed)
		tl.follow(tctx, map[string]*gateway.Service{"A": ln.a.app.svc, "B": ln.b.app.svc}, 100*time.Millisecond)
	}()
	fmt.Fprintf(stdout, "%-12s  %-4s  %-12s %-28s %-7s %s\n", "time", "node", "referral", "event", "channel", "receipt / detail")
	pctx, cancel := context.WithTimeout(ctx, o.Timeout)
	cases := playDemo(pctx, ln, tl)
	cancel()
	stopTail()
	<-tailed
	checkReceipts(ctx, ln.a.app.svc, cases)

	shutErr := ln.shutdown()
	fmt.Fprintf(stdout, "\nSummary (%.1fs)\n", time.Since(start).Seconds())
	fmt.Fprintf(stdout, "%-4s %-34s %-14s %-8s %-48s %-52s %s\n", "#", "referral", "receiver", "channel", "expected", "actual", "")
	var failed []string
	for i, c := range cases {
		mark := "OK"
		if !c.ok {
			mark = "FAIL"
			failed = append(failed, fmt.Sprintf("#%d %s: %s", i+1, c.label, c.failed))
		}
		fmt.Fprintf(stdout, "%-4s %-34s %-14s %-8s %-48s %-52s %s\n", fmt.Sprintf("#%d", i+1), c.label, c.receiver, c.channel,
			clipText(c.expected, 48), clipText(c.actual, 52), mark)
	}
	fmt.Fprintln(stdout, "\nCompliance receipts (node A; `gateway referral receipt ID` prints one, --format html|json|fhir)")
	for i, c := range cases {
		if c.receipts != "" {
			fmt.Fprintf(stdout, "  #%d %s\n", i+1, c.receipts)
		}
		if strings.Contains(c.receipts, "does not verify") {
			failed = append(failed, fmt.Sprintf("#%d %s: compliance receipt", i+1, c.label))
		}
	}
	fmt.Fprintln(stdout, "\naudit verify")
	for _, p := range []struct {
		name string
		n    *node
	}{{"node A", ln.a}, {"node B", ln.b}} {
		fmt.Fprintf(stdout, "  %s: ", p.name)
		if err := verifyTrail(ctx, p.n.app, stdout); err != nil {
			failed = append(failed, p.name+": audit trail does not verify")
		}
	}
	if shutErr != nil {
		failed = append(failed, "shutdown: "+shutErr.Error())
	}
	if o.KeepDir != "" {
		fmt.Fprintf(stdout, "\nKept in %s. To browse node A's FHIR API (and its console, when built in):\n", dir)
		fmt.Fprintf(stdout, "  gateway serve --data %s --http 127.0.0.1:8080 --direct-domain %s --direct-certs %s\n",
			filepath.Join(dir, "a"), demoDomainA, filepath.Join(dir, "certs-a"))
		fmt.Fprintln(stdout, "  then http://127.0.0.1:8080/fhir/metadata (register an EHR client with `gateway client add` to read Tasks)")
	} else {
		fmt.Fprintln(stdout, "\nRun with --keep-dir DIR to keep the stores and serve node A's FHIR API afterwards.")
	}
	if len(failed) > 0 {
		fmt.Fprintf(stdout, "\nDEMO FAILED:\n  %s\n", strings.Join(failed, "\n  "))
		return fmt.Errorf("demo: %d step(s) did not happen: %s: %w", len(failed), failed[0], errSilent)
	}
	fmt.Fprintln(stdout, "\nEvery expected outcome happened.")
	return nil
}

// playDemo drives the referrals and returns one summary row per case. A
// step that does not happen in time fails its case and skips the rest of
// it; the other cases go on.
func playDemo(ctx context.Context, ln *loopNet, tl *timeline) []*demoCase {
	d := &demoRun{ln: ln, tl: tl, svc: ln.a.app.svc}
	cases := []*demoCase{
		{label: "on-platform: accepted, completed", receiver: "ortho-ehr", channel: "fhir", expected: "pushed; accepted, started, completed + note"},
		{label: "Direct, Part 2: MDNs, accepted", receiver: "bh-direct", channel: "direct", expected: "processed+dispatched MDNs; accepted by reply"},
		{label: "fax-only clinic", receiver: "fax-clinic", channel: "fax", expected: "delivered by signed callback (EMULATOR)"},
		{label: "BAA expired", receiver: "lapsed-cardio", channel: "-", expected: "refused before anything leaves"},
		{label: "authorization missing", receiver: "ortho-ehr", channel: "fhir", expected: "held in draft; sent once captured"},
		{label: "declined, re-routed", receiver: "bh-direct", channel: "direct", expected: "declined by reply; replaced, sent on FHIR"},
		{label: "more information asked, answered", receiver: "bh-direct", channel: "direct", expected: "on hold by reply; answer + record by Direct"},
		{label: "referred onward by the receiver", receiver: "ortho-ehr", channel: "fhir+fax", expected: "received; ortho refers on to fax clinic"},
	}
	steps := []func(context.Context, *demoCase){d.fhirCase, d.directCase, d.faxCase, d.baaCase, d.authCase, d.rerouteCase,
		d.infoCase, d.onwardCase}
	done := make(chan struct{}, len(steps))
	for i, step := range steps {
		go func() {
			defer func() { done <- struct{}{} }()
			step(ctx, cases[i])
		}()
	}
	for range steps {
		<-done
	}
	return cases
}

// demoRun is the state the demo's cases share.
type demoRun struct {
	ln  *loopNet
	tl  *timeline
	svc *gateway.Service
}

// create files a referral as the referring provider and labels it.
func (d *demoRun) create(ctx context.Context, label string, n gateway.NewReferral) (*gateway.Referral, error) {
	r, err := d.svc.CreateReferral(ctx, demoReferrer, n)
	if r != nil {
		d.tl.label(r.ID, label)
	}
	return r, err
}

// waitFor polls cond every 20 ms until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() (bool, error)) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// waitStatus waits for the referral to reach status and returns it with
// its deliveries.
func (d *demoRun) waitStatus(ctx context.Context, id string, status gateway.Status) (*gateway.Referral, []*gateway.Delivery, error) {
	var r *gateway.Referral
	var ds []*gateway.Delivery
	err := waitFor(ctx, func() (bool, error) {
		var err error
		r, ds, err = d.svc.Referral(ctx, id)
		if err != nil {
			return false, err
		}
		return r.Status == status, nil
	})
	if err != nil && r != nil {
		return r, ds, fmt.Errorf("still %s, want %s", r.Status, status)
	}
	return r, ds, err
}

// delivered returns the referral's delivered delivery on channel, if any.
func delivered(ds []*gateway.Delivery, ch gateway.ChannelKind) *gateway.Delivery {
	for _, dl := range ds {
		if dl.Channel == ch && dl.State == gateway.DeliveryDelivered {
			return dl
		}
	}
	return nil
}

func (c *demoCase) fail(step string, err error) {
	c.failed = step
	if err != nil {
		c.failed += ": " + err.Error()
	}
	if c.actual == "" {
		c.actual = "stopped at: " + step
	}
}

// sendUntilReceived creates a case's referral and waits until it is
// received through a delivery on ch. When that does not happen it fails
// the case, naming step, and returns a nil delivery.
func (d *demoRun) sendUntilReceived(ctx context.Context, c *demoCase, label string, n gateway.NewReferral,
	ch gateway.ChannelKind, step string) (*gateway.Referral, *gateway.Delivery) {
	r, err := d.create(ctx, label, n)
	if err != nil {
		c.fail("create", err)
		return nil, nil
	}
	c.referrals = append(c.referrals, r.ID)
	r, ds, err := d.waitStatus(ctx, r.ID, gateway.StatusReceived)
	dl := delivered(ds, ch)
	if err != nil || dl == nil {
		c.fail(step, err)
		return nil, nil
	}
	// A receipt can overtake the recording of its send; wait for the send's
	// handle too, so the summary names it.
	err = waitFor(ctx, func() (bool, error) {
		got, err := d.svc.Delivery(ctx, dl.ID)
		if err == nil {
			dl = got
		}
		return err == nil && dl.RemoteID != "", err
	})
	if err != nil {
		c.fail(step+" (send recorded)", err)
		return nil, nil
	}
	return r, dl
}

// fhirCase: pushed to the on-platform EHR, whose staff accept, start and
// complete the Task with a consult note; the follow loop carries each move
// back.
func (d *demoRun) fhirCase(ctx context.Context, c *demoCase) {
	r, dl := d.sendUntilReceived(ctx, c, "#1 fhir", demoReferral(1, "ortho-ehr"), gateway.ChannelFHIR, "FHIR push delivered")
	if dl == nil {
		return
	}
	for _, mv := range []struct {
		status gateway.Status
		note   string
	}{{gateway.StatusAccepted, ""}, {gateway.StatusInProgress, ""}, {gateway.StatusCompleted, "DocumentReference/consult-note-1"}} {
		d.tl.say("#1 fhir     the EHR's staff move Task %s to %s", dl.RemoteID, mv.status)
		if err := d.ln.ehr.move(dl.RemoteID, string(mv.status), "", mv.note); err != nil {
			c.fail("EHR moves the Task", err)
			return
		}
		var err error
		if r, _, err = d.waitStatus(ctx, r.ID, mv.status); err != nil {
			c.fail("follow picks up "+string(mv.status), err)
			return
		}
	}
	if r.Outcome == nil || r.Outcome.Reference == "" {
		c.fail("outcome recorded", nil)
		return
	}
	c.actual, c.ok = fmt.Sprintf("completed, outcome %s", r.Outcome.Reference), true
}

// directCase: a Part 2 referral to the Direct-only practice; B's HISP
// answers with processed and dispatched MDNs, then B's staff reply
// "Accepted" through B's own Direct machinery.
func (d *demoRun) directCase(ctx context.Context, c *demoCase) {
	now := time.Now().UTC()
	if _, err := d.svc.CaptureConsent(ctx, demoReferrer, gateway.ConsentRecord{Tenant: "clinic-a", PatientID: "MRN-DEMO-0002",
		Kind: gateway.ConsentPart2, Signed: now.AddDate(0, 0, -1), Expires: now.AddDate(1, 0, 0),
		Recipients: []string{"bh-direct"}, Purposes: []string{"treatment"}}); err != nil {
		c.fail("Part 2 consent on file", err)
		return
	}
	n := demoReferral(2, "bh-direct")
	n.Sensitive = gateway.Sensitivity{Part2: true, BehavioralHealth: true}
	n.Consent = gateway.ConsentRef{Kind: gateway.ConsentPart2, Purpose: "treatment"}
	r, dl := d.sendUntilReceived(ctx, c, "#2 direct", n, gateway.ChannelDirect, "Direct delivery delivered by MDN")
	if dl == nil {
		return
	}
	// The two MDNs may overtake each other; A's trail records both.
	var kinds string
	err := waitFor(ctx, func() (bool, error) {
		var err error
		kinds, err = mdnsReceived(ctx, d.svc, r.ID)
		return kinds == "processed,dispatched", err
	})
	if err != nil {
		c.fail("processed and dispatched MDNs", fmt.Errorf("MDNs %q: %w", kinds, err))
		return
	}
	if err := d.replyAsB(ctx, r.ID, dl.RemoteID, "Accepted.\nWe will call the patient to book an intake."); err != nil {
		c.fail("B replies Accepted", err)
		return
	}
	if _, _, err := d.waitStatus(ctx, r.ID, gateway.StatusAccepted); err != nil {
		c.fail("A's inbound processor applies the reply", err)
		return
	}
	c.actual, c.ok = "accepted; MDNs "+kinds, true
}

// mdnsReceived lists the MDN dispositions A's inbound processor applied to
// a referral, from the referrer's trail: "processed,dispatched" when both
// arrived.
func mdnsReceived(ctx context.Context, svc *gateway.Service, referralID string) (string, error) {
	var processed, dispatched bool
	for e, err := range svc.AuditEntries(ctx, gateway.AuditQuery{Tenant: "clinic-a", ReferralID: referralID}) {
		if err != nil {
			return "", err
		}
		if e.Action == "direct.receipt" {
			processed = processed || e.Detail["receipt"] == string(gateway.ReceiptProcessed)
			dispatched = dispatched || e.Detail["receipt"] == string(gateway.ReceiptDispatched)
		}
	}
	var ks []string
	if processed {
		ks = append(ks, "processed")
	}
	if dispatched {
		ks = append(ks, "dispatched")
	}
	return strings.Join(ks, ","), nil
}

func receiptKinds(dl *gateway.Delivery) string {
	var ks []string
	for _, rc := range dl.Receipts {
		ks = append(ks, string(rc.Kind))
	}
	return strings.Join(ks, ",")
}

// replyAsB has B's staff answer a referral they found in B's inbox: the
// reply is composed, signed with B's key and encrypted for A's certificate
// by B's Direct channel, and handed to A's SMTP listener by B's sender.
func (d *demoRun) replyAsB(ctx context.Context, referralID, msgID, text string) error {
	b := d.ln.b
	var inboundID string
	err := waitFor(ctx, func() (bool, error) {
		items, err := b.app.svc.ListInbound(ctx, gateway.InboundQuery{State: gateway.InboundNew})
		if err != nil {
			return false, err
		}
		for _, it := range items {
			if it.MessageID == msgID {
				inboundID = it.ID
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("referral not in B's inbox: %w", err)
	}
	first, _, _ := strings.Cut(text, "\n")
	d.tl.say("%-10s B's staff reply %q by Direct", d.labelOf(referralID), first)
	// B's gateway sends the reply as a tracked message, so the MDN A
	// returns for it matches on B.
	_, err = b.direct.proc.Reply(ctx, gateway.Actor{ID: "user:demo-staff"}, inboundID, demoAddrB, text)
	return err
}

func (d *demoRun) labelOf(id string) string {
	d.tl.mu.Lock()
	defer d.tl.mu.Unlock()
	return d.tl.labels[id]
}

// faxCase: the fax-only clinic gets the packet through the vendor
// EMULATOR, whose signed callback delivers it.
func (d *demoRun) faxCase(ctx context.Context, c *demoCase) {
	_, dl := d.sendUntilReceived(ctx, c, "#3 fax", demoReferral(3, "fax-clinic"), gateway.ChannelFax, "fax delivered by callback")
	if dl == nil {
		return
	}
	if !strings.Contains(receiptKinds(dl), string(gateway.ReceiptFaxSuccess)) {
		c.fail("fax success receipt", fmt.Errorf("receipts: %s", receiptKinds(dl)))
		return
	}
	c.actual, c.ok = fmt.Sprintf("received; fax %s, receipt %s (EMULATOR)", dl.RemoteID, receiptKinds(dl)), true
}

// baaCase: the receiver's BAA expired, so the gate refuses at submit and
// nothing is queued.
func (d *demoRun) baaCase(ctx context.Context, c *demoCase) {
	r, err := d.create(ctx, "#4 baa", demoReferral(4, "lapsed-cardio"))
	if r != nil {
		c.referrals = append(c.referrals, r.ID)
	}
	var be *gateway.BAAError
	if !errors.As(err, &be) || r == nil {
		c.fail("BAA gate refuses", fmt.Errorf("got %v", err))
		return
	}
	d.tl.say("#4 baa      refused at submit: %v", err)
	got, ds, err := d.svc.Referral(ctx, r.ID)
	if err != nil || got.Status != gateway.StatusDraft || len(ds) != 0 {
		c.fail("nothing leaves", fmt.Errorf("status %v, %d deliveries, %v", got.Status, len(ds), err))
		return
	}
	c.actual, c.ok = fmt.Sprintf("draft, 0 deliveries: BAA %s", be.State), true
}

// authCase: an authorization is needed and not on file, so the referral
// waits in draft; once it is captured the referral is submitted and sent.
func (d *demoRun) authCase(ctx context.Context, c *demoCase) {
	n := demoReferral(5, "ortho-ehr")
	n.Consent = gateway.ConsentRef{Kind: gateway.ConsentAuthorization, Purpose: "treatment"}
	r, err := d.create(ctx, "#5 consent", n)
	if r != nil {
		c.referrals = append(c.referrals, r.ID)
	}
	var ce *gateway.ConsentError
	if !errors.As(err, &ce) || r == nil {
		c.fail("consent gate holds the referral", fmt.Errorf("got %v", err))
		return
	}
	got, ds, err := d.svc.Referral(ctx, r.ID)
	if err != nil || got.Status != gateway.StatusDraft || len(ds) != 0 {
		c.fail("held in draft", fmt.Errorf("status %v, %d deliveries, %v", got.Status, len(ds), err))
		return
	}
	d.tl.say("#5 consent  held in draft: %s; the front desk captures the signed authorization", got.Blocked)
	now := time.Now().UTC()
	if _, err := d.svc.CaptureConsent(ctx, demoReferrer, gateway.ConsentRecord{Tenant: "clinic-a", PatientID: n.Patient.ID,
		Kind: gateway.ConsentAuthorization, Signed: now, Expires: now.AddDate(1, 0, 0),
		Recipients: []string{"ortho-ehr"}, Purposes: []string{"treatment"}}); err != nil {
		c.fail("capture authorization", err)
		return
	}
	if _, err := d.svc.Submit(ctx, demoReferrer, r.ID); err != nil {
		c.fail("submit after capture", err)
		return
	}
	_, ds, err = d.waitStatus(ctx, r.ID, gateway.StatusReceived)
	if err != nil || delivered(ds, gateway.ChannelFHIR) == nil {
		c.fail("sent after capture", err)
		return
	}
	c.actual, c.ok = "held ("+ce.Gap+"), then received", true
}

// rerouteCase: B declines by Direct reply; the referrer re-routes the
// referral to the on-platform specialist.
func (d *demoRun) rerouteCase(ctx context.Context, c *demoCase) {
	r, dl := d.sendUntilReceived(ctx, c, "#6 reroute", demoReferral(6, "bh-direct"), gateway.ChannelDirect, "Direct delivery delivered")
	if dl == nil {
		return
	}
	if err := d.replyAsB(ctx, r.ID, dl.RemoteID, "Declined: not accepting new patients this month."); err != nil {
		c.fail("B replies Declined", err)
		return
	}
	if _, _, err := d.waitStatus(ctx, r.ID, gateway.StatusRejected); err != nil {
		c.fail("A applies the decline", err)
		return
	}
	nr, err := d.svc.Replace(ctx, demoReferrer, r.ID, "ortho-ehr", true)
	if err != nil {
		c.fail("replace", err)
		return
	}
	if !d.followSecond(ctx, c, nr.ID, "#6b reroute", gateway.ChannelFHIR, "replacement delivered on FHIR",
		"#6 reroute  declined; re-routed as %s to ortho-ehr") {
		return
	}
	old, _, err := d.svc.Referral(ctx, r.ID)
	if err != nil || old.ReplacedBy != nr.ID {
		c.fail("old referral names its replacement", err)
		return
	}
	c.actual, c.ok = "rejected; replaced by "+shortID(nr.ID)+", received on fhir", true
}

package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// metricValue reads one sample of the Prometheus text exposition.
func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}

// TestMetricsAfterDelivery sends a referral by fax and one by FHIR push
// through the loopback network (real HTTP, the fax vendor emulator posting
// signed callbacks) and reads gateway A's /metrics: the deliveries, their
// time to receipt, the job runs, the inbound callbacks, a refusal and the
// gauges are all there.
func TestMetricsAfterDelivery(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ln, err := startNet(ctx, netOptions{Dir: t.TempDir(), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.close()
	defer ln.shutdown()
	if err := ln.seed(ctx); err != nil {
		t.Fatal(err)
	}
	svc := ln.a.app.svc
	if _, err := ln.a.app.store.PublishAudit(ctx); err != nil { // for the checkpoint-age gauge
		t.Fatal(err)
	}
	var ids []string
	for i, receiver := range []string{"fax-clinic", "ortho-ehr"} {
		r, err := svc.CreateReferral(ctx, demoReferrer, demoReferral(100+i, receiver))
		if err != nil {
			t.Fatalf("create for %s: %v", receiver, err)
		}
		ids = append(ids, r.ID)
	}
	// The lapsed practice's BAA has expired: the consent and BAA gates refuse at submit.
	if _, err := svc.CreateReferral(ctx, demoReferrer, demoReferral(102, "lapsed-cardio")); err == nil {
		t.Fatal("referral to a practice with an expired BAA was not refused")
	}
	for _, id := range ids {
		if err := waitFor(ctx, func() (bool, error) {
			r, _, err := svc.Referral(ctx, id)
			return err == nil && r.Status != gateway.StatusRequested && r.Status != gateway.StatusDraft, err
		}); err != nil {
			t.Fatalf("referral %s not received: %v", id, err)
		}
	}
	var body string
	get := func() {
		resp, err := http.Get("http://" + ln.httpA.Addr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		body = b.String()
	}
	// The job's run is reported when its handler returns, just after the
	// receipt; the fax callback's request is counted when its handler
	// returns, after the receipt it recorded committed (which is what the
	// wait above saw): poll until both show.
	if err := waitFor(ctx, func() (bool, error) {
		get()
		return metricValue(t, body, `gateway_job_run_seconds_count{kind="deliver",outcome="ok"}`) >= 2 &&
			metricValue(t, body, `gateway_http_requests_total{code="200",route="POST `+faxCallbackPath+`"}`) >= 1, nil
	}); err != nil {
		t.Fatalf("no job runs or no fax callback request in /metrics:\n%s", body)
	}
	for series, want := range map[string]float64{
		`gateway_deliveries_total{channel="fax",outcome="sent"}`:          1,
		`gateway_deliveries_total{channel="fax",outcome="delivered"}`:     1,
		`gateway_deliveries_total{channel="fhir",outcome="delivered"}`:    1,
		`gateway_receipt_seconds_count{channel="fax"}`:                    1,
		`gateway_receipt_seconds_count{channel="fhir"}`:                   1,
		`gateway_inbound_messages_total{channel="fax",verdict="receipt"}`: 1,
		`gateway_refusals_total{gate="baa"}`:                              1,
		`gateway_baas_expiring{state="expired"}`:                          1,
	} {
		if got := metricValue(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, series := range []string{`gateway_job_wait_seconds_count{kind="deliver"}`, `gateway_certificates_expiring{expired="false"}`,
		`gateway_state_scrape_errors_total`} {
		if metricValue(t, body, series) < 0 {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	if got := metricValue(t, body, `gateway_state_scrape_errors_total`); got != 0 {
		t.Errorf("scrape errors: %v", got)
	}
	if age := metricValue(t, body, `gateway_audit_checkpoint_age_seconds`); age < 0 {
		t.Errorf("no checkpoint age after a checkpoint")
	}
	if n := metricValue(t, body, `gateway_audit_unsequenced_entries`); n < 0 || metricValue(t, body, `gateway_audit_unsequenced_oldest_age_seconds`) < 0 {
		t.Errorf("no audit sequencing backlog gauges")
	}
	// Every series the Grafana dashboard draws is exported.
	dash, err := os.ReadFile(filepath.Join("..", "..", "docs", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`gateway_[a-z_]+`).FindAllString(string(dash), -1)
	if len(names) < 10 {
		t.Fatalf("dashboard names only %v", names)
	}
	for _, n := range names {
		family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")
		if !strings.Contains(body, "# TYPE "+family+" ") {
			t.Errorf("the dashboard draws %s, which /metrics does not export", family)
		}
	}
}

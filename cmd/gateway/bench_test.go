package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/gateway"
)

// TestBenchShort runs the benchmark's short mode (50 referrals per
// channel) on the embedded store. The figures are reported, not asserted;
// what is checked is that every referral was delivered and measured and
// that the report renders.
func TestBenchShort(t *testing.T) {
	var progress bytes.Buffer
	res, err := runBench(t.Context(), benchOptions{Channels: []gateway.ChannelKind{gateway.ChannelFHIR, gateway.ChannelDirect, gateway.ChannelFax},
		Referrals: 50, Concurrency: 8, Timeout: 2 * time.Minute, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("%d results, want one per channel", len(res))
	}
	for _, r := range res {
		if r.Delivered != 50 || r.P50ms <= 0 || r.P99ms < r.P50ms || r.PerSecond <= 0 || r.CPUPerRef <= 0 || r.DBMsRef <= 0 || r.NetMsRef <= 0 {
			t.Errorf("%s: incomplete result %+v", r.Channel, r)
		}
		t.Logf("%s: %.1f referrals/s, p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, CPU %.4f s/referral", r.Channel, r.PerSecond, r.P50ms, r.P95ms, r.P99ms, r.CPUPerRef)
	}
	if res[1].CryptoMsRef <= 0 {
		t.Errorf("direct: no crypto time measured: %+v", res[1])
	}
	if !strings.Contains(progress.String(), "\r") || !strings.Contains(progress.String(), "50/50") {
		t.Errorf("progress line: %q", progress.String())
	}
	var table, js bytes.Buffer
	printBench(&table, res)
	for _, want := range []string{"fhir", "direct", "fax", "p95 ms", "crypto ms/ref"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if err := printJSON(&js, res); err != nil {
		t.Fatal(err)
	}
	var back []benchResult
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back) != 3 || back[2].Channel != "fax" {
		t.Errorf("JSON round trip: %v %+v", err, back)
	}
}

// TestBenchFlags checks the command line refusals.
func TestBenchFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--channel", "pigeon"}, "--channel"},
		{[]string{"bench", "--referrals", "0"}, "at least 1"},
		{[]string{"bench", "--practices", "0"}, "at least 1"},
		{[]string{"bench", "--nodes", "2"}, "needs --db"},
		{[]string{"bench", "--warmup", "50000"}, "under 50000"},
	}
	for _, tc := range cases {
		_, errs, code := gw(t, t.TempDir(), tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: %d %q", tc.args, code, errs)
		}
	}
}

// TestBenchPracticesAndBaseline spreads referrals over three practice
// pairs with a baseline first: each pair's referrer and receiver get their
// share, and the transaction counts and the baseline ratio are reported.
func TestBenchPracticesAndBaseline(t *testing.T) {
	res, err := runBench(t.Context(), benchOptions{Channels: []gateway.ChannelKind{gateway.ChannelFHIR},
		Referrals: 12, Concurrency: 4, Practices: 3, Baseline: 300 * time.Millisecond, Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if r.Delivered != 12 || r.Practices != 3 || r.TxPerRef < 1 || r.BaselinePerSec <= 0 || r.Ratio <= 0 {
		t.Fatalf("incomplete result %+v", r)
	}
	var table bytes.Buffer
	printBench(&table, res)
	for _, want := range []string{"tx/ref", "of the baseline"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	t.Logf("%.1f referrals/s, %.1f transactions/referral, %.3f of a baseline of %.0f/s", r.PerSecond, r.TxPerRef, r.Ratio, r.BaselinePerSec)
}

// TestBenchWarmup sends warm-up referrals before the measured ones: the
// result counts and times the measured referrals only.
func TestBenchWarmup(t *testing.T) {
	res, err := runBench(t.Context(), benchOptions{Channels: []gateway.ChannelKind{gateway.ChannelFHIR},
		Referrals: 6, Warmup: 4, Concurrency: 2, Practices: 2, Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Referrals != 6 || res[0].Delivered != 6 || res[0].TxPerRef <= 0 {
		t.Fatalf("result %+v", res)
	}
	// A FHIR referral takes 3 transactions; counting the warm-up's in
	// would give 5 per measured referral.
	if res[0].TxPerRef > 4 {
		t.Errorf("%.1f transactions per referral: the warm-up was counted", res[0].TxPerRef)
	}
}

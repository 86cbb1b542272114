package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/referralgw/gateway/gateway"
)

// TestInboxCommands: list (table and JSON, filtered by state), show, and
// the operator's decisions with their refusals: no reason, an unknown
// state, a message that is not quarantined.
func TestInboxCommands(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, code := gw(t, dir, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	cfg, _, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(context.Background(), cfg, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, _, err := a.svc.ReceiveInbound(ctx, gateway.NewInbound{Channel: gateway.ChannelDirect, MailFrom: "sender@direct.other.example",
		RcptTo: []string{"intake@direct.nowhere.example"}, MessageID: "m1@direct.other.example", Raw: []byte("synthetic encrypted bytes")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.ApplyInbound(ctx, m.ID, gateway.InboundOutcome{State: gateway.InboundQuarantined, Reason: "untrusted-anchor",
		Error: "signer not trusted", Summary: &gateway.InboundSummary{Subject: "Synthetic referral"}}); err != nil {
		t.Fatal(err)
	}
	a.Close()

	out, errOut, code := gw(t, dir, "inbox", "list", "--state", "quarantined")
	if code != 0 || !strings.Contains(out, m.ID) || !strings.Contains(out, "untrusted-anchor") || !strings.Contains(out, "Synthetic referral") {
		t.Fatalf("list: %d %s %s", code, out, errOut)
	}
	out, _, _ = gw(t, dir, "inbox", "list", "--state", "new", "--json")
	var none []gateway.InboundMessage
	if err := json.Unmarshal([]byte(out), &none); err != nil || len(none) != 0 {
		t.Fatalf("list new --json: %v %s", err, out)
	}
	if _, errOut, code := gw(t, dir, "inbox", "list", "--state", "lost"); code != exitUsage || !strings.Contains(errOut, "--state") {
		t.Fatalf("bad state: %d %s", code, errOut)
	}
	out, _, code = gw(t, dir, "inbox", "show", m.ID)
	if code != 0 || !strings.Contains(out, "Refused     untrusted-anchor: signer not trusted") || !strings.Contains(out, "Message-ID  m1@direct.other.example") {
		t.Fatalf("show: %d %s", code, out)
	}
	if _, errOut, code := gw(t, dir, "inbox", "release", m.ID); code != exitUsage || !strings.Contains(errOut, "--reason") {
		t.Fatalf("release without reason: %d %s", code, errOut)
	}
	out, errOut, code = gw(t, dir, "inbox", "reject", m.ID, "--reason", "unknown sender", "--actor", "olga")
	if code != 0 || !strings.Contains(out, "rejected") {
		t.Fatalf("reject: %d %s %s", code, out, errOut)
	}
	if _, errOut, code := gw(t, dir, "inbox", "release", m.ID, "--reason", "changed my mind"); code != exitRefused {
		t.Fatalf("release a rejected message: %d %s", code, errOut)
	}
	out, _, _ = gw(t, dir, "inbox", "show", m.ID, "--json")
	var shown struct {
		Message gateway.InboundMessage `json:"message"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || shown.Message.State != gateway.InboundRejected || shown.Message.DecisionBy != "user:olga" {
		t.Fatalf("show --json: %v %+v", err, shown.Message)
	}
}

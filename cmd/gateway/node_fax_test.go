package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestFaxAPIMustBeHTTPS(t *testing.T) {
	ec := edgeConfig{FaxAPI: "http://api.fax.example", FaxKey: "synthetic-key", FaxSecret: "synthetic-secret", FaxCallbackToken: "synthetic-token"}
	if _, err := newFaxEdge(ec, "https://gw.example", nil, nil); err == nil || !strings.Contains(err.Error(), "must be https") {
		t.Fatalf("plain-http fax API without --fax-allow-http: %v, want refused", err)
	}
	var logs bytes.Buffer
	ec.FaxAllowHTTP = true
	if _, err := newFaxEdge(ec, "https://gw.example", nil, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatalf("with --fax-allow-http: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "DEVELOPMENT ONLY") {
		t.Fatalf("plain-http fax API not loudly logged: %q", logs.String())
	}
	ec.FaxAllowHTTP, ec.FaxAPI = false, "https://api.fax.example"
	if f, err := newFaxEdge(ec, "https://gw.example", nil, nil); err != nil || f == nil {
		t.Fatalf("https fax API: %v", err)
	}
	ec.FaxAPI = "ftp://api.fax.example"
	if _, err := newFaxEdge(ec, "https://gw.example", nil, nil); err == nil {
		t.Fatal("a non-http fax API URL was accepted")
	}
}

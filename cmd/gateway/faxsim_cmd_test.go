package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralgw/gateway/fax/phaxio"
)

// TestFaxsimSpeaksPhaxio runs `gateway faxsim` on a real listener and
// talks to it as a Phaxio client would, with a hand-built request in
// Phaxio's wire format: POST /v2.1/faxes (multipart, basic auth) answers
// with a fax id, GET /v2.1/faxes/{id} reads it back, and the outcome
// arrives at the callback URL signed with the callback token.
func TestFaxsimSpeaksPhaxio(t *testing.T) {
	callbacks := make(chan *phaxio.Callback, 2)
	cbLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cbURL := "http://" + cbLn.Addr().String() + "/fax/callback"
	cbSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb, err := phaxio.VerifyCallback(r, cbURL, []byte("cb-token"))
		if err != nil {
			t.Errorf("callback: %v", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		callbacks <- cb
	})}
	go cbSrv.Serve(cbLn)
	defer cbSrv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"faxsim", "--listen", "127.0.0.1:0", "--key", "k", "--secret", "s",
			"--callback-token", "cb-token", "--callback-delay", "10ms", "--behavior", "+15555550199=busy"}, &out, io.Discard)
	}()
	addrRe := regexp.MustCompile(`listening on (http://\S+)`)
	pollUntil(t, "faxsim to listen", func() bool { return addrRe.MatchString(out.String()) })
	base := addrRe.FindStringSubmatch(out.String())[1]

	send := func(to string) (int, string) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("to", to)
		mw.WriteField("callback_url", cbURL)
		mw.WriteField("tag[referral]", "r-1")
		fw, _ := mw.CreateFormFile("file", "cover.txt")
		fw.Write([]byte("synthetic cover sheet"))
		mw.Close()
		req, _ := http.NewRequest(http.MethodPost, base+"/v2.1/faxes", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.SetBasicAuth("k", "s")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := send("+15555550142")
	var reply struct {
		Success bool `json:"success"`
		Data    struct {
			ID int64 `json:"id"`
		} `json:"data"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &reply) != nil || !reply.Success || reply.Data.ID == 0 {
		t.Fatalf("send: %d %s", code, body)
	}
	select {
	case cb := <-callbacks:
		if int64(cb.FaxID) != reply.Data.ID || !cb.Success || cb.Status != phaxio.StatusSuccess || cb.Tags["referral"] != "r-1" {
			t.Fatalf("callback: %+v", cb)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no callback")
	}
	// The fax reads back by id.
	req, _ := http.NewRequest(http.MethodGet, base+"/v2.1/faxes/"+strconv.FormatInt(reply.Data.ID, 10), nil)
	req.SetBasicAuth("k", "s")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), `"status":"success"`) {
		t.Fatalf("read back: %d %s", resp.StatusCode, got)
	}
	// The configured behaviour: a busy line fails the fax.
	if code, body = send("+15555550199"); code != http.StatusOK {
		t.Fatalf("send to the busy number: %d %s", code, body)
	}
	select {
	case cb := <-callbacks:
		if cb.Success || cb.Status == phaxio.StatusSuccess {
			t.Fatalf("busy callback: %+v", cb)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no callback for the busy number")
	}
	// Wrong credentials are refused as Phaxio refuses them.
	req, _ = http.NewRequest(http.MethodGet, base+"/v2.1/faxes/1", nil)
	req.SetBasicAuth("k", "wrong")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad credentials: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("faxsim returned %v", err)
	}
	if !strings.Contains(out.String(), "EMULATOR") {
		t.Fatalf("output does not say it is an emulator: %s", out.String())
	}
}

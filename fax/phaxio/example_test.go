package phaxio_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/referralgw/gateway/fax/phaxio"
)

func ExampleNormalizeUS() {
	n, err := phaxio.NormalizeUS("(555) 234-5678")
	fmt.Println(n, err)
	_, err = phaxio.NormalizeUS("(555) 123-4567")
	fmt.Println(err)
	// Output:
	// +15552345678 <nil>
	// phaxio: exchange code must not start with 0 or 1
}

func ExampleClient_Send() {
	// A stand-in for api.phaxio.com that accepts every fax.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"success":true,"message":"Fax queued for sending","data":{"id":1001}}`)
	}))
	defer srv.Close()

	c := &phaxio.Client{BaseURL: srv.URL, APIKey: "key", APISecret: "secret"}
	id, err := c.Send(context.Background(), phaxio.SendRequest{
		To:             "+15552345678",
		Files:          []phaxio.File{{Name: "referral.pdf", Data: []byte("%PDF-1.4 ...")}},
		CallbackURL:    "https://gw.example.test/fax/callback",
		Tags:           map[string]string{"delivery_id": "dlv-1"},
		IdempotencyKey: "dlv-1-attempt-1",
	})
	fmt.Println(id, err)
	// Output: 1001 <nil>
}

func ExampleVerifyCallback() {
	const callbackURL = "https://gw.example.test/fax/callback"
	token := []byte("callback-token")
	form := url.Values{
		"success":   {"true"},
		"direction": {"sent"},
		"fax":       {`{"id":1001,"status":"success","num_pages":3,"tags":{"delivery_id":"dlv-1"}}`},
	}
	r := httptest.NewRequest(http.MethodPost, callbackURL, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set(phaxio.SignatureHeader, phaxio.SignCallback(callbackURL, form, nil, token))

	cb, err := phaxio.VerifyCallback(r, callbackURL, token)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cb.FaxID, cb.Status, cb.Success, cb.NumPages, cb.Tags["delivery_id"])
	// Output: 1001 success true 3 dlv-1
}

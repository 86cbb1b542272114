package faxsim_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/referralgw/gateway/fax/faxsim"
	"github.com/referralgw/gateway/fax/phaxio"
)

func ExampleNew() {
	sim := faxsim.New(faxsim.Config{
		APIKey:        "key",
		APISecret:     "secret",
		CallbackToken: []byte("token"),
		Behaviors:     map[string]faxsim.Behavior{"+15559870000": faxsim.Busy},
	})
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()

	c := &phaxio.Client{BaseURL: srv.URL, APIKey: "key", APISecret: "secret"}
	id, err := c.Send(context.Background(), phaxio.SendRequest{
		To:    "+15552345678",
		Files: []phaxio.File{{Name: "note.txt", ContentType: "text/plain", Data: []byte("synthetic")}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	f, _ := sim.Fax(id)
	fmt.Println(len(sim.Received()), f.To, f.NumPages, string(f.Files[0].Data))
	// Output: 1 +15552345678 1 synthetic
}

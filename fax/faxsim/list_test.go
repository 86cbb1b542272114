package faxsim

import (
	"errors"
	"net/http"
	"testing"

	"github.com/referralgw/gateway/fax/phaxio"
)

// TestListByTag lists faxes through the Phaxio client: the tag filter
// keeps only the faxes carrying the value, newest first; per_page bounds
// the page; bad parameters are refused with 422.
func TestListByTag(t *testing.T) {
	e := newEnv(t, Config{}, testToken)
	pdf, _ := renderPacket(t)
	var ids []phaxio.FaxID
	for _, key := range []string{"a", "b", "c"} {
		id, err := e.send(t, okNumber, key, pdf)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	got, err := e.client.List(t.Context(), phaxio.ListQuery{Tags: map[string]string{"delivery_id": "dlv-b"}, Direction: "sent"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != ids[1] || got[0].Tags["delivery_id"] != "dlv-b" {
		t.Fatalf("list by tag: %+v, want fax %d only", got, ids[1])
	}
	none, err := e.client.List(t.Context(), phaxio.ListQuery{Tags: map[string]string{"delivery_id": "dlv-zzz"}})
	if err != nil || len(none) != 0 {
		t.Fatalf("list by an unknown tag: %+v %v", none, err)
	}
	page, err := e.client.List(t.Context(), phaxio.ListQuery{PerPage: 2})
	if err != nil || len(page) != 2 || page[0].ID != ids[2] || page[1].ID != ids[1] {
		t.Fatalf("first page of 2, newest first: %+v %v", page, err)
	}
	_, err = e.client.List(t.Context(), phaxio.ListQuery{PerPage: 5000})
	var api *phaxio.APIError
	if !errors.As(err, &api) || api.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("per_page 5000: %v, want 422", err)
	}
}

// TestTransmitDuplicates makes the emulator behave as Phaxio, which has no
// idempotency key: the same tag twice is two faxes, and the list call is
// how a sender finds the first.
func TestTransmitDuplicates(t *testing.T) {
	e := newEnv(t, Config{TransmitDuplicates: true}, testToken)
	pdf, _ := renderPacket(t)
	id1, err := e.send(t, okNumber, "same", pdf)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := e.send(t, okNumber, "same", pdf)
	if err != nil {
		t.Fatal(err)
	}
	if id1 == id2 || len(e.sim.Received()) != 2 {
		t.Fatalf("ids %d and %d, %d faxes: want two faxes", id1, id2, len(e.sim.Received()))
	}
	got, err := e.client.List(t.Context(), phaxio.ListQuery{Tags: map[string]string{"delivery_id": "dlv-same"}})
	if err != nil || len(got) != 2 || got[0].ID != id2 {
		t.Fatalf("list: %+v %v", got, err)
	}
}

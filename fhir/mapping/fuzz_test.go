package mapping

import (
	"errors"
	"os"
	"testing"
)

// checkParseError fails unless err is nil or one of the mapping's own
// error types, so the API can map every failure to a status code.
func checkParseError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var me *MalformedError
	if len(Issues(err)) == 0 && !errors.As(err, &me) {
		t.Fatalf("unexpected error type %T: %v", err, err)
	}
}

func seedFiles(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile("testdata/" + n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParseTransaction(f *testing.F) {
	seedFiles(f, "inbound-transaction.json", "transaction.json")
	f.Add([]byte(`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Task","status":"requested","intent":"order","focus":{"reference":"#x"},"contained":[{"resourceType":"ServiceRequest","id":"x","status":"active","intent":"order","subject":{"reference":"#x"}}]}}]}`))
	f.Add([]byte(`{"resourceType":"Bundle"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseTransaction(data)
		checkParseError(t, err)
		if err == nil && s.Referral.ReceiverID == "" {
			t.Fatal("accepted a transaction without a receiver")
		}
	})
}

func FuzzParseTask(f *testing.F) {
	seedFiles(f, "task-completed.json", "task-draft.json")
	f.Add([]byte(`{"resourceType":"Task","status":"draft","intent":"order","focus":{"reference":"#sr"},"owner":{"reference":"Organization/o"},"contained":[{"resourceType":"ServiceRequest","id":"sr","status":"draft","intent":"order","subject":{"identifier":{"value":"m"}},"reasonCode":[{"coding":[{"code":"c"}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseTask(data)
		checkParseError(t, err)
		u, err := ParseTaskUpdate(data)
		checkParseError(t, err)
		if err == nil && u.Status == "" {
			t.Fatal("accepted a Task update without a status")
		}
	})
}

func FuzzParseServiceRequest(f *testing.F) {
	seedFiles(f, "servicerequest-draft.json", "servicerequest-completed.json")
	f.Add([]byte(`{"resourceType":"ServiceRequest","status":"draft","intent":"order","subject":{"reference":"#p"},"performer":[{"reference":"Organization/o"}],"reasonCode":[{"coding":[{"code":"c"}]}],"contained":[{"resourceType":"Patient","id":"p","identifier":[{"value":"m"}]}]}`))
	f.Add([]byte(`{"resourceType":"Task"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseServiceRequest(data)
		checkParseError(t, err)
		if err == nil && (s.Referral.ReceiverID == "" || s.Referral.Submit) {
			t.Fatalf("accepted %+v: a ServiceRequest makes a draft with a receiver", s.Referral)
		}
	})
}

func FuzzParseTaskLink(f *testing.F) {
	seedFiles(f, "task-completed.json", "task-draft.json")
	f.Add([]byte(`{"resourceType":"Task","status":"requested","intent":"order","focus":{"reference":"ServiceRequest/x"}}`))
	f.Add([]byte(`{"resourceType":"Task","status":"ready","intent":"order","focus":{"reference":"ServiceRequest/x"},"owner":{"reference":"Basic/b"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, ok, err := ParseTaskLink(data)
		checkParseError(t, err)
		if ok && err == nil && l.ServiceRequestID == "" {
			t.Fatal("a link without a focus id")
		}
		if !ok && (l != nil || err != nil) {
			t.Fatalf("not a link, yet %+v, %v", l, err)
		}
	})
}
